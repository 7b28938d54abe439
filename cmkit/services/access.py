"""Loading customers for an operation, with the permission check on their groups, and settling an
operation's Outcome (dry run, refusal, or apply)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd
from sqlalchemy import select

from cmkit.db import repo
from cmkit.db.schema import CustomerGroup, CustomerRow, TicketRow
from cmkit.db.uow import UnitOfWork
from cmkit.errors import NotFound, PermissionDenied, PreconditionFailed, ValidationError
from cmkit.services import planning
from cmkit.services.context import Context
from cmkit.services.planning import PlanInfo
from cmkit.values import Customer, CustomerRef, Outcome, TicketRef

C = CustomerRow
#: At most this many ids per call: each becomes a bound parameter (SQLite allows 32,766 per statement).
MAX_IDS = 1_000_000


def customer(
    ctx: Context, work: UnitOfWork, customer_id: CustomerRef, *, permission: str | None = "read"
) -> Customer:
    """The customer's snapshot as stored now, after checking `permission` on its group (None: no check).

    NotFound if it does not exist; PermissionDenied (naming the rule) without the permission."""
    row, group = repo.customer_row(work.session, customer_id)
    if permission:
        ctx.require(permission, group)
    return repo.snapshot(row, group)


def ticket(ctx: Context, work: UnitOfWork, ticket_id: TicketRef, *, permission: str = "read") -> TicketRow:
    """The ticket's row, after checking `permission` on its main customer's group: a ticket, its links and
    its protocol belong to its main customer, as on PostgreSQL, whose row-level security shows a login
    only the tickets of main customers it may read (R32).

    NotFound if it does not exist; PermissionDenied (naming the rule and the group) without the permission."""
    row = repo.ticket_row(work.session, ticket_id)
    group = work.session.execute(
        select(CustomerGroup.name).join(C, C.group_id == CustomerGroup.id).where(C.id == row.main_customer_id)
    ).scalar_one()
    if not ctx.may(permission, group):
        raise PermissionDenied(
            f"{ctx.refusal(permission, group)}; ticket {row.number} belongs to a customer of that group"
        )
    return row


def readable_mains(ctx: Context) -> Any:
    """The ids of the customers whose tickets the acting user may read (as a subquery)."""
    return select(C.id).where(C.group_id.in_(ctx.readable_group_ids()))


def customers(
    ctx: Context, work: UnitOfWork, ids: Sequence[int], permissions: Sequence[str]
) -> list[Customer]:
    """Snapshots of the customers `ids` (in that order), read in one query, after checking each of
    `permissions` on each of their groups. NotFound names every missing id."""
    found = repo.snapshots(work.session, ids)
    missing = [i for i in ids if i not in found]
    if missing:
        shown = ", ".join(f"#{i}" for i in missing[:20]) + (" ..." if len(missing) > 20 else "")
        raise NotFound(f"{len(missing)} customer(s) do not exist (deleted, or never created): {shown}")
    for group in sorted({c.group for c in found.values()}):
        for permission in permissions:
            ctx.require(permission, group)
    return [found[i] for i in ids]


def id_list(ids: Any, field: str) -> list[int]:
    """Customer ids (or Customers) as ints, in order, without repeats; a single id counts as a list of one.
    Refuses more than MAX_IDS (ValidationError naming `field`)."""
    if isinstance(ids, str | int | Customer) or not isinstance(ids, Iterable):
        ids = [ids]
    out = {repo.id_of(x): None for x in ids}  # NotFound for anything that is not an id
    if len(out) > MAX_IDS:
        raise ValidationError(field, f"{len(out)} ids in one call; at most {MAX_IDS}: split the list")
    return list(out)


def empty_plan(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def finish(
    changes: pd.DataFrame,
    problems: list[str],
    *,
    dry_run: bool,
    blocking: pd.DataFrame | None = None,
    apply: Callable[[], None] | None = None,
    plan: PlanInfo | None = None,
) -> Outcome:
    """The Outcome of an operation whose plan is `changes`: a dry run returns it with its problems;
    otherwise problems refuse it (PreconditionFailed, nothing changed), else `apply` runs.

    With `plan` (R34) a dry run is a plan (id, fingerprint, the rows read). Given the plan to apply
    (`plan.expect`), the rows it read are compared with what is there now, in this transaction under the
    operation's locks: any difference refuses it (PreconditionFailed with `.changed`; a dry run returns the
    differences in `changed`), as does a plan that had problems when it was made."""
    if plan is not None and plan.expect is not None:
        expect = plan.expect
        if expect.problems:
            raise PreconditionFailed(
                [
                    f"R34: plan {expect.plan_id} was refused when it was made; make a new plan",
                    *expect.problems,
                ]
            )
        changed = planning.differences(plan, changes)
        if len(changed):
            message = planning.refusal(expect, changed)
            if dry_run:
                return replace(expect, changed=changed, problems=[message, *problems])
            raise PreconditionFailed([message, *problems], blocking, changed)
        if dry_run:
            return replace(expect, changed=changed, problems=problems)
        if problems:
            raise PreconditionFailed(problems, blocking)
        if apply is not None:
            apply()
        planning.applied_entry(plan)
        return Outcome(
            applied=True,
            changes=changes,
            problems=[],
            plan_id=expect.plan_id,
            fingerprint=expect.fingerprint,
            operation=expect.operation,
            arguments=expect.arguments,
            made_by=expect.made_by,
            made_at=expect.made_at,
        )
    if dry_run:
        outcome = Outcome(applied=False, changes=changes, problems=problems, blocking=blocking)
        return planning.make(outcome, plan) if plan is not None else outcome
    if problems:
        raise PreconditionFailed(problems, blocking)
    if apply is not None:
        apply()
    return Outcome(applied=True, changes=changes, problems=[])
