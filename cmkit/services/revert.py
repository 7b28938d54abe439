"""Reverting a run, or one operation, from the audit log (R35).

The entries of the run (or of the operation that wrote one audit entry: the same unit of work, i.e. the
same time, user and run) are inverted newest first: field edits back to their values before, changes of
company back, deactivations undone where R21 allows, reactivations undone where R18 allows, tickets
handed back to the customers they came from (from the protocol's per-ticket entries, with a protocol
entry "reverted" each), and merges undone where possible: the duplicates' tickets, comments and
attachments return to the duplicates that still exist (companies; contacts were deleted, R24).

A step whose row later work has overwritten, or that cannot be undone by nature (a deletion, an erasure,
a creation), is a conflict. The steps are carried out in one transaction in order, each checked against the
state the steps before it left, so a dry run (the same transaction, rolled back) shows exactly what applying
does. Unless told to skip conflicts, a conflict refuses the whole revert. The revert writes its own
entries under its own run id with the same actions (edit, change_company, reactivate, deactivate,
replace_customer, move_comment, ...), so it can itself be reverted.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pandas as pd
from sqlalchemy import select

from cmkit.db import repo, rowstate
from cmkit.db.schema import AdditionalCustomer, AuditEntry, CustomerRow, ProtocolEntry, TicketRow
from cmkit.db.uow import UnitOfWork
from cmkit.errors import NotFound, ValidationError
from cmkit.services import access, planning
from cmkit.services.context import Context
from cmkit.services.inverses import Entry, Inverter, Step
from cmkit.services.planning import PlanInfo
from cmkit.values import Outcome

L, P, T, A, C = AuditEntry, ProtocolEntry, TicketRow, AdditionalCustomer, CustomerRow
COLUMNS = ["audit_id", "action", "entity", "id", "change", "detail", "conflict"]


class _RollBack(Exception):
    """Ends a dry run's transaction without keeping its changes."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome


def new_revert_run_id(now: dt.datetime | None = None) -> str:
    return new_run_id("revert", now)


def new_run_id(what: str, now: dt.datetime | None = None) -> str:
    """A run id for changes made together (a revert, a search action): time, what, a random tail."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{what}-{secrets.token_hex(3)}"


def revert(
    ctx: Context,
    run_id: str | None = None,
    audit_id: int | None = None,
    *,
    dry_run: bool = False,
    skip_conflicts: bool = False,
    expect: Outcome | None = None,
) -> Outcome:
    """Undo the changes of the run `run_id`, or of the one operation that wrote audit entry `audit_id` (R35),
    newest first, in one transaction with its own run id (the Outcome's `run_id`).

    `changes` has one row per step (the audit entry it undoes, the record, the change, and its `conflict`).
    A conflict (changed since, or irreversible) refuses the revert (PreconditionFailed, nothing changed)
    unless `skip_conflicts`, which leaves those rows as they are and reverts the rest. A dry run is a plan
    (R34): it shows exactly what applying would do. Each step needs the permission of the change it undoes.
    """
    if (run_id is None) == (audit_id is None):
        raise ValidationError("run_id", "give either run_id (a whole run) or audit_id (one operation)")
    if audit_id is not None:
        audit_id = repo.id_of(audit_id, "audit entry")
    own = ctx.run_id if ctx.run_id and ctx.run_id != run_id else new_revert_run_id()

    def op(work: UnitOfWork) -> Outcome:
        entries = _entries(work, run_id, audit_id)
        steps = _plan(ctx, work, entries, _protocol(work, run_id, entries))
        reads: dict[str, list[int]] = {}
        for step in steps:
            for entity, ids in step.reads.items():
                reads.setdefault(entity, []).extend(ids)
        _lock(work, reads)
        arguments = {"run_id": run_id, "audit_id": audit_id, "skip_conflicts": skip_conflicts}
        info = PlanInfo(work, "revert", arguments, expect, reads)
        info.seen = planning.seen_now(info) if expect is not None else rowstate.seen(work.session, reads)
        rows, problems = [], []
        for step in steps:
            conflict = step.check()
            if conflict is None:
                step.do()
            else:
                problems.append(
                    f"audit #{step.entry.id} {step.entry.action} ({step.entity} #{step.id}): {conflict}"
                )
            rows.append(
                [
                    step.entry.id,
                    step.entry.action,
                    step.entity,
                    step.id,
                    step.change,
                    step.detail,
                    conflict or "",
                ]
            )
        changes = pd.DataFrame(rows, columns=COLUMNS).astype({"audit_id": "int64", "id": "Int64"})
        if not dry_run:
            work.audit(
                "revert",
                "run",
                None,
                None,
                {"run_id": run_id, "audit_id": audit_id},
                {
                    "steps": len(steps),
                    "conflicts": len(problems),
                    "skipped": len(problems) if skip_conflicts else 0,
                },
            )
        outcome = access.finish(
            changes, [] if skip_conflicts else problems, dry_run=dry_run, plan=info
        )  # refuses (and rolls back) on conflicts not skipped, or when a reviewed plan no longer holds
        if dry_run:
            raise _RollBack(outcome)
        return replace(outcome, run_id=own)

    try:
        return ctx.write(op, run_id=own)
    except _RollBack as done:
        return done.outcome


# -- reading the run ----------------------------------------------------------------------------------------
def _entries(work: UnitOfWork, run_id: str | None, audit_id: int | None) -> list[Entry]:
    cols = select(
        L.id, L.at, L.user_name, L.action, L.entity, L.entity_id, L.customer_id, L.before, L.after, L.run_id
    )
    if run_id is not None:
        found = work.session.execute(cols.where(L.run_id == run_id).order_by(L.id)).all()
        if not found:
            raise NotFound(f"R35: no audit entries carry run id {run_id!r}; see cm.history() for the runs")
    else:
        one = work.session.execute(cols.where(L.id == audit_id)).first()
        if one is None:
            raise NotFound(f"R35: there is no audit entry #{audit_id}; see cm.history()")
        same_run = L.run_id.is_(None) if one.run_id is None else L.run_id == one.run_id
        found = work.session.execute(
            cols.where(L.at == one.at, L.user_name == one.user_name, same_run).order_by(L.id)
        ).all()
    return [Entry(*row) for row in found]


def _protocol(work: UnitOfWork, run_id: str | None, entries: Sequence[Entry]) -> list[Any]:
    """The per-ticket protocol entries written with these audit entries (same time, user and run)."""
    cols = select(
        P.id, P.at, P.user_name, P.ticket_id, P.action, P.role, P.old_customer_id, P.new_customer_id
    )
    if run_id is not None:
        stmt = cols.where(P.run_id == run_id)
    else:
        first = entries[0]
        same_run = P.run_id.is_(None) if first.run_id is None else P.run_id == first.run_id
        stmt = cols.where(P.at == first.at, P.user_name == first.user, same_run)
    return list(work.session.execute(stmt.order_by(P.id.desc())).all())


def _lock(work: UnitOfWork, reads: dict[str, list[int]]) -> None:
    s = work.session
    repo.lock_customers(s, reads.get("customer", []), shared=False)
    ticket_ids = sorted(set(reads.get("ticket", [])))
    if ticket_ids and not work.is_sqlite:
        s.execute(select(T.id).where(T.id.in_(ticket_ids)).order_by(T.id).with_for_update()).all()


def _plan(ctx: Context, work: UnitOfWork, entries: list[Entry], protocol: list[Any]) -> list[Step]:
    """The inverse steps, operation by operation (newest first), each operation's entries newest first."""
    ops: dict[tuple[Any, str], list[Entry]] = {}
    for e in entries:
        ops.setdefault((e.at, e.user), []).append(e)
    by_op: dict[tuple[Any, str], list[Any]] = {}
    for p in protocol:
        by_op.setdefault((p.at, p.user_name), []).append(p)
    steps: list[Step] = []
    inv = Inverter(ctx, work)
    for key in sorted(ops, key=lambda k: max(e.id for e in ops[k]), reverse=True):
        mine: list[Step] = []
        for e in reversed(ops[key]):
            mine += inv.steps(e, by_op.get(key, []))
        steps += sorted(mine, key=lambda s: not s.first)  # stable: newest first otherwise
    return steps


# -- the steps ----------------------------------------------------------------------------------------------
