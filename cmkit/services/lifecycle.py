"""Transfer (R17), deactivate (R18, R19), reactivate (R21) and delete (R22-R24): set-based, with dry runs.

Each operation locks the customers it depends on, computes its plan and its problems in the same
transaction, and either returns the plan (dry run), raises PreconditionFailed (nothing changed), or applies
the plan in a few statements, whatever the number of tickets or contacts.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import delete, insert, literal, select, update

from cmkit.db import repo
from cmkit.db.schema import AdditionalCustomer, AuditEntry, CustomerRow, ProtocolEntry, TicketRow
from cmkit.db.uow import UnitOfWork
from cmkit.domain import rules
from cmkit.errors import PreconditionFailed
from cmkit.services.base import Core
from cmkit.values import Customer, Outcome

T, A, C, P = TicketRow, AdditionalCustomer, CustomerRow, ProtocolEntry


def _ids(x: Any) -> int:
    return repo.id_of(x)


class LifecycleAPI(Core):
    def _finish(
        self,
        changes: pd.DataFrame,
        problems: list[str],
        dry_run: bool,
        blocking: pd.DataFrame | None = None,
        apply: Any = None,
    ) -> Outcome:
        if dry_run:
            return Outcome(applied=False, changes=changes, problems=problems, blocking=blocking)
        if problems:
            raise PreconditionFailed(problems, blocking)
        apply()
        return Outcome(applied=True, changes=changes, problems=[])

    # -- R17 ------------------------------------------------------------------------------------------
    def transfer_tickets(
        self, source_id: Any, target_id: Any, only_open: bool = True, dry_run: bool = False
    ) -> Outcome:
        """Hand the source's tickets (open ones, or all) to the target, in both roles (R17).

        Refuses a deactivated target or target == source; where the target already is on a ticket, no
        duplicate link results. One protocol entry per changed ticket; all or nothing.
        """

        def op(work: UnitOfWork) -> Outcome:
            s = work.session
            repo.lock_customers(s, [_ids(source_id)], shared=False)
            repo.lock_customers(s, [_ids(target_id)], shared=True)
            repo.lock_tickets_of(s, [_ids(source_id)])
            src = self._customer(work, source_id, permission="transfer")
            dst = self._customer(work, target_id, permission="transfer")
            states = ("open",) if only_open else ("open", "closed")
            lk = repo.links([src.id])
            plan = (
                select(
                    T.id.label("id"),
                    T.number,
                    T.subject,
                    T.state,
                    lk.c.role,
                    literal(src.id).label("source_id"),
                    literal(dst.id).label("target_id"),
                    repo.on_ticket(T.id, dst.id).label("target_already_on_ticket"),
                )
                .join(lk, lk.c.ticket_id == T.id)
                .where(T.state.in_(states))
                .order_by(T.id)
            )
            changes = repo.frame_of(s, plan)
            changes["target_already_on_ticket"] = changes["target_already_on_ticket"].astype(bool)
            problems = rules.transfer_problems(
                src,
                dst,
                self.group(dst.group),
                becomes_main=bool((changes["role"] == "main").any()),
                open_tickets_moved=bool((changes["state"] == "open").any()),
            )

            def apply() -> None:
                self._apply_transfer(work, src, dst, states)

            return self._finish(changes, problems, dry_run, apply=apply)

        return self._write(op)

    def _apply_transfer(
        self,
        work: UnitOfWork,
        src: Customer,
        dst: Customer,
        states: tuple[str, ...],
        action: str = "transferred",
        audit: bool = True,
    ) -> None:
        """Hand src's tickets in `states` to dst in a few statements; the protocol says `action`
        (merge uses "merged"); `audit=False` leaves the audit entries to the caller."""
        s = work.session
        repo.lock_tickets_of(s, [src.id])  # held already by transfer_tickets; taken here for every caller
        in_scope = select(T.id).where(T.state.in_(states))
        main_ids = in_scope.where(T.main_customer_id == src.id)
        # a link's ticket in `states`: looked up by its id (an IN over all tickets would read every ticket)
        link_in_scope = select(T.id).where(T.id == A.ticket_id, T.state.in_(states)).exists()
        add_ids = select(A.ticket_id).where(A.customer_id == src.id, link_in_scope)
        # 1. one protocol entry per changed ticket, written while the source is still on them
        cols = [
            "ticket_id",
            "at",
            "user_name",
            "action",
            "role",
            "old_customer_id",
            "old_customer_name",
            "new_customer_id",
            "new_customer_name",
            "run_id",
        ]
        for role, ticket_ids in (("main", main_ids), ("additional", add_ids)):
            rows = select(
                T.id,
                literal(work.now),
                literal(work.user),
                literal(action),
                literal(role),
                literal(src.id),
                literal(src.name),
                literal(dst.id),
                literal(dst.name),
                literal(work.run_id),
            ).where(T.id.in_(ticket_ids))
            s.execute(insert(P).from_select(cols, rows))
        # 2. where the source is an additional customer and the target is on the ticket already: drop the source
        s.execute(
            delete(A)
            .where(A.customer_id == src.id, link_in_scope, repo.on_ticket(A.ticket_id, dst.id))
            .execution_options(synchronize_session=False)
        )
        # 3. where the source is main and the target additional: the target becomes main, its extra link goes
        s.execute(
            delete(A)
            .where(A.customer_id == dst.id, A.ticket_id.in_(main_ids))
            .execution_options(synchronize_session=False)
        )
        s.execute(
            update(T)
            .where(T.main_customer_id == src.id, T.state.in_(states))
            .values(main_customer_id=dst.id)
            .execution_options(synchronize_session=False)
        )
        s.execute(
            update(A)
            .where(A.customer_id == src.id, link_in_scope)
            .values(customer_id=dst.id)
            .execution_options(synchronize_session=False)
        )
        if not audit:
            return
        summary = {"only_open": states == ("open",)}
        work.audit(
            "transfer_out",
            "customer",
            src.id,
            src.id,
            {**summary, "customer_id": src.id},
            {"customer_id": dst.id},
        )
        work.audit(
            "transfer_in",
            "customer",
            dst.id,
            dst.id,
            {**summary, "customer_id": src.id},
            {"customer_id": dst.id},
        )

    # -- R18, R19 ---------------------------------------------------------------------------------------
    def deactivate(self, id: Any, dry_run: bool = False) -> Outcome:
        """Deactivate a customer; a company takes its contacts along (R19).

        Refused (R18) while an open ticket names the customer or, for a company, one of its contacts:
        the blocking tickets are in the error's `.blocking` (and the dry run's `changes` stay empty).
        """

        def op(work: UnitOfWork) -> Outcome:
            s = work.session
            repo.lock_customers(s, [_ids(id)], shared=False)
            c = self._customer(work, id, permission="deactivate")
            scope: Any = repo.company_and_contacts(c.id) if c.kind == "company" else [c.id]
            if c.kind == "company":
                repo.lock_contacts_of(s, c.id)
            blocking = repo.frame_of(s, repo.linked_tickets(scope, ("open",)))
            blocking = blocking.drop(columns=["closed_at"])
            numbers = list(dict.fromkeys(blocking["number"]))
            problems = rules.deactivate_problems(c, numbers, company_scope=c.kind == "company")
            targets = (
                select(C.id, C.name, C.kind, C.version)
                .where(C.id.in_(scope), C.active.is_(True))
                .order_by(C.id)
            )
            changes = repo.frame_of(s, targets)
            changes["change"] = "deactivate"
            if problems:
                changes = changes.iloc[0:0]

            def apply() -> None:
                self._apply_deactivate(work, scope)

            return self._finish(changes, problems, dry_run, blocking, apply)

        return self._write(op)

    def _apply_deactivate(self, work: UnitOfWork, scope: Any) -> None:
        """Deactivate the active customers in `scope` (ids or a select), one audit entry each."""
        self._audit_set(work, "deactivate", scope, {"active": True}, {"active": False})
        work.session.execute(
            update(C)
            .where(C.id.in_(scope), C.active.is_(True))
            .values(active=False, deactivated_at=work.now, version=C.version + 1, updated_at=work.now)
            .execution_options(synchronize_session=False)
        )

    def _audit_set(self, work: UnitOfWork, action: str, scope: Any, before: Any, after: Any) -> None:
        """One audit entry per active customer in `scope`, in one statement."""
        cols = [
            "at",
            "user_name",
            "action",
            "entity",
            "entity_id",
            "customer_id",
            "before",
            "after",
            "run_id",
        ]
        json_type = AuditEntry.__table__.c.before.type
        rows = select(
            literal(work.now),
            literal(work.user),
            literal(action),
            literal("customer"),
            C.id,
            C.id,
            literal(before, json_type),
            literal(after, json_type),
            literal(work.run_id),
        ).where(C.id.in_(scope), C.active.is_(True))
        work.session.execute(insert(AuditEntry).from_select(cols, rows))

    # -- R21 ------------------------------------------------------------------------------------------
    def reactivate(self, id: Any, dry_run: bool = False) -> Outcome:
        """Make a deactivated customer active again (R21). Contacts of a company stay deactivated;
        a contact whose company is deactivated is refused until the company is reactivated."""

        def op(work: UnitOfWork) -> Outcome:
            s = work.session
            c = self._customer(work, id, permission="reactivate")
            if c.company_id is not None:
                repo.lock_customers(s, [c.company_id], shared=True)
            repo.lock_customers(s, [c.id], shared=False)
            c = self._customer(work, c.id, permission=None)  # as it is now that it is locked
            company = self._customer(work, c.company_id, permission=None) if c.company_id else None
            problems = rules.reactivate_problems(c, company)
            changes = pd.DataFrame(
                []
                if problems
                else [
                    {"id": c.id, "name": c.name, "kind": c.kind, "version": c.version, "change": "reactivate"}
                ],
                columns=["id", "name", "kind", "version", "change"],
            )
            if c.kind == "company" and not problems:
                still = (
                    s.execute(select(C.id).where(C.company_id == c.id, C.active.is_(False))).scalars().all()
                )
                changes.attrs["contacts_still_deactivated"] = list(still)

            def apply() -> None:
                s.execute(
                    update(C)
                    .where(C.id == c.id)
                    .values(active=True, deactivated_at=None, version=C.version + 1, updated_at=work.now)
                    .execution_options(synchronize_session=False)
                )
                work.audit("reactivate", "customer", c.id, c.id, {"active": False}, {"active": True})

            return self._finish(changes, problems, dry_run, apply=apply)

        return self._write(op)

    # -- R22-R24 --------------------------------------------------------------------------------------
    def delete(self, id: Any, dry_run: bool = False) -> Outcome:
        """Remove a contact for good, with its comments and attachments (R22-R24).

        Refuses companies of two-level groups (deactivate them) and contacts still named by any ticket,
        open or closed (transfer those first); the protocol entries that name the contact remain.
        """

        def op(work: UnitOfWork) -> Outcome:
            s = work.session
            repo.lock_customers(s, [_ids(id)], shared=False)
            c = self._customer(work, id, permission="delete")
            blocking = repo.frame_of(s, repo.linked_tickets([c.id])).drop(columns=["closed_at"])
            problems = rules.delete_problems(c, self.group(c.group), list(dict.fromkeys(blocking["number"])))
            changes = pd.DataFrame(
                []
                if problems
                else [{"id": c.id, "name": c.name, "kind": c.kind, "version": c.version, "change": "delete"}],
                columns=["id", "name", "kind", "version", "change"],
            )

            def apply() -> None:
                before = {
                    "kind": c.kind,
                    "group": c.group,
                    "company_id": c.company_id,
                    "active": c.active,
                    "name": c.name,
                    "fields": dict(c.fields),
                }
                work.audit("delete", "customer", c.id, c.id, before, None)
                s.execute(delete(C).where(C.id == c.id).execution_options(synchronize_session=False))

            return self._finish(changes, problems, dry_run, blocking, apply)

        return self._write(op)
