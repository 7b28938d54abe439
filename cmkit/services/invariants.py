"""`check_invariants`: what must always hold in the database, checked in a few queries.

One row per violated rule and record (columns rule, entity, id, detail), sorted by rule number, entity, id;
empty when everything holds. The rules checked:

- R2 (customer): no company in a one-level group; no contact of a one-level group with a company.
- R3 (customer): every contact of a two-level group has a company, which is a company of its own group.
- R4 (customer): the stored fields are valid for the group's configuration (known fields, valid values,
  required ones present) and the stored name is the one the fields give.
- R14 (ticket): no company is the main customer in a group whose tickets are for contacts only; the
  ticket's queue is assigned to its main customer's group (what R17 keeps when tickets move).
- R15 (ticket): the ticket's main customer exists; no additional customer is also its main customer.
- R18 (ticket): no open ticket names a deactivated customer, as main or additional customer.
- R19 (customer): no active contact belongs to a deactivated company.

`deactivate_contacts_of_deactivated_companies` repairs R19 where no open ticket stands in the way.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Select, and_, literal, or_, select, union_all
from sqlalchemy.orm import aliased

from cmkit.db import repo
from cmkit.db.schema import AdditionalCustomer, CustomerGroup, CustomerRow, Queue, QueueGroup, TicketRow
from cmkit.db.uow import UnitOfWork
from cmkit.domain.config import GroupDef
from cmkit.domain.fields import display_name, validate_value
from cmkit.errors import ValidationError
from cmkit.services import deactivation, lifecycle
from cmkit.services.context import Context
from cmkit.values import Outcome

C, T, A, G = CustomerRow, TicketRow, AdditionalCustomer, CustomerGroup
COLUMNS = ["rule", "entity", "id", "detail"]


def _customer_checks() -> Any:
    """R2, R3, R19 as one query: (rule, id, group_id, detail)."""
    co = aliased(C, name="co")
    base = select(C.id, C.group_id).join(G, G.id == C.group_id)
    with_company = base.add_columns(co.id.label("co_id")).join(co, co.id == C.company_id)
    return union_all(
        base.add_columns(
            literal("R2").label("rule"), literal("a company in one-level group").label("detail")
        ).where(G.model == "one-level", C.kind == "company"),
        base.add_columns(literal("R2"), literal("a contact of a one-level group has a company")).where(
            G.model == "one-level", C.kind == "contact", C.company_id.is_not(None)
        ),
        base.add_columns(literal("R3"), literal("a contact of a two-level group without a company")).where(
            G.model == "two-level", C.kind == "contact", C.company_id.is_(None)
        ),
        with_company.with_only_columns(
            C.id, C.group_id, literal("R3"), literal("its company is not a company of its group")
        ).where(G.model == "two-level", or_(co.kind != "company", co.group_id != C.group_id)),
        with_company.with_only_columns(
            C.id, C.group_id, literal("R19"), literal("active contact of a deactivated company")
        ).where(C.active.is_(True), co.active.is_(False)),
    ).subquery()


def _ticket_checks() -> Any:
    """R14, R15, R18 as one query: (rule, id, group_id, detail) with one row per ticket and finding."""
    main = aliased(C, name="main")
    gm = aliased(G, name="gm")
    tk = select(T.id, main.group_id).outerjoin(main, main.id == T.main_customer_id)
    blocking = deactivation.blocking_tickets(select(C.id).where(C.active.is_(False))).subquery()
    return union_all(
        tk.add_columns(
            literal("R15").label("rule"), literal("the main customer does not exist").label("detail")
        ).where(main.id.is_(None)),
        tk.add_columns(literal("R15"), literal("an additional customer is also the main customer")).join(
            A, and_(A.ticket_id == T.id, A.customer_id == T.main_customer_id)
        ),
        tk.add_columns(
            literal("R14"), literal("a company is main customer; the group takes tickets for contacts only")
        )
        .join(gm, gm.id == main.group_id)
        .where(main.kind == "company", gm.model == "two-level", gm.tickets_for_companies.is_(False)),
        tk.add_columns(
            literal("R14"),
            literal("its queue ")
            + Queue.name
            + literal(" is not assigned to its main customer's group ")
            + gm.name,
        )
        .join(gm, gm.id == main.group_id)
        .join(Queue, Queue.id == T.queue_id)
        .where(
            ~select(QueueGroup.queue_id)
            .where(QueueGroup.queue_id == T.queue_id, QueueGroup.group_id == main.group_id)
            .exists()
        ),
        tk.add_columns(
            literal("R18"),
            (
                literal("names deactivated ")
                + blocking.c.role
                + literal(" customer #")
                + blocking.c.customer_id.cast(type_=C.name.type)
                + literal(" ")
                + blocking.c.customer_name
            ),
        ).join(blocking, blocking.c.id == T.id),
    ).subquery()


def field_problems(frame: pd.DataFrame, gdef: GroupDef, kind: str) -> pd.Series:
    """R4 for the customers of one group and kind (columns id, name, data): problem text per id."""
    defs = gdef.fields_for(kind)
    found: dict[int, list[str]] = {}
    values = pd.DataFrame(list(frame["data"].map(lambda d: d or {})), index=frame["id"])
    for name in values.columns:
        if name not in defs:
            for i in values.index[values[name].notna()]:
                found.setdefault(int(i), []).append(f"{name}: not a field of a {kind} in group {gdef.name!r}")
    for name, fd in defs.items():
        column = values[name] if name in values.columns else pd.Series(None, index=values.index, dtype=object)
        present = column.dropna()
        verdict: dict[str, str] = {}
        for value in {repr(v): v for v in present}.values():
            try:
                clean = validate_value(fd, value)
                if clean != value:
                    verdict[repr(value)] = f"{name}: {value!r} is not stored as validated ({clean!r})"
            except ValidationError as exc:
                verdict[repr(value)] = str(exc)
        for i, v in zip(present.index, present, strict=True):
            if repr(v) in verdict:
                found.setdefault(int(i), []).append(verdict[repr(v)])
        if fd.required:
            for i in column.index[column.isna()]:
                found.setdefault(int(i), []).append(f"{name}: is required and empty")
    names = [display_name(kind, d or {}) for d in frame["data"]]
    for i, stored, derived in zip(frame["id"], frame["name"], names, strict=True):
        if stored != derived:
            found.setdefault(int(i), []).append(
                f"the stored name {stored!r} is not the name its fields give ({derived!r})"
            )
    return pd.Series({i: "; ".join(p) for i, p in found.items()}, dtype=object)


def check_invariants(ctx: Context) -> pd.DataFrame:
    """Every violated invariant (see the module's list): one row per rule and record, columns rule,
    entity ("customer" or "ticket"), id, detail. Empty when the database is consistent. Looks at the
    groups the user may read (tickets by their main customer's group)."""
    readable = [ctx.group_ids[g] for g in ctx.readable_groups()]

    def op(work: UnitOfWork) -> pd.DataFrame:
        s = work.session
        frames = []
        for entity, checks in (("customer", _customer_checks()), ("ticket", _ticket_checks())):
            df = repo.frame_of(s, select(checks).order_by(checks.c.id))
            df = (
                df[df["group_id"].isna() | df["group_id"].isin(readable)]
                if entity == "ticket"
                else df[df["group_id"].isin(readable)]
            )
            found = df.groupby(["rule", "id"], as_index=False).agg(
                detail=("detail", lambda d: "; ".join(sorted(set(d))))
            )
            frames.append(found.assign(entity=entity))
        for gname, gid in ctx.group_ids.items():
            if gid not in readable or gname not in ctx.config.groups:
                continue
            gdef = ctx.config.groups[gname]
            for kind in ("company", "contact") if gdef.two_level else ("contact",):  # R2 covers the rest
                rows = repo.frame_of(s, select(C.id, C.name, C.data).where(C.group_id == gid, C.kind == kind))
                if rows.empty:
                    continue
                bad = field_problems(rows, gdef, kind)
                frames.append(
                    pd.DataFrame(
                        {
                            "rule": "R4",
                            "id": bad.index.astype("int64"),
                            "detail": bad.to_numpy(),
                            "entity": "customer",
                        }
                    )
                )
        out = pd.concat(
            [f for f in frames if not f.empty] or [pd.DataFrame(columns=COLUMNS)], ignore_index=True
        )
        out["_n"] = out["rule"].str[1:].astype(int)
        out = out.sort_values(["_n", "entity", "id"], ignore_index=True)[COLUMNS]
        return out.astype({"rule": object, "entity": object, "id": "int64", "detail": object})

    return ctx.read(op)


def contacts_of_deactivated_companies(group_ids: list[int]) -> Select[Any]:
    """The ids of the active contacts of deactivated companies (R19 violated) in these groups, in order."""
    co = aliased(C, name="co")
    return (
        select(C.id)
        .join(co, co.id == C.company_id)
        .where(C.active.is_(True), co.active.is_(False), C.group_id.in_(group_ids))
        .order_by(C.id)
    )


def deactivate_contacts_of_deactivated_companies(ctx: Context, *, dry_run: bool = False) -> Outcome:
    """Repair R19: deactivate the active contacts of deactivated companies in every group on which the
    user may read and deactivate, in one transaction, except those an open ticket names (R18): they stay
    active, listed as "blocked" with their tickets (see lifecycle.deactivate_unblocked)."""
    gids = [ctx.group_ids[g] for g in ctx.config.groups if ctx.may("read", g) and ctx.may("deactivate", g)]

    def op(work: UnitOfWork) -> Outcome:
        ids = list(work.session.scalars(contacts_of_deactivated_companies(gids)))
        return lifecycle.unblocked(ctx, work, ids, dry_run=dry_run)

    return ctx.write(op)
