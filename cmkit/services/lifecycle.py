"""Ending and restoring a customer's availability: deactivate (R18, R19), deactivate many at once,
reactivate (R21) and delete (R22-R24), set-based, with dry runs.

Each operation locks the customers it depends on, computes its plan and its problems in the same
transaction, and either returns the plan (dry run), raises PreconditionFailed (nothing changed), or applies
the plan in a few statements, whatever the number of tickets or contacts.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import delete as sql_delete
from sqlalchemy import select, update

from cmkit.db import audit_chain, repo
from cmkit.db.among import among
from cmkit.db.change import Change
from cmkit.db.schema import AuditEntry, CustomerRow
from cmkit.db.uow import UnitOfWork
from cmkit.domain import rules
from cmkit.services import access, deactivation
from cmkit.services.anonymise import blank
from cmkit.services.context import Context
from cmkit.services.planning import PlanInfo
from cmkit.values import Customer, CustomerRef, Outcome

C, L = CustomerRow, AuditEntry
#: what a deleted contact's audit entries keep of their values before and after (R24)
REMOVED = "removed"
SINGLE_COLUMNS = ["id", "name", "kind", "version", "change"]
MANY_COLUMNS = ["id", "name", "kind", "group", "company_id", "requested", "change", "blocked_by"]


def deactivate(
    ctx: Context, id: CustomerRef, *, dry_run: bool = False, expect: Outcome | None = None
) -> Outcome:
    """Deactivate a customer; a company takes its contacts along (R19).

    Refused (R18) while an open ticket names the customer or, for a company, one of its contacts:
    the blocking tickets are in the error's `.blocking` (and the dry run's `changes` stay empty).
    """

    def op(work: UnitOfWork) -> Outcome:
        repo.lock_customers(work.session, [repo.id_of(id)], shared=False)
        c = access.customer(ctx, work, id, permission="deactivate")
        plan = deactivation.plan(work, [c])
        changes = plan.customers[SINGLE_COLUMNS]
        if plan.problems:
            changes = changes.iloc[0:0]
        return access.finish(
            changes,
            plan.problems,
            dry_run=dry_run,
            blocking=plan.blocking,
            apply=lambda: deactivation.carry_out(work, plan),
            plan=PlanInfo(work, "deactivate", {"id": c.id}, expect, _reads(plan)),
        )

    return ctx.write(op)


def _reads(plan: deactivation.DeactivationPlan) -> dict[str, Any]:
    """The rows a deactivation plan read: the customers in scope and the open tickets naming them."""
    return {"customer": plan.customers["id"], "ticket": plan.blocking["id"]}


def deactivate_many(
    ctx: Context, ids: Any, *, dry_run: bool = False, expect: Outcome | None = None
) -> Outcome:
    """Deactivate all these customers (companies with their contacts, R19) or none.

    Refused (R18) while an open ticket names one of them or a contact of one of these companies: then
    `problems` has one entry per blocked customer with its tickets, the plan's `blocked_by` column lists
    the ticket numbers, and the error's `.blocking` has the tickets. Customers deactivated already are
    left out. Needs the deactivate permission on their groups.
    """
    wanted = access.id_list(ids, "ids")

    def op(work: UnitOfWork) -> Outcome:
        repo.lock_customers(work.session, wanted, shared=False)
        asked = access.customers(ctx, work, wanted, ["deactivate"])
        plan = deactivation.plan(work, [c for c in asked if c.active])
        reads = _reads(plan)
        reads["customer"] = [*reads["customer"], *wanted]  # the ones left out as deactivated already, too
        return access.finish(
            plan.customers[MANY_COLUMNS],
            plan.problems,
            dry_run=dry_run,
            blocking=plan.blocking,
            apply=lambda: deactivation.carry_out(work, plan),
            plan=PlanInfo(work, "deactivate_many", {"ids": wanted}, expect, reads),
        )

    return ctx.write(op)


def deactivate_unblocked(
    ctx: Context, ids: Any, *, dry_run: bool = False, expect: Outcome | None = None
) -> Outcome:
    """Deactivate those of these customers that no open ticket blocks (R18), companies with their contacts
    (R19), in one transaction; the blocked ones stay active. Nothing refuses it as a whole.

    `changes` has the MANY_COLUMNS, one row per customer: `change` is "deactivate", or "blocked" for a
    requested customer left active, with the ticket numbers that block it in `blocked_by` (a company
    is blocked by its contacts' open tickets too); `blocking` has those tickets. Customers deactivated
    already are left out. Needs the deactivate permission on their groups (PermissionDenied).
    """
    wanted = access.id_list(ids, "ids")
    return ctx.write(lambda work: unblocked(ctx, work, wanted, dry_run=dry_run, expect=expect))


def unblocked(
    ctx: Context, work: UnitOfWork, ids: list[int], *, dry_run: bool, expect: Outcome | None = None
) -> Outcome:
    """`deactivate_unblocked` of `ids` inside the caller's unit of work (which has not locked them).
    Its plan (R34) is to deactivate_unblocked exactly these ids, however they were found."""
    repo.lock_customers(work.session, ids, shared=False)
    active = [c for c in access.customers(ctx, work, ids, ["deactivate"]) if c.active]
    whole = deactivation.plan(work, active)
    asked = whole.customers[whole.customers["requested"]]
    blocked = asked[asked["blocked_by"] != ""].assign(change="blocked")
    left_active = set(blocked["id"])
    allowed = [c for c in active if c.id not in left_active]
    plan = deactivation.plan(work, allowed, lock=False)
    changes = pd.concat([plan.customers, blocked]) if len(blocked) else plan.customers
    changes = changes.sort_values("id", ignore_index=True)[MANY_COLUMNS]
    reads = {"customer": [*whole.customers["id"], *ids], "ticket": whole.blocking["id"]}
    return access.finish(
        changes,
        [],
        dry_run=dry_run,
        blocking=whole.blocking,
        apply=lambda: deactivation.carry_out(work, plan),
        plan=PlanInfo(work, "deactivate_unblocked", {"ids": [int(i) for i in ids]}, expect, reads),
    )


def reactivate(
    ctx: Context, id: CustomerRef, *, dry_run: bool = False, expect: Outcome | None = None
) -> Outcome:
    """Make a deactivated customer active again (R21). Contacts of a company stay deactivated;
    a contact whose company is deactivated is refused until the company is reactivated."""

    def op(work: UnitOfWork) -> Outcome:
        s = work.session
        c = access.customer(ctx, work, id, permission="reactivate")
        if c.company_id is not None:
            repo.lock_customers(s, [c.company_id], shared=True)
        repo.lock_customers(s, [c.id], shared=False)
        c = access.customer(ctx, work, c.id, permission=None)  # as it is now that it is locked
        company = access.customer(ctx, work, c.company_id, permission=None) if c.company_id else None
        problems = rules.reactivate_problems(c, company)
        changes = _one_change(c, "reactivate", refused=bool(problems))
        if c.kind == "company" and not problems:
            still = s.execute(select(C.id).where(C.company_id == c.id, C.active.is_(False))).scalars().all()
            changes.attrs["contacts_still_deactivated"] = list(still)

        reads = {"customer": [c.id, *([c.company_id] if c.company_id else [])]}
        return access.finish(
            changes,
            problems,
            dry_run=dry_run,
            apply=lambda: reactivate_rows(work, [c.id]),
            plan=PlanInfo(work, "reactivate", {"id": c.id}, expect, reads),
        )

    return ctx.write(op)


def reactivate_rows(work: UnitOfWork, ids: list[int]) -> None:
    """Make these customers active again, one audit entry each (R21, R29): the checks are the caller's."""
    if not ids:
        return
    work.session.execute(
        update(C)
        .where(among(C.id, ids))
        .values(active=True, deactivated_at=None, version=C.version + 1, updated_at=work.now)
        .execution_options(synchronize_session=False)
    )
    work.audit_many(Change("reactivate", "customer", i, i, {"active": False}, {"active": True}) for i in ids)


def delete(ctx: Context, id: CustomerRef, *, dry_run: bool = False, expect: Outcome | None = None) -> Outcome:
    """Remove a contact for good, with its comments and attachments (R22-R24).

    Refuses companies of two-level groups (deactivate them) and contacts still named by any ticket,
    open or closed (transfer those first); the protocol entries that name the contact remain.
    """

    def op(work: UnitOfWork) -> Outcome:
        s = work.session
        repo.lock_customers(s, [repo.id_of(id)], shared=False)
        c = access.customer(ctx, work, id, permission="delete")
        blocking = repo.frame_of(s, repo.linked_tickets([c.id])).drop(columns=["closed_at"])
        numbers = list(dict.fromkeys(blocking["number"]))
        problems = rules.delete_problems(c, ctx.group(c.group), numbers)

        def apply() -> None:
            scrub_deleted(work, c.id)
            work.audit("delete", "customer", c.id, c.id, blank(record_of(c), REMOVED), None)
            s.execute(sql_delete(C).where(C.id == c.id).execution_options(synchronize_session=False))

        changes = _one_change(c, "delete", refused=bool(problems))
        reads = {"customer": [c.id], "ticket": blocking["id"]}
        return access.finish(
            changes,
            problems,
            dry_run=dry_run,
            blocking=blocking,
            apply=apply,
            plan=PlanInfo(work, "delete", {"id": c.id}, expect, reads),
        )

    return ctx.write(op)


def scrub_deleted(work: UnitOfWork, customer_id: int) -> None:
    """R24: the contact's own audit entries (its fields, comments, attachments) keep action, time, user and
    ids, but their values before and after become REMOVED (through the chain's scrub: hashes stay).
    The ticket protocol entries that name it are left alone: they are the trace R24 keeps."""
    own = work.session.execute(
        select(L.id, L.before, L.after).where(
            L.customer_id == customer_id, L.entity.in_(["customer", "comment", "attachment"])
        )
    ).all()
    audit_chain.scrub(work.session, [(i, blank(b, REMOVED), blank(a, REMOVED)) for i, b, a in own])


def record_of(c: Customer) -> dict[str, Any]:
    """What the audit log keeps of a customer that goes (deleted, or merged away)."""
    return {
        "kind": c.kind,
        "group": c.group,
        "company_id": c.company_id,
        "active": c.active,
        "name": c.name,
        "fields": dict(c.fields),
    }


def _one_change(c: Customer, change: str, *, refused: bool) -> pd.DataFrame:
    rows = (
        []
        if refused
        else [{"id": c.id, "name": c.name, "kind": c.kind, "version": c.version, "change": change}]
    )
    return pd.DataFrame(rows, columns=SINGLE_COLUMNS)
