"""Transfer of tickets (R17): a source customer's tickets, open ones or all, handed to a target customer
in both roles, set-based (a few statements whatever the number of tickets), with one protocol entry per
changed ticket (R16). `move_tickets` is the step that merge shares.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import delete, insert, literal, select, update

from cmkit.db import repo
from cmkit.db.change import Change
from cmkit.db.schema import AdditionalCustomer, CustomerRow, ProtocolEntry, Queue, TicketRow
from cmkit.db.uow import UnitOfWork
from cmkit.domain import rules
from cmkit.errors import ValidationError
from cmkit.services import access
from cmkit.services.context import Context
from cmkit.services.planning import PlanInfo
from cmkit.values import Customer, CustomerRef, Outcome

T, A, C, P = TicketRow, AdditionalCustomer, CustomerRow, ProtocolEntry
PROTOCOL_COLUMNS = [
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


def transfer_tickets(
    ctx: Context,
    source_id: CustomerRef,
    target_id: CustomerRef,
    *,
    only_open: bool = True,
    dry_run: bool = False,
    expect: Outcome | None = None,
) -> Outcome:
    """Hand the source's tickets (open ones, or all) to the target, in both roles (R17).

    Refuses a deactivated target or target == source; where the target already is on a ticket, no
    duplicate link results. One protocol entry per changed ticket; all or nothing. A dry run is a plan
    (R34); `expect`: apply exactly that plan, or nothing if a row it read changed since.
    """

    def op(work: UnitOfWork) -> Outcome:
        s = work.session
        repo.lock_customers(s, [repo.id_of(source_id)], shared=False)
        repo.lock_customers(s, [repo.id_of(target_id)], shared=True)
        repo.lock_tickets_of(s, [repo.id_of(source_id)])
        src = access.customer(ctx, work, source_id, permission="transfer")
        dst = access.customer(ctx, work, target_id, permission="transfer")
        states = ("open",) if only_open else ("open", "closed")
        changes = _plan_of(work, src, dst, states)
        problems = _problems(ctx, src, dst, changes)

        def apply() -> None:
            move_tickets(work, src, dst, states)

        info = PlanInfo(
            work,
            "transfer_tickets",
            {"source_id": src.id, "target_id": dst.id, "only_open": only_open},
            expect,
            {"customer": [src.id, dst.id], "ticket": changes["id"]},
        )
        return access.finish(changes, problems, dry_run=dry_run, apply=apply, plan=info)

    return ctx.write(op)


def transfer_many(
    ctx: Context,
    source_ids: Any,
    target_id: CustomerRef,
    *,
    only_open: bool = True,
    dry_run: bool = False,
    expect: Outcome | None = None,
) -> Outcome:
    """Hand the tickets of every source (open ones, or all) to one target, in both roles, in one
    transaction (R17): a search action on ticked rows.

    `changes` has one row per ticket and source (`source_id`). Refused as a whole (nothing changed) if
    any source is refused (the target among the sources, a deactivated target, R14/R20), each problem
    naming its source. Needs the transfer permission on every source's group and the target's.
    """
    sources = access.id_list(source_ids, "source_ids")
    if not sources:
        raise ValidationError("source_ids", "give at least one customer whose tickets to transfer")

    def op(work: UnitOfWork) -> Outcome:
        s = work.session
        repo.lock_customers(s, sources, shared=False)
        repo.lock_customers(s, [repo.id_of(target_id)], shared=True)
        repo.lock_tickets_of(s, sources)
        srcs = access.customers(ctx, work, sources, ["transfer"])
        dst = access.customer(ctx, work, target_id, permission="transfer")
        states = ("open",) if only_open else ("open", "closed")
        frames, problems = [], []
        for src in srcs:
            changes = _plan_of(work, src, dst, states)
            frames.append(changes)
            problems += _problems(ctx, src, dst, changes)
        changes = pd.concat(frames, ignore_index=True)

        def apply() -> None:
            for src in srcs:
                if src.id != dst.id:
                    move_tickets(work, src, dst, states)

        info = PlanInfo(
            work,
            "transfer_many",
            {"source_ids": sources, "target_id": dst.id, "only_open": only_open},
            expect,
            {"customer": [*sources, dst.id], "ticket": changes["id"]},
        )
        return access.finish(changes, list(dict.fromkeys(problems)), dry_run=dry_run, apply=apply, plan=info)

    return ctx.write(op)


def _problems(ctx: Context, src: Customer, dst: Customer, changes: pd.DataFrame) -> list[str]:
    """What refuses moving these planned tickets from src to dst (R17, with R14/R20 for the target): among
    them, tickets that would get dst as main customer in a queue not assigned to dst's group."""
    problems = rules.transfer_problems(
        src,
        dst,
        ctx.group(dst.group),
        becomes_main=bool((changes["role"] == "main").any()),
        open_tickets_moved=bool((changes["state"] == "open").any()),
    )
    as_main = changes[changes["role"] == "main"]
    return problems + rules.transfer_queue_problems(
        dst, zip(as_main["number"], as_main["queue"], strict=True), ctx.config.queues_for(dst.group)
    )


def _plan_of(work: UnitOfWork, src: Customer, dst: Customer, states: tuple[str, ...]) -> pd.DataFrame:
    """The tickets a transfer from src to dst would change: one row per ticket, with src's role on it."""
    lk = repo.links([src.id])
    plan = (
        select(
            T.id.label("id"),
            T.number,
            T.subject,
            T.state,
            Queue.name.label("queue"),
            lk.c.role,
            literal(src.id).label("source_id"),
            literal(dst.id).label("target_id"),
            repo.on_ticket(T.id, dst.id).label("target_already_on_ticket"),
        )
        .join(lk, lk.c.ticket_id == T.id)
        .join(Queue, Queue.id == T.queue_id)
        .where(T.state.in_(states))
        .order_by(T.id)
    )
    changes = repo.frame_of(work.session, plan)
    changes["target_already_on_ticket"] = changes["target_already_on_ticket"].astype(bool)
    return changes


def move_tickets(
    work: UnitOfWork,
    src: Customer,
    dst: Customer,
    states: tuple[str, ...],
    *,
    action: str = "transferred",
    audit: bool = True,
) -> list[int]:
    """Hand src's tickets in `states` to dst in a few statements; the protocol says `action`
    (merge uses "merged"); `audit=False` leaves the audit entries to the caller. Returns the tickets that
    named dst already (see `already_on`)."""
    s = work.session
    repo.lock_tickets_of(s, [src.id])  # held already by transfer_tickets; taken here for every caller
    already = already_on(work, src, dst, states)
    in_scope = select(T.id).where(T.state.in_(states))
    main_ids = in_scope.where(T.main_customer_id == src.id)
    # a link's ticket in `states`: looked up by its id (an IN over all tickets would read every ticket)
    link_in_scope = select(T.id).where(T.id == A.ticket_id, T.state.in_(states)).exists()
    add_ids = select(A.ticket_id).where(A.customer_id == src.id, link_in_scope)
    # 1. one protocol entry per changed ticket, written while the source is still on them
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
        s.execute(insert(P).from_select(PROTOCOL_COLUMNS, rows))
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
        return already
    before = {"only_open": states == ("open",), "customer_id": src.id}
    after = {"customer_id": dst.id}
    work.audit_many(
        [
            # which tickets named the target already: what a revert needs to restore them (R35)
            Change("transfer_out", "customer", src.id, src.id, before, {**after, "already_on": already}),
            Change("transfer_in", "customer", dst.id, dst.id, before, after),
        ]
    )
    return already


def already_on(work: UnitOfWork, src: Customer, dst: Customer, states: tuple[str, ...]) -> list[int]:
    """The tickets in `states` that name both src and dst: there the move drops a link instead of
    replacing it (R17: no duplicate reference), so a revert must add one back (R35)."""
    lk = repo.links([src.id])
    stmt = (
        select(lk.c.ticket_id)
        .join(T, T.id == lk.c.ticket_id)
        .where(T.state.in_(states), repo.on_ticket(lk.c.ticket_id, dst.id))
        .distinct()
        .order_by(lk.c.ticket_id)
    )
    return [int(i) for i in work.session.scalars(stmt)]
