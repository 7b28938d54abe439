"""`CustomerManager`: the one entry object of the public API (../API.md), one typed line per method.

Each method delegates to a plain operation function in cmkit.services, passing the connection's
`Context`; `help(cm)` and an editor show the whole API here. Open one with `cmkit.connect()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from cmkit.domain.config import Config, GroupDef
from cmkit.services import (
    activities,
    anonymise,
    bulk_merge,
    contact_moves,
    customers,
    details,
    dormant,
    duplicates,
    export,
    importing,
    invariants,
    lifecycle,
    merge,
    plans,
    printing,
    reading,
    refusals,
    revert,
    search,
    tickets,
    transfer,
    trust,
)
from cmkit.services.context import Context
from cmkit.services.search import QuickResult
from cmkit.values import (
    ActivityInfo,
    AuditCheck,
    ClusterMerges,
    Customer,
    CustomerRef,
    Outcome,
    Ticket,
    TicketRef,
)


class CustomerManager:
    """One admin's connection to a cmkit database: every operation of the API hangs off it."""

    def __init__(self, engine: Engine, user: str | None = None, run_id: str | None = None) -> None:
        self._ctx = Context(engine, user, run_id=run_id)

    def __repr__(self) -> str:
        return repr(self._ctx)

    def in_run(self, run_id: str | None = None) -> CustomerManager:
        """This connection, its changes recorded under one run id (a new one when None): the search
        actions' way to give what one confirmation applied one id for the audit log (R29, R35)."""
        other = CustomerManager.__new__(CustomerManager)
        other._ctx = self._ctx.with_run(run_id or revert.new_run_id("action"))
        return other

    def atomic(self) -> AbstractContextManager[None]:
        """`with cm.atomic():` what this connection changes inside the block, one transaction: all or nothing."""
        return self._ctx.atomic()

    # -- the connection --------------------------------------------------------------------------------
    @property
    def context(self) -> Context:
        """The operations' context (engine, user, configuration), for activities and extensions."""
        return self._ctx

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine of this database."""
        return self._ctx.engine

    @property
    def user(self) -> str:
        """The acting user: every operation checks its permissions and records its name (R29, R31)."""
        return self._ctx.user

    @property
    def login(self) -> str:
        """The database login that acts (R31): the PostgreSQL login, or the OS user on SQLite."""
        return self._ctx.login

    @property
    def run_id(self) -> str | None:
        """The runbook run whose entries this connection writes ($CMKIT_RUN_ID), or None."""
        return self._ctx.run_id

    @property
    def config(self) -> Config:
        """The configuration, as of the last operation (changes by other admins arrive with the next)."""
        return self._ctx.config

    def group(self, name: str) -> GroupDef:
        """The customer group's definition (model, fields); ValidationError for an unknown group."""
        return self._ctx.group(name)

    def group_id(self, name: str) -> int:
        """The customer group's id in the database."""
        return self._ctx.group_id(name)

    def may(self, permission: str, group: str) -> bool:
        """Whether the acting user holds `permission` (read, write, transfer, ...) on `group`."""
        return self._ctx.may(permission, group)

    def require(self, permission: str, group: str) -> None:
        """PermissionDenied (naming the rule) unless the acting user holds `permission` on `group`."""
        self._ctx.require(permission, group)

    def readable_groups(self, permission: str = "read") -> list[str]:
        """The groups on which the acting user holds `permission`."""
        return self._ctx.readable_groups(permission)

    def refused_rows(self, action: str, ids: Iterable[int]) -> pd.DataFrame:
        """Per row: id, name, kind, group, active and `refused`, the permission a search action lacks there."""
        return refusals.refused_rows(self._ctx, action, list(ids))

    def why_not(self, action: str, customer_id: CustomerRef, *, tickets: bool = True) -> list[str]:
        """The refusals `action` (edit, deactivate, ... see refusals.ACTIONS) would meet now; [] if allowed.

        `tickets=False` leaves out those that moving the customer's tickets away would lift (R18, R23)."""
        return refusals.why_not(self._ctx, action, customer_id, tickets=tickets)

    # -- trust: users, logins, the audit chain (R31-R33) -----------------------------------------------------
    def add_user(self, name: str, roles: str | Iterable[str], password: str | None = None) -> pd.DataFrame:
        """Add or update a user with its roles; on PostgreSQL a login granted them (owner only, R32)."""
        return trust.add_user(self._ctx, name, roles, password)

    def remove_user(self, name: str) -> pd.DataFrame:
        """Remove a user; on PostgreSQL its login; its audit entries stay (owner only, R32)."""
        return trust.remove_user(self._ctx, name)

    def users(self) -> pd.DataFrame:
        """The configured users: name, roles, is_login."""
        return trust.users(self._ctx)

    def audit_head(self) -> str:
        """The hash of the newest audit entry: an anchor to verify against later (R33)."""
        return trust.audit_head(self._ctx)

    def verify_audit(self, anchor: str | None = None) -> AuditCheck:
        """Recompute the audit chain; name the first entry changed, removed or out of order (R33)."""
        return trust.verify_audit(self._ctx, anchor)

    # -- customers (R1-R7) ---------------------------------------------------------------------------------
    def customer(self, id: CustomerRef) -> Customer:
        """The customer as stored now (NotFound if it does not exist)."""
        return customers.get(self._ctx, id)

    def create_company(self, group: str, **fields: Any) -> Customer:
        """A new company in a two-level group (R2, R4)."""
        return customers.create_company(self._ctx, group, **fields)

    def create_contact(self, group: str, company: CustomerRef | None = None, **fields: Any) -> Customer:
        """A new contact; in a two-level group of an active company of the group (R2-R4)."""
        return customers.create_contact(self._ctx, group, company, **fields)

    def edit(self, id: CustomerRef, version: int | None = None, **fields: Any) -> Customer:
        """Change data fields (R4-R6); None clears one; a stale `version` is refused (R5)."""
        return customers.edit(self._ctx, id, version=version, **fields)

    def change_company(self, contact_id: CustomerRef, company_id: CustomerRef) -> Customer:
        """Move a contact to another active company of its group (R7)."""
        return customers.change_company(self._ctx, contact_id, company_id)

    def contacts(self, company_id: CustomerRef, *, include_deactivated: bool = False) -> pd.DataFrame:
        """The company's contacts: id, name, active, version, one column per field."""
        return customers.contacts(self._ctx, company_id, include_deactivated=include_deactivated)

    # -- tickets (R14-R16) ----------------------------------------------------------------------------------
    def create_ticket(
        self, customer_id: CustomerRef, queue: str, subject: str, additional: Iterable[CustomerRef] = ()
    ) -> Ticket:
        """A ticket whose main customer is `customer_id`, in a queue of its group (R14, R15)."""
        return tickets.create_ticket(self._ctx, customer_id, queue, subject, additional)

    def ticket(self, ticket_id: TicketRef) -> Ticket:
        """The ticket as stored now (NotFound if there is none)."""
        return tickets.ticket(self._ctx, ticket_id)

    def add_customer(self, ticket_id: TicketRef, customer_id: CustomerRef) -> Ticket:
        """Add an active customer to the ticket as additional customer (R15)."""
        return tickets.add_customer(self._ctx, ticket_id, customer_id)

    def remove_customer(self, ticket_id: TicketRef, customer_id: CustomerRef) -> Ticket:
        """Remove an additional customer from the ticket (R15)."""
        return tickets.remove_customer(self._ctx, ticket_id, customer_id)

    def set_main_customer(self, ticket_id: TicketRef, customer_id: CustomerRef) -> Ticket:
        """Make the customer the ticket's main customer, replacing the former one (R14, R15, R17)."""
        return tickets.set_main_customer(self._ctx, ticket_id, customer_id)

    def close_ticket(self, ticket_id: TicketRef) -> Ticket:
        """Close the ticket."""
        return tickets.close_ticket(self._ctx, ticket_id)

    def reopen_ticket(self, ticket_id: TicketRef) -> Ticket:
        """Reopen a closed ticket; refused while one of its customers is deactivated (R20)."""
        return tickets.reopen_ticket(self._ctx, ticket_id)

    def tickets(
        self, customer_id: CustomerRef, state: str | None = None, *, contacts: bool = False
    ) -> pd.DataFrame:
        """The customer's tickets, as main or additional customer; `state` 'open', 'closed' or None;
        `contacts=True`: a company's contacts' tickets too (column `part`), as its page and printout show."""
        return tickets.tickets(self._ctx, customer_id, state, contacts=contacts)

    def protocol(self, ticket_id: TicketRef) -> pd.DataFrame:
        """The ticket's protocol (R16): when, who, which customer was replaced by which."""
        return tickets.protocol(self._ctx, ticket_id)

    # -- lifecycle (R17-R25) --------------------------------------------------------------------------------
    def transfer_tickets(
        self, source_id: CustomerRef, target_id: CustomerRef, *, only_open: bool = True, dry_run: bool = False
    ) -> Outcome:
        """Hand the source's tickets (open ones, or all) to the target, in both roles (R17)."""
        return transfer.transfer_tickets(
            self._ctx, source_id, target_id, only_open=only_open, dry_run=dry_run
        )

    def transfer_many(
        self, source_ids: Any, target_id: CustomerRef, *, only_open: bool = True, dry_run: bool = False
    ) -> Outcome:
        """Hand the tickets of all these sources to one target, in one transaction, or nothing (R17)."""
        return transfer.transfer_many(self._ctx, source_ids, target_id, only_open=only_open, dry_run=dry_run)

    def deactivate(self, id: CustomerRef, *, dry_run: bool = False) -> Outcome:
        """Deactivate a customer, a company with its contacts (R18, R19)."""
        return lifecycle.deactivate(self._ctx, id, dry_run=dry_run)

    def reactivate(self, id: CustomerRef, *, dry_run: bool = False) -> Outcome:
        """Make a deactivated customer active again; a company's contacts stay deactivated (R21)."""
        return lifecycle.reactivate(self._ctx, id, dry_run=dry_run)

    def delete(self, id: CustomerRef, *, dry_run: bool = False) -> Outcome:
        """Remove a contact for good with its comments and attachments (R22-R24)."""
        return lifecycle.delete(self._ctx, id, dry_run=dry_run)

    # -- comments and attachments (R8-R11) ------------------------------------------------------------------
    def add_comment(self, customer_id: CustomerRef, text: str) -> int:
        """Add a comment to the customer (R8); returns its id."""
        return details.add_comment(self._ctx, customer_id, text)

    def comments(
        self,
        customer_id: CustomerRef,
        author: str | None = None,
        text: str | None = None,
        since: Any = None,
        until: Any = None,
    ) -> pd.DataFrame:
        """The customer's comments, filtered (R10); `pending` marks deletions that can be undone (R11)."""
        return details.comments(self._ctx, customer_id, author, text, since, until)

    def delete_comment(self, comment_id: int) -> None:
        """Mark the comment deleted: pending until your next other action (R11)."""
        details.delete_comment(self._ctx, comment_id)

    def undo_delete_comment(self, comment_id: int) -> None:
        """Restore a comment you deleted, before your next action made it final (R11)."""
        details.undo_delete_comment(self._ctx, comment_id)

    def add_attachments(
        self, customer_id: CustomerRef, files: Mapping[str, bytes], description: str = ""
    ) -> list[int]:
        """Attach files ({file name: bytes}), all or none, checked by type and size (R9); their ids."""
        return details.add_attachments(self._ctx, customer_id, files, description)

    def attachments(
        self,
        customer_id: CustomerRef,
        name: str | None = None,
        type: str | Iterable[str] | None = None,
        author: str | None = None,
        since: Any = None,
        until: Any = None,
        content: str | None = None,
    ) -> pd.DataFrame:
        """The customer's attachments (metadata), filtered (R10); `pending` as for comments (R11)."""
        return details.attachments(self._ctx, customer_id, name, type, author, since, until, content)

    def attachment_data(self, attachment_id: int) -> bytes:
        """The attachment's bytes, exactly as uploaded."""
        return details.attachment_data(self._ctx, attachment_id)

    def delete_attachment(self, attachment_id: int) -> None:
        """Mark the attachment deleted: pending until your next other action (R11)."""
        details.delete_attachment(self._ctx, attachment_id)

    def undo_delete_attachment(self, attachment_id: int) -> None:
        """Restore an attachment you deleted, before your next action made it final (R11)."""
        details.undo_delete_attachment(self._ctx, attachment_id)

    # -- activities and print (R12, R13) ------------------------------------------------------------------
    def activities(self, customer_id: CustomerRef) -> list[str]:
        """The activities offered for the customer: configured for its group, fitting its kind (R13)."""
        return activities.offered(self._ctx, self, customer_id)

    def activity_info(self, name: str) -> ActivityInfo:
        """What activity `name` is: its description, parameters with defaults, the question before it runs."""
        return activities.info(self._ctx, name)

    def run_activity(self, customer_id: CustomerRef, name: str, **params: Any) -> object:
        """Run an offered activity on the customer (R13); returns what the activity returns."""
        return activities.run(self._ctx, self, customer_id, name, params)

    def render_page(self, customer_id: CustomerRef, format: str = "html") -> str | bytes:
        """The printable customer page (R12): "html" (str) or "pdf" (bytes)."""
        return printing.render_page(self._ctx, customer_id, format)

    # -- search (R26-R28) -------------------------------------------------------------------------------------
    def autocomplete(
        self, text: str, kind: str | None = None, group: str | None = None, limit: int = 10
    ) -> pd.DataFrame:
        """Active customers whose names start with the typed words, folded, best first (R26)."""
        return search.autocomplete(self._ctx, text, kind, group, limit)

    def autocomplete_tickets(self, text: str, limit: int = 10) -> pd.DataFrame:
        """Tickets by their customers' names as typed, a deactivated customer's closed ones too (R26)."""
        return search.autocomplete_tickets(self._ctx, text, limit)

    def quick_search(self, text: str, limit: int = 50) -> QuickResult:
        """Customers and tickets by free text (R27): `.customers` and `.tickets`."""
        return search.quick_search(self._ctx, text, limit)

    def detail_search(
        self,
        *,
        include_deactivated: bool = False,
        group: str | None = None,
        kind: str | None = None,
        company: CustomerRef | None = None,
        limit: int | None = None,
        **fields: Any,
    ) -> pd.DataFrame:
        """Customers by group, kind, company and data fields (R28); deactivated ones only if asked."""
        return search.detail_search(
            self._ctx,
            include_deactivated=include_deactivated,
            group=group,
            kind=kind,
            company=company,
            limit=limit,
            **fields,
        )

    def ticket_search(
        self,
        customer_name: str | None = None,
        subject: str | None = None,
        state: str | None = None,
        queue: str | None = None,
        limit: int | None = None,
        *,
        number: str | None = None,
        include_deactivated: bool = True,
    ) -> pd.DataFrame:
        """Tickets by customer name (main or additional), subject words, state, queue and number; newest first."""
        return search.ticket_search(
            self._ctx,
            customer_name,
            subject,
            state,
            queue,
            limit,
            number=number,
            include_deactivated=include_deactivated,
        )

    # -- audit and reading (R29) --------------------------------------------------------------------------------
    def history(
        self,
        customer_id: CustomerRef | None = None,
        user: str | None = None,
        since: Any = None,
        run_id: str | None = None,
        *,
        statements: bool = False,
    ) -> pd.DataFrame:
        """The audit log (R29): who, when, what, before and after; by customer, user, time or run."""
        return reading.history(self._ctx, customer_id, user, since, run_id, statements=statements)

    def frame(
        self,
        what: str = "customers",
        *,
        include_deactivated: bool = True,
        group: str | None = None,
        kind: str | None = None,
    ) -> pd.DataFrame:
        """A whole table for audits: customers, tickets, ticket_customers, comments, attachments, history."""
        return reading.frame(self._ctx, what, include_deactivated=include_deactivated, group=group, kind=kind)

    def customer_counts(self) -> pd.DataFrame:
        """Customers per readable group and kind: columns group, kind, active, deactivated."""
        return reading.customer_counts(self._ctx)

    # -- cleanup ------------------------------------------------------------------------------------------------
    def find_duplicates(
        self, group: str | None = None, min_score: int = 90, *, include_deactivated: bool = True
    ) -> pd.DataFrame:
        """Pairs of customers that are probably one: id_a, id_b, score, reason, cluster, note (a cluster
        too large to merge at once)."""
        return duplicates.find_duplicates(
            self._ctx, group, min_score, include_deactivated=include_deactivated
        )

    def suggest_merges(
        self, pairs: pd.DataFrame | None = None, group: str | None = None, min_score: int = 90
    ) -> pd.DataFrame:
        """One proposed merge per cluster of duplicates: survivor and duplicates."""
        return duplicates.suggest_merges(self._ctx, pairs, group, min_score)

    def merge_duplicates(
        self,
        pairs: pd.DataFrame | None = None,
        *,
        group: str | None = None,
        min_score: int = 90,
        clusters: Any = None,
        dry_run: bool = False,
    ) -> ClusterMerges:
        """Merge each cluster of duplicates that can be merged into its proposed survivor; say why not for the rest."""
        return bulk_merge.merge_duplicates(
            self._ctx, pairs, group=group, min_score=min_score, clusters=clusters, dry_run=dry_run
        )

    def merge(self, survivor_id: CustomerRef, duplicate_ids: Any, *, dry_run: bool = False) -> Outcome:
        """Merge duplicates into the survivor: tickets, comments, attachments, empty fields; one transaction."""
        return merge.merge(self._ctx, survivor_id, duplicate_ids, dry_run=dry_run)

    def anonymise(self, customer_id: CustomerRef | list[CustomerRef], *, dry_run: bool = False) -> Outcome:
        """Erase the customer's (or the listed customers', all or none) personal data, keep the tickets."""
        return anonymise.anonymise(self._ctx, customer_id, dry_run=dry_run)

    def deactivate_many(self, ids: Any, *, dry_run: bool = False) -> Outcome:
        """Deactivate all these customers (companies with their contacts) or none (R18, R19)."""
        return lifecycle.deactivate_many(self._ctx, ids, dry_run=dry_run)

    def deactivate_unblocked(self, ids: Any, *, dry_run: bool = False) -> Outcome:
        """Deactivate those of these customers no open ticket blocks (R18, R19); list the others as blocked."""
        return lifecycle.deactivate_unblocked(self._ctx, ids, dry_run=dry_run)

    def last_activity(self, *, group: str | None = None) -> pd.DataFrame:
        """Every active customer with its last ticket, last activity and days since (`days_idle`)."""
        return dormant.last_activity(self._ctx, group=group)

    def dormant_customers(self, *, days: int = 365, group: str | None = None) -> pd.DataFrame:
        """Active customers without activity (creation, tickets; a company's contacts') for `days` days."""
        return dormant.dormant_customers(self._ctx, days=days, group=group)

    def deactivate_dormant(
        self, *, days: int = 365, group: str | None = None, dry_run: bool = False
    ) -> Outcome:
        """Deactivate the dormant customers that no open ticket blocks (R18, R19); list the others as blocked."""
        return dormant.deactivate_dormant(self._ctx, days=days, group=group, dry_run=dry_run)

    def move_contacts(self, moves: Any, *, dry_run: bool = False) -> Outcome:
        """Move contacts to other companies (contact_id, company_id per row), all or none (R7)."""
        return contact_moves.move_contacts(self._ctx, moves, dry_run=dry_run)

    def check_invariants(self) -> pd.DataFrame:
        """Every violated invariant: one row per rule and record (rule, entity, id, detail)."""
        return invariants.check_invariants(self._ctx)

    def deactivate_contacts_of_deactivated_companies(self, *, dry_run: bool = False) -> Outcome:
        """Repair R19: deactivate active contacts of deactivated companies, except those open tickets block."""
        return invariants.deactivate_contacts_of_deactivated_companies(self._ctx, dry_run=dry_run)

    def import_customers(self, path_or_frame: Any, group: str, *, dry_run: bool = True) -> Outcome:
        """Create the customers of a CSV/XLSX file or DataFrame, all or none; a dry run by default."""
        return importing.import_customers(self._ctx, path_or_frame, group, dry_run=dry_run)

    def import_columns(self, group: str) -> pd.DataFrame:
        """The columns import_customers understands for `group`, with their meaning."""
        return importing.import_columns(self._ctx, group)

    # -- plans and runs (R34, R35) ----------------------------------------------------------------------------
    def apply(self, plan: Outcome | str | Path, *, dry_run: bool = False) -> Outcome:
        """Apply exactly a dry run's plan (or a plan file), or nothing if a row it read changed (R34)."""
        return plans.apply(self._ctx, plan, dry_run=dry_run)

    def export(self, df: pd.DataFrame, path: str | Path) -> Path:
        """Write a table to .csv or .xlsx, formula-like text (= + - @ tab CR) written as text."""
        return export.export(df, path)

    def revert(
        self,
        run_id: str | None = None,
        audit_id: int | None = None,
        *,
        dry_run: bool = False,
        skip_conflicts: bool = False,
    ) -> Outcome:
        """Undo a run (or the operation of one audit entry) from the audit log, newest first (R35)."""
        return revert.revert(self._ctx, run_id, audit_id, dry_run=dry_run, skip_conflicts=skip_conflicts)
