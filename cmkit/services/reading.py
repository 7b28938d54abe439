"""Reading for audits: the audit log (R29) and whole tables as DataFrames (`frame`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import case, func, literal, select, union_all
from sqlalchemy.orm import aliased

from cmkit.db import arrow_frames, repo
from cmkit.db.schema import AdditionalCustomer, AuditEntry, CustomerGroup, CustomerRow, Queue, TicketRow
from cmkit.db.uow import UnitOfWork
from cmkit.errors import PermissionDenied, ValidationError
from cmkit.services import access, details
from cmkit.services.context import Context
from cmkit.services.customers import expand_fields
from cmkit.values import CustomerRef

C, T, A, L = CustomerRow, TicketRow, AdditionalCustomer, AuditEntry
#: the action of the entries PostgreSQL writes itself for every change a login makes (cmkit.db migration 0004)
RAW_SQL = "raw SQL"
FRAMES = ("customers", "tickets", "ticket_customers", "comments", "attachments", "history")


def _since(value: Any) -> dt.datetime:
    """`value` as an aware UTC datetime (a date means its midnight; a time without zone is taken as UTC),
    so that SQLite, which stores UTC wall-clock times, and PostgreSQL compare the same instant."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise ValidationError(
                "since", f"must be a date or datetime (YYYY-MM-DD[THH:MM]), got {value!r}"
            ) from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def history(
    ctx: Context,
    customer_id: CustomerRef | None = None,
    user: str | None = None,
    since: Any = None,
    run_id: str | None = None,
    *,
    statements: bool = False,
) -> pd.DataFrame:
    """The audit log (R29), newest last: who (the user acted as, and the login that acted: R31), when,
    what, values before and after; filter by customer, user, start time or runbook run.

    On PostgreSQL the database logs every change a login makes itself (action `raw SQL`, R33); entries of
    a transaction in which cmkit described its changes are left out unless `statements=True`."""

    def op(work: UnitOfWork) -> pd.DataFrame:
        stmt = select(
            L.id,
            L.at,
            L.user_name.label("user"),
            L.login,
            L.action,
            L.entity,
            L.entity_id,
            L.customer_id,
            L.before,
            L.after,
            L.run_id,
        ).order_by(L.id)
        if customer_id is not None:
            cid = repo.id_of(customer_id)
            group = work.session.execute(
                select(CustomerGroup.name).join(C, C.group_id == CustomerGroup.id).where(C.id == cid)
            ).scalar()
            if group is not None:
                ctx.require("read", group)
            else:  # a deleted customer's history stays readable, to those who may read every group
                _require_every_group(ctx, f"the history of deleted customer #{cid}")
            stmt = stmt.where(L.customer_id == cid)
        else:
            stmt = _visible_history(ctx, stmt)
        if user is not None:
            stmt = stmt.where(L.user_name == user)
        if since is not None:
            stmt = stmt.where(L.at >= _since(since))
        if run_id is not None:
            stmt = stmt.where(L.run_id == run_id)
        if not statements:
            described = aliased(L)
            covered = (
                select(described.id).where(described.txid == L.txid, described.action != RAW_SQL).exists()
            )
            stmt = stmt.where(~((L.action == RAW_SQL) & covered))
        df = repo.frame_of(work.session, stmt)
        df["at"] = pd.to_datetime(df["at"], utc=True)  # SQLite returns UTC times without their zone
        for col in ("entity_id", "customer_id"):
            df[col] = df[col].astype("Int64")
        return df

    return ctx.read(op)


def _require_every_group(ctx: Context, what: str) -> None:
    """Refuse (PermissionDenied) unless the user may read every group: `what` has no group any more."""
    missing = [g for g in ctx.config.groups if not ctx.may("read", g)]
    if missing:
        raise PermissionDenied(
            f"R29: {what} needs read permission on every group; {ctx.user!r} may not read "
            f"{', '.join(missing)}"
        )


def _visible_history(ctx: Context, stmt: Any) -> Any:
    """Users who may not read every group see only entries of customers in groups they may read
    (entries of deleted customers and of the configuration need read permission on every group)."""
    groups = ctx.readable_groups()
    if len(groups) == len(ctx.config.groups):
        return stmt
    visible = select(C.id).where(C.group_id.in_([ctx.group_ids[g] for g in groups]))
    return stmt.where(L.customer_id.in_(visible))


def frame(
    ctx: Context,
    what: str = "customers",
    *,
    include_deactivated: bool = True,
    group: str | None = None,
    kind: str | None = None,
) -> pd.DataFrame:
    """A whole table for audits (customers with one column per data field, tickets, ticket_customers,
    history, and what other modules add), limited to the groups the user may read."""
    if what not in FRAMES:
        raise ValidationError("what", f"unknown frame {what!r}; choose one of {', '.join(FRAMES)}")
    if kind not in (None, "company", "contact"):
        raise ValidationError("kind", f"must be 'company', 'contact' or None, got {kind!r}")
    groups = [ctx.group(group).name] if group else ctx.config.groups
    groups = [g for g in groups if ctx.may("read", g)]

    def op(work: UnitOfWork) -> pd.DataFrame:
        gids = [ctx.group_ids[g] for g in groups]
        if what in ("comments", "attachments"):
            return details.frame(ctx, work, what, gids, include_deactivated=include_deactivated)
        if what == "history":
            return history(ctx)
        if what == "customers":
            return _customers_frame(ctx, work, gids, include_deactivated, kind)
        visible = select(C.id).where(C.group_id.in_(gids))
        if what == "tickets":
            stmt = (
                select(
                    T.id,
                    T.number,
                    T.subject,
                    Queue.name.label("queue"),
                    T.state,
                    T.main_customer_id,
                    T.created_by,
                    T.created_at,
                    T.closed_at,
                )
                .join(Queue, Queue.id == T.queue_id)
                .where(T.main_customer_id.in_(visible))
                .order_by(T.id)
            )
            return repo.frame_of(work.session, stmt)
        links = union_all(
            select(
                T.id.label("ticket_id"),
                T.main_customer_id.label("customer_id"),
                literal("main").label("role"),
            ).where(T.main_customer_id.in_(visible)),
            select(A.ticket_id, A.customer_id, literal("additional")).where(
                A.customer_id.in_(visible),
                A.ticket_id.in_(select(T.id).where(T.main_customer_id.in_(access.readable_mains(ctx)))),
            ),
        ).subquery()
        df = repo.frame_of(work.session, select(links).order_by(links.c.ticket_id, links.c.role.desc()))
        df.insert(0, "id", range(1, len(df) + 1))
        return df

    return ctx.read(op)


def _customers_frame(
    ctx: Context, work: UnitOfWork, gids: list[int], include_deactivated: bool, kind: str | None
) -> pd.DataFrame:
    names: list[str] = []
    types: dict[str, str] = {}
    by_id = ctx.group_names()
    for gid in gids:
        for k in ("company", "contact"):
            for f, fd in ctx.config.groups[by_id[gid]].fields_for(k).items():
                types.setdefault(f, fd.type)
    names = list(types)
    fast = arrow_frames.customers_frame(
        ctx.engine,
        {g: by_id[g] for g in gids},
        include_deactivated,
        kind,
        types,
        connection=work.session.connection(),
    )
    if fast is not None:  # through Arrow: a million customers in about a second
        return fast
    stmt = (
        select(
            C.id,
            C.kind,
            CustomerGroup.name.label("group"),
            C.company_id,
            C.active,
            C.name,
            C.version,
            C.created_at,
            C.updated_at,
            C.data,
        )
        .join(CustomerGroup, CustomerGroup.id == C.group_id)
        .where(C.group_id.in_(gids))
        .order_by(C.id)
    )
    if not include_deactivated:
        stmt = stmt.where(C.active.is_(True))
    if kind:
        stmt = stmt.where(C.kind == kind)
    df = repo.frame_of(work.session, stmt)
    for col in ("created_at", "updated_at"):  # stored as UTC (SQLite gives them back without a zone)
        df[col] = pd.to_datetime(df[col], utc=True)
    return expand_fields(df, names)


def customer_counts(ctx: Context) -> pd.DataFrame:
    """How many customers each group the user may read has, by kind: columns group, kind, active,
    deactivated (0 where there are none), in configuration order; a group without customers is left out."""
    groups = ctx.readable_groups()

    def op(work: UnitOfWork) -> pd.DataFrame:
        stmt = (
            select(
                CustomerGroup.name.label("group"),
                C.kind,
                func.sum(case((C.active.is_(True), 1), else_=0)).label("active"),
                func.sum(case((C.active.is_(True), 0), else_=1)).label("deactivated"),
            )
            .join(CustomerGroup, CustomerGroup.id == C.group_id)
            .where(C.group_id.in_([ctx.group_ids[g] for g in groups]))
            .group_by(CustomerGroup.name, C.kind)
        )
        df = repo.frame_of(work.session, stmt, ["group", "kind", "active", "deactivated"])
        df = df.astype({"active": "int64", "deactivated": "int64"})
        order = {g: i for i, g in enumerate(groups)}
        return df.sort_values(
            ["group", "kind"], key=lambda s: s.map(order) if s.name == "group" else s
        ).reset_index(drop=True)

    return ctx.read(op)
