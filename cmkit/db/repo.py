"""Reading and locking customers and tickets: the queries the services share."""

from __future__ import annotations

import gc
import numbers
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any, cast

import pandas as pd
from sqlalchemy import Column, ColumnElement, DateTime, Integer, Select, Table, literal, select, union_all
from sqlalchemy.orm import Session, aliased

from cmkit.db import columnar
from cmkit.db.among import among
from cmkit.db.schema import AdditionalCustomer, CustomerGroup, CustomerRow, Queue, TicketRow
from cmkit.errors import NotFound
from cmkit.values import Customer, Ticket

T, A, C = TicketRow, AdditionalCustomer, CustomerRow


def frame_of(session: Session, stmt: Any, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Run a select and return its rows as a DataFrame with the select's column names. On SQLite an
    unordered select of integer, boolean and text columns is read by columns (`columnar`)."""
    with young_objects():
        return _frame_of(session, stmt, columns)


@contextmanager
def young_objects() -> Iterator[None]:
    """A block that makes many short-lived objects (a tuple per row, read into columns and dropped):
    Python's cyclic garbage collector pauses in it. Otherwise every 700 rows it would walk the rows read
    so far, move them to its older generations, and from there set off full collections of everything
    the process holds (a transfer of 100,000 tickets: 200 ms of collections). Rows hold no cycles: there
    is nothing for it to find in them, and reference counting frees them when they are dropped."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _frame_of(session: Session, stmt: Any, columns: Sequence[str] | None) -> pd.DataFrame:
    if columns is None and session.get_bind().dialect.name == "sqlite":
        read = columnar.sqlite_columns(session, stmt)
        if read is not None:
            return typed(read, _column_kinds(stmt, read.shape[1]))
    result = session.connection().execute(stmt)  # Core rows: no ORM loading for plain column selects
    names = list(columns or result.keys())
    processors = getattr(result._metadata, "_processors", None)  # the column types' result conversions
    if processors is None or len(processors) != len(names):  # pragma: no cover - another SQLAlchemy
        rows: Sequence[Any] = result.all()
        processors = [None] * len(names)
    else:  # the driver's tuples, converted column by column (Row objects cost 4 us each at 100,000 rows)
        rows = result.cursor.fetchall()
        result.close()
    if not rows:
        return typed(pd.DataFrame([], columns=names), _column_kinds(stmt, len(names)))
    cols = [
        list(col) if conv is None else [None if v is None else conv(v) for v in col]
        for col, conv in zip(zip(*rows, strict=True), processors, strict=True)
    ]
    df = pd.DataFrame(dict(enumerate(cols)))
    df.columns = pd.Index(names)  # (names may repeat)
    return typed(df, _column_kinds(stmt, len(names)))


def _column_kinds(stmt: Any, width: int) -> list[str]:
    """Per column of the select: "optional" for an integer column that may be NULL (an optional id),
    "integer" for another integer column, "time" for a time, "" for the rest (and where the select does
    not say)."""
    selected = list(getattr(stmt, "selected_columns", []))
    if len(selected) != width:
        return [""] * width
    kinds = []
    for c in selected:
        base = columnar.underlying(c)
        if isinstance(getattr(c, "type", None), DateTime):
            kinds.append("time")
        elif not isinstance(getattr(c, "type", None), Integer):
            kinds.append("")
        else:
            kinds.append("optional" if isinstance(base, Column) and base.nullable else "integer")
    return kinds


def typed(df: pd.DataFrame, kinds: Sequence[str]) -> pd.DataFrame:
    """One style for every frame read: times as timezone-aware UTC (SQLite gives them without their zone;
    they are stored as UTC), and integer columns that may be NULL (optional ids) as nullable integers,
    whether or not this frame has a missing one: Int64 shows 3172 and <NA>, not 3172.0 and NaN."""
    for pos, kind in enumerate(kinds):
        col = df.iloc[:, pos]
        if pd.api.types.is_datetime64_any_dtype(col.dtype):
            aware = col.dt.tz_localize("UTC") if col.dt.tz is None else col.dt.tz_convert("UTC")
            df.isetitem(pos, aware)
        elif kind == "time":  # no time at all in this frame (None everywhere), or no rows
            df.isetitem(pos, pd.to_datetime(col, utc=True).array)
        elif kind == "optional" or (kind == "integer" and col.dtype == object and col.isna().any()):
            df.isetitem(pos, col.astype("Int64").array)
        elif kind == "integer" and col.dtype == object:  # no rows
            df.isetitem(pos, col.astype("int64").to_numpy())
    return df


def table_of(entity: Any) -> Table:
    """The Core table of an ORM class, for executemany statements with bound parameters per row."""
    return cast(Table, entity.__table__)


def lock_customers(session: Session, ids: Iterable[int], *, shared: bool) -> None:
    """PostgreSQL: lock these customers' rows (in id order, so two operations cannot deadlock).

    `shared` (FOR SHARE) for operations that need the customers to stay as they are, exclusive
    (FOR UPDATE) for those that change them. SQLite needs none: its writers hold the file's write lock.
    """
    wanted = sorted({id_of(i) for i in ids})
    if not wanted or session.get_bind().dialect.name == "sqlite":
        return
    session.execute(select(C.id).where(among(C.id, wanted)).order_by(C.id).with_for_update(read=shared)).all()


def lock_tickets_of(session: Session, customer_ids: Iterable[int]) -> None:
    """PostgreSQL: lock (FOR UPDATE, in id order) every ticket, open or closed, that names these customers.

    An operation that rewrites tickets' customers (transfer, merge) takes these locks before it plans, so
    no close, reopen, added customer or other transfer on the same tickets interleaves with its statements
    (which would leave a customer twice on a ticket, or a protocol entry for a change that did not happen).
    """
    wanted = sorted({id_of(i) for i in customer_ids})
    if not wanted or session.get_bind().dialect.name == "sqlite":
        return
    lk = links(wanted)
    session.execute(
        select(T.id).where(T.id.in_(select(lk.c.ticket_id))).order_by(T.id).with_for_update(of=T)
    ).all()


def lock_contacts_of(session: Session, company_ids: int | Iterable[int]) -> None:
    """PostgreSQL: lock (FOR UPDATE, in id order, one statement) the contacts of this company or these."""
    wanted = [company_ids] if isinstance(company_ids, int) else sorted(set(company_ids))
    if wanted and session.get_bind().dialect.name != "sqlite":
        stmt = select(C.id).where(among(C.company_id, wanted)).order_by(C.id).with_for_update()
        session.execute(stmt).all()


def snapshots(session: Session, ids: Iterable[int]) -> dict[int, Customer]:
    """The customers `ids` as they are in the database now (one query, no ORM objects), by id; the ones
    that do not exist are left out."""
    stmt = (
        select(C.id, C.kind, C.company_id, C.active, C.name, C.data, C.version, CustomerGroup.name)
        .join(CustomerGroup, CustomerGroup.id == C.group_id)
        .where(among(C.id, ids))
    )
    return {row[0]: snapshot(row, row[-1]) for row in session.execute(stmt)}


def snapshot(row: CustomerRow | Any, group: str) -> Customer:
    return Customer(
        id=row.id,
        kind=row.kind,  # type: ignore[arg-type]
        group=group,
        company_id=row.company_id,
        active=bool(row.active),
        name=row.name,
        fields=MappingProxyType(dict(row.data or {})),
        version=row.version,
    )


MAX_ID = 2**31 - 1  # ids are INTEGER columns: 32 bits on PostgreSQL


def id_of(value: Any, what: str = "customer") -> int:
    """The record id that `value` (an id, a numeric string, or a Customer / Ticket) stands for.

    Refuses (NotFound) anything else: text that is not a whole number, fractions, booleans, and numbers
    outside the range of ids, so that no such value reaches the database driver.
    """
    raw = value.id if isinstance(value, Customer | Ticket) else value
    number: int | None = None
    if isinstance(raw, bool):
        number = None
    elif isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit() and len(raw.strip()) <= 10:
        number = int(raw)
    elif isinstance(raw, numbers.Integral):
        number = int(raw)
    elif isinstance(raw, numbers.Real) and float(raw).is_integer():
        number = int(float(raw))
    if number is None:
        raise NotFound(f"{what} id must be a whole number, got {value!r}")
    if not 1 <= number <= MAX_ID:
        raise NotFound(f"{what} #{number} does not exist (ids run from 1 to {MAX_ID})")
    return number


def customer_row(session: Session, customer_id: Any) -> tuple[CustomerRow, str]:
    """The customer's row and group name, or NotFound."""
    cid = id_of(customer_id)
    found = session.execute(
        select(C, CustomerGroup.name)
        .join(CustomerGroup, CustomerGroup.id == C.group_id)
        .where(C.id == cid)
        .execution_options(populate_existing=True)
    ).first()
    if found is None:
        raise NotFound(f"customer #{cid} does not exist (deleted, or never created); search for it by name")
    return found[0], found[1]


def ticket_row(session: Session, ticket_id: Any, *, lock: bool = False) -> TicketRow:
    tid = id_of(ticket_id, "ticket")
    stmt = select(T).where(T.id == tid).execution_options(populate_existing=True)
    if lock and session.get_bind().dialect.name != "sqlite":
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).first()
    if row is None:
        raise NotFound(f"ticket #{tid} does not exist")
    return row


def ticket_value(session: Session, row: TicketRow) -> Ticket:
    queue = session.execute(select(Queue.name).where(Queue.id == row.queue_id)).scalar_one()
    extra = session.scalars(select(A.customer_id).where(A.ticket_id == row.id).order_by(A.customer_id)).all()
    return Ticket(
        id=row.id,
        number=row.number,
        subject=row.subject,
        queue=queue,
        state=row.state,  # type: ignore[arg-type]
        main_customer_id=row.main_customer_id,
        additional_customer_ids=tuple(extra),
    )


def links(customer_ids: Any, *, main_states: Sequence[str] | None = None, few: bool = False) -> Any:
    """Every (ticket_id, customer_id, role) where one of `customer_ids` (values or a select) is on a ticket;
    with `main_states`, the tickets they are the main customer of only in these states (found in the index
    on main customer and state). The additional customers' tickets are left to the caller to filter.

    `few`: read before the statement they join (a materialized CTE), for links that are few among many
    customers asked (the open tickets of a company's 10,000 contacts), so that the planner does not look up
    every customer asked before it finds no ticket (SQLite: 8.7 ms to 3.9 ms)."""
    main = select(
        T.id.label("ticket_id"), T.main_customer_id.label("customer_id"), literal("main").label("role")
    ).where(among(T.main_customer_id, customer_ids))
    if main_states is not None:
        main = main.where(T.state.in_(list(main_states)))
    add = select(A.ticket_id, A.customer_id, literal("additional").label("role"))
    both = union_all(main, add.where(among(A.customer_id, customer_ids)))
    return both.cte("links").prefix_with("MATERIALIZED") if few else both.subquery("links")


def linked_tickets(
    customer_ids: Any, states: Sequence[str] = ("open", "closed"), *, few: bool = False
) -> Select[Any]:
    """The tickets on which `customer_ids` appear, one row per ticket and customer, with the role;
    `few`: expected to be few for many customers (see `links`)."""
    lk = links(customer_ids, main_states=states, few=few)
    return (
        select(
            T.id.label("id"),
            T.number,
            T.subject,
            Queue.name.label("queue"),
            T.state,
            lk.c.customer_id,
            C.name.label("customer_name"),
            lk.c.role,
            T.created_at,
            T.closed_at,
        )
        .join(lk, lk.c.ticket_id == T.id)
        .join(Queue, Queue.id == T.queue_id)
        .join(C, C.id == lk.c.customer_id)
        .where(T.state.in_(list(states)))
        .order_by(T.id, lk.c.role.desc(), lk.c.customer_id)
    )


def company_and_contacts(company_id: int) -> Select[Any]:
    return select(C.id).where((C.id == company_id) | (C.company_id == company_id))


def on_tickets(session: Session, tickets: pd.DataFrame, customer_id: int) -> pd.Series:
    """Per ticket of `tickets` (its `id` and `main_customer_id`, as read in this transaction): whether
    `customer_id` is on it, as main or additional customer. The customer's additional links are read
    once (a range of an index) instead of probed per ticket (100,000 tickets on SQLite: 220 ms of 480)."""
    extra = session.execute(select(A.ticket_id).where(A.customer_id == customer_id)).scalars().all()
    return (tickets["main_customer_id"] == customer_id) | tickets["id"].isin(extra)


def on_ticket(ticket_id: Any, customer_id: Any) -> ColumnElement[bool]:
    """True where `customer_id` is the main or an additional customer of the ticket `ticket_id`.

    The subqueries read aliases, so that `ticket_id` (a column of the enclosing statement, which may
    itself be on `tickets` or on the additional customers) correlates instead of matching every row. A
    probe per row, not `ticket_id IN (the customer's tickets)`: PostgreSQL hashes such a set only when it
    fits in work_mem, and otherwise reads it again for every row (a target with 100,000 tickets).
    """
    t, a = aliased(T), aliased(A)
    main = select(t.id).where(t.id == ticket_id, t.main_customer_id == customer_id).exists()
    add = select(a.ticket_id).where(a.ticket_id == ticket_id, a.customer_id == customer_id).exists()
    return main | add
