"""Dormant customers: active ones that nothing has happened to for a while (`last_activity`,
`dormant_customers`), and deactivating them (`deactivate_dormant`).

A customer's last activity is the latest of: its creation, the creation or closing of any ticket that
names it (as main or additional customer), and for a company the same for its contacts (their tickets,
and the creation of its active contacts). It is dormant when that is more than `days` days ago; so a
company is dormant only when its contacts are too.
"""

from __future__ import annotations

import datetime as dt
import operator
from typing import Any

import pandas as pd
from sqlalchemy import Select, case, func, literal, select, union_all
from sqlalchemy.orm import aliased

from cmkit.db import repo
from cmkit.db.schema import AdditionalCustomer, CustomerGroup, CustomerRow, TicketRow
from cmkit.db.uow import UnitOfWork
from cmkit.errors import ValidationError
from cmkit.services import lifecycle
from cmkit.services.context import Context
from cmkit.values import Outcome

C, T, A, G = CustomerRow, TicketRow, AdditionalCustomer, CustomerGroup
COLUMNS = [
    "id",
    "name",
    "kind",
    "group",
    "company_id",
    "created_at",
    "last_ticket",
    "last_activity",
    "days_idle",
]


def _days(days: Any) -> int:
    try:
        value = operator.index(days)
    except TypeError:
        value = -1
    if isinstance(days, bool) or value < 0:
        raise ValidationError("days", f"must be a whole number of days, 0 or more, got {days!r}")
    return value


def _group_ids(ctx: Context, group: str | None, permissions: tuple[str, ...]) -> list[int]:
    """The ids of `group` (refused without `permissions` on it) or of every configured group on which the
    user holds all of `permissions`."""
    if group is not None:
        ctx.group(group)
        for permission in permissions:
            ctx.require(permission, group)
        return [ctx.group_id(group)]
    return [ctx.group_ids[g] for g in ctx.config.groups if all(ctx.may(p, g) for p in permissions)]


def activity(group_ids: list[int], before: dt.datetime | None = None) -> Select[Any]:
    """The active customers of these groups with their last ticket and last activity (see the module), one
    row each in id order; with `before`, only those whose last activity is earlier (dormant)."""
    moment = func.coalesce(T.closed_at, T.created_at)  # a ticket's last event: closed, else created
    tickets = union_all(
        select(T.main_customer_id.label("customer_id"), moment.label("at")),
        select(A.customer_id, moment).join(T, T.id == A.ticket_id),
    ).subquery("ticket_moments")
    contact = aliased(C, name="contact")
    events = union_all(
        select(C.id.label("customer_id"), C.created_at.label("at"), literal(0).label("ticket")),
        select(C.company_id, C.created_at, literal(0)).where(C.company_id.is_not(None), C.active.is_(True)),
        select(tickets.c.customer_id, tickets.c.at, literal(1)),
        select(contact.company_id, tickets.c.at, literal(1))
        .join(contact, contact.id == tickets.c.customer_id)
        .where(contact.company_id.is_not(None)),
    ).subquery("events")
    last = (
        select(
            events.c.customer_id,
            func.max(case((events.c.ticket == 1, events.c.at))).label("last_ticket"),
            func.max(events.c.at).label("last_activity"),
        )
        .group_by(events.c.customer_id)
        .subquery("last")
    )
    stmt = (
        select(
            C.id,
            C.name,
            C.kind,
            G.name.label("group"),
            C.company_id,
            C.created_at,
            last.c.last_ticket,
            last.c.last_activity,
        )
        .join(G, G.id == C.group_id)
        .join(last, last.c.customer_id == C.id)
        .where(C.active.is_(True), C.group_id.in_(group_ids))
        .order_by(C.id)
    )
    return stmt if before is None else stmt.where(last.c.last_activity < before)


def _frame(work: UnitOfWork, stmt: Select[Any]) -> pd.DataFrame:
    df = repo.frame_of(work.session, stmt)
    for col in ("created_at", "last_ticket", "last_activity"):
        df[col] = pd.to_datetime(df[col], utc=True)  # SQLite returns UTC times without their zone
    df["company_id"] = df["company_id"].astype("Int64")
    df["days_idle"] = (pd.Timestamp(work.now) - df["last_activity"]).dt.days.astype("int64")
    return df[COLUMNS]


def last_activity(ctx: Context, *, group: str | None = None) -> pd.DataFrame:
    """Every active customer (of `group`, else of every group the user may read) with its last ticket
    (NaT if none), last activity and days since then (`days_idle`): see the module for what counts.
    Refused (PermissionDenied) for a named group the user may not read."""
    gids = _group_ids(ctx, group, ("read",))
    return ctx.read(lambda work: _frame(work, activity(gids)))


def dormant_customers(ctx: Context, *, days: int = 365, group: str | None = None) -> pd.DataFrame:
    """The active customers (of `group`, else of every group the user may read) whose last activity is
    more than `days` days ago, with the columns of `last_activity`. Refuses a negative `days`
    (ValidationError) and a named group the user may not read (PermissionDenied)."""
    span = dt.timedelta(days=_days(days))
    gids = _group_ids(ctx, group, ("read",))
    return ctx.read(lambda work: _frame(work, activity(gids, work.now - span)))


def deactivate_dormant(
    ctx: Context, *, days: int = 365, group: str | None = None, dry_run: bool = False
) -> Outcome:
    """Deactivate the dormant customers (see `dormant_customers`) of `group`, else of every group on which
    the user may read and deactivate, in one transaction: companies with their contacts (R19), except
    those an open ticket blocks (R18), which stay active and are listed as "blocked" with the tickets
    (see lifecycle.deactivate_unblocked). Refused (PermissionDenied) for a named group without the
    deactivate permission."""
    span = dt.timedelta(days=_days(days))
    gids = _group_ids(ctx, group, ("read", "deactivate"))

    def op(work: UnitOfWork) -> Outcome:
        dormant = activity(gids, work.now - span).with_only_columns(C.id)
        ids = list(work.session.scalars(dormant))
        return lifecycle.unblocked(ctx, work, ids, dry_run=dry_run)

    return ctx.write(op)
