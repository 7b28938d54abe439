"""The search statements (R26-R28) per database, over the indexes of cmkit.db.search_ddl.

Queries are built from folded words (cmkit.domain.text: letters and digits only) and everything a user
typed reaches the database as a bound parameter, so quotes, `*`, `NEAR`, `%`, `_` or NUL never act as
syntax. The statements matching words here are SQLite's, in the FTS5 tables; PostgreSQL's searches for
words are the ways of cmkit.db.search_pg over its word tables, which use the select lists, filters, the
subject check and the statements without words (by number, all tickets, inactive ids) of this module.

Every customer statement returns CustomerHit rows and every ticket statement TicketHit rows: their
fields are the select lists, in order. The driver gives plain tuples in that order (`CustomerHit._make`
names a row's fields; where rows are many, read them at `CustomerHit._fields.index(name)`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from cmkit.db.search_ddl import KEY_PREFIXES, NAME_PREFIXES, TICKET_PREFIXES, name_part
from cmkit.db.search_sql import (
    PG_KEY,
    Stmt,
    Terms,
    _like,
    _longest,
    fts_source,
)


class CustomerHit(NamedTuple):
    """A customer found: the select list of every customer search, in this order."""

    id: int
    name: str
    kind: str
    group_id: int
    active: bool  # 0 or 1 on SQLite
    company_id: int | None
    company: str | None  # the company's name
    data: Any = None  # the data fields (JSON text on SQLite); NULL unless a detail search asks for them


class TicketHit(NamedTuple):
    """A ticket found: the select list of every ticket search, in this order."""

    id: int
    number: str
    subject: str
    queue: str  # the queue's name
    state: str
    main_customer_id: int
    customer: str  # the main customer's name
    created_at: dt.datetime | str  # text on SQLite


def _select(fields: Iterable[str], alias: str, **exprs: str) -> str:
    """The select list of `fields`: `alias.field`, or the field's expression in `exprs` named as the field."""
    return ", ".join(f"{exprs[f]} AS {f}" if f in exprs else f"{alias}.{f}" for f in fields)


CUSTOMER_SELECT = _select(CustomerHit._fields, "c", company="co.name")
CUSTOMER_SELECT_NO_DATA = _select(CustomerHit._fields, "c", company="co.name", data="NULL")
TICKET_SELECT = (
    f"SELECT {_select(TicketHit._fields, 't', queue='q.name', customer='m.name')} "  # noqa: S608 - fixed SQL
    "FROM {frm} JOIN customers m ON m.id = t.main_customer_id JOIN queues q ON q.id = t.queue_id"
)


#: index rows of a truncated long prefix read before the search asks for the exact (merged) prefix instead
SCAN_BUDGET = 1000


def budgeted(
    build: Callable[..., tuple[str, dict[str, Any]]], **kwargs: Any
) -> list[tuple[str, dict[str, Any]]]:
    """The statements of one search step to run in turn until one finds as many rows as wanted: with
    the scan budget first (fast for common prefixes), then, if it differs, without (exact). Built once
    per search asked (an autocomplete asks the same few prefixes again and again); the statements and
    their parameters are shared, and never changed by those who run them."""
    return _budgeted(build, _frozen(kwargs), SCAN_BUDGET)


def _frozen(kwargs: dict[str, Any]) -> Any:
    """The keywords as a hashable key: (name, value) pairs, a list as a tuple. The search steps pass lists
    of ints, bools or tuples of words, so one level does (an autocomplete spent 10 us on the deep walk);
    anything deeper is walked whole."""
    key = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items())
    try:
        hash(key)
    except TypeError:
        return _deep_frozen(kwargs)
    return key


def _deep_frozen(value: Any) -> Any:
    """`value` as a hashable key: dicts as sorted pairs, lists and tuples as tuples."""
    if isinstance(value, dict):
        return tuple(sorted((k, _deep_frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_deep_frozen(v) for v in value)
    return value


@lru_cache(maxsize=1024)
def _budgeted(
    build: Callable[..., tuple[str, dict[str, Any]]], key: tuple[tuple[str, Any], ...], budget: int
) -> list[tuple[str, dict[str, Any]]]:
    kwargs = dict(key)
    first, exact = build(**kwargs, budget=budget), build(**kwargs, budget=None)
    return [first] if first[0] == exact[0] else [first, exact]


def _customer_match(
    stmt: Stmt, terms: Terms, prefix: bool | Sequence[bool], names_only: bool, budget: int | None = None
) -> tuple[str, str, str]:
    """SQLite: (FROM clause giving `c`, WHERE condition, ORDER BY) for customers whose key matches `terms`."""
    if names_only:
        table, key, longest = "customer_name_fts", name_part("c.search_key"), _longest(NAME_PREFIXES)
    else:
        table, key, longest = "customer_fts", "c.search_key", _longest(KEY_PREFIXES)
    frm, cond, order = fts_source(stmt, table, key, terms, prefix, longest, budget)
    return f"{frm} JOIN customers c ON c.id = f.rowid", cond, order


def _sqlite_only(pg: bool, terms: Terms | None) -> None:
    """The statements matching words here are SQLite's; PostgreSQL's are cmkit.db.search_pg's ways."""
    if pg and terms:
        raise ValueError("PostgreSQL searches for words run through cmkit.db.search_pg")


def customer_filters(
    stmt: Stmt, where: list[str], active_only: bool, kind: str | None, company_ids: Sequence[int] | None
) -> None:
    if active_only:
        where.append("c.active" if stmt.pg else "c.active = 1")
    if kind:
        where.append(f"c.kind = {stmt.p(kind)}")
    if company_ids is not None:
        where.append(stmt.among("c.company_id", company_ids))


def customers_query(
    pg: bool,
    terms: Terms,
    *,
    prefix: bool | Sequence[bool],
    names_only: bool,
    group_ids: Sequence[int],
    active_only: bool = True,
    kind: str | None = None,
    limit: int | None = None,
    with_data: bool = False,
    company_ids: Sequence[int] | None = None,
    budget: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """SQLite: customers matching `terms`, in index order (CustomerHit rows, `data` only if asked);
    `budget`: see fts_source."""
    _sqlite_only(pg, terms)
    stmt = Stmt(pg)
    cols = CUSTOMER_SELECT if with_data else CUSTOMER_SELECT_NO_DATA
    frm, cond, order = _customer_match(stmt, terms, prefix, names_only, budget)
    where = [cond, stmt.among("c.group_id", group_ids)]
    customer_filters(stmt, where, active_only, kind, company_ids)
    sql = (
        f"SELECT {cols} FROM {frm} LEFT JOIN customers co ON co.id = c.company_id "  # noqa: S608 - fixed SQL and placeholders only
        f"WHERE {' AND '.join(where)}" + _order_by(order)
    )
    if limit is not None:
        sql += f" LIMIT {stmt.p(int(limit))}"
    return sql, stmt.params


def customers_scan(
    pg: bool,
    *,
    group_ids: Sequence[int],
    active_only: bool,
    kind: str | None,
    company_ids: Sequence[int] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Every customer of `group_ids` (for detail searches on fields without an index): CustomerHit rows
    with `data`."""
    stmt = Stmt(pg)
    where = [stmt.among("c.group_id", group_ids)]
    customer_filters(stmt, where, active_only, kind, company_ids)
    sql = (
        f"SELECT {CUSTOMER_SELECT} FROM customers c "  # noqa: S608 - fixed SQL and placeholders only
        f"LEFT JOIN customers co ON co.id = c.company_id WHERE {' AND '.join(where)} ORDER BY c.id"
    )
    return sql, stmt.params


def ticket_filters(
    stmt: Stmt, where: list[str], group_ids: Sequence[int], state: str | None, queue_id: int | None
) -> None:
    where.append(stmt.among("m.group_id", group_ids))
    if state:
        where.append(f"t.state = {stmt.p(state)}")
    if queue_id is not None:
        where.append(f"t.queue_id = {stmt.p(queue_id)}")


def tickets_by_subject(
    pg: bool,
    terms: Terms,
    *,
    group_ids: Sequence[int],
    state: str | None = None,
    queue_id: int | None = None,
    limit: int | None = None,
    prefix: bool = True,
    budget: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """SQLite: tickets whose subject matches every term (word prefixes, or whole words), newest first
    (TicketHit rows); `budget`: see fts_source."""
    _sqlite_only(pg, terms)
    stmt = Stmt(pg)
    source, cond, order = fts_source(
        stmt, "ticket_fts", "t.search_key", terms, prefix, _longest(TICKET_PREFIXES), budget, desc=True
    )
    frm, where = f"{source} JOIN tickets t ON t.id = f.rowid", [cond]
    ticket_filters(stmt, where, group_ids, state, queue_id)
    sql = TICKET_SELECT.format(frm=frm) + f" WHERE {' AND '.join(where)}" + _order_by(order)
    if limit is not None:
        sql += f" LIMIT {stmt.p(int(limit))}"
    return sql, stmt.params


def _order_by(order: str) -> str:
    return f" ORDER BY {order}" if order else ""


def tickets_by_number(
    pg: bool,
    prefixes: Sequence[str],
    *,
    group_ids: Sequence[int],
    state: str | None = None,
    queue_id: int | None = None,
    limit: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """Tickets whose number starts with one of `prefixes` (upper-case 'T' and digits only)."""
    stmt = Stmt(pg)
    ors = []
    for pre in prefixes:
        if pg:  # the text_pattern_ops index's own operators, leakproof: usable under row-level security
            ors.append(f"(t.number ~>=~ {stmt.p(pre)} AND t.number ~<~ {stmt.p(pre + chr(0x7F))})")
        else:
            ors.append(f"(t.number >= {stmt.p(pre)} AND t.number < {stmt.p(pre + chr(0x7F))})")
    where = ["(" + " OR ".join(ors) + ")"]
    ticket_filters(stmt, where, group_ids, state, queue_id)
    sql = TICKET_SELECT.format(frm="tickets t") + f" WHERE {' AND '.join(where)} ORDER BY t.id DESC"
    if limit is not None:
        sql += f" LIMIT {stmt.p(int(limit))}"
    return sql, stmt.params


def subject_match(stmt: Stmt, terms: Terms) -> str:
    """The ticket `t`'s subject matches `terms` (checked on its key: used on few, known tickets)."""
    return _like(stmt, PG_KEY.format(t="t"), terms, True)


def tickets_by_customer(
    pg: bool,
    terms: Terms,
    *,
    group_ids: Sequence[int],
    state: str | None = None,
    queue_id: int | None = None,
    limit: int | None = None,
    subject_terms: Terms | None = None,
    max_customers: int | None = None,
    budget: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """SQLite: tickets on which a customer whose name matches `terms` is main or additional customer, whatever
    that customer's state (R20: closed tickets of deactivated customers are found by their name), and
    whose subject matches `subject_terms` if given. Both the named customer and the ticket's main
    customer must be in `group_ids`. A ticket may come twice (two matching customers); the caller
    keeps the first. With `max_customers`, only the tickets of the first that many matching customers
    (in index order) are looked at: a common name must not make a quick search read every ticket."""
    _sqlite_only(pg, terms)
    stmt = Stmt(pg)

    def first(max_customers: int) -> str:
        """The ids of the first `max_customers` customers named so, in index order (a subquery)."""
        frm, cond, order = _customer_match(stmt, terms, True, names_only=True, budget=budget)
        return (
            f"(SELECT c.rowid FROM {frm} WHERE {cond}{_order_by(order)} LIMIT {stmt.p(int(max_customers))})"  # noqa: S608 - fixed SQL
        )

    def customers() -> tuple[str, str, str]:
        """FROM giving `c`, WHERE, ORDER BY of the customers named so (asked once per part). The first
        `max_customers` of them as `c.id IN (...)`, ordered by `c.id`: SQLite walks the list in order,
        so the tickets come in that order without being sorted, and the part stops at its limit."""
        if max_customers is None:
            return _customer_match(stmt, terms, True, names_only=True, budget=budget)
        return "customers c", f"c.id IN {first(max_customers)}", "c.id"

    # With both limits, the additional part is read only if the main part found fewer than `limit` (SQLite
    # stops a UNION ALL at the outer LIMIT: a common name 0.57 to 0.28 ms), and leaves out the tickets
    # whose main customer is one of those customers: the main part has them all then, so no ticket comes
    # twice from the two parts.
    lazy = limit is not None and max_customers is not None
    parts = []
    for link in ("main", "additional"):
        frm, cond, order = customers()
        if link == "main":
            frm += " JOIN tickets t ON t.main_customer_id = c.id"
        else:
            frm += " JOIN ticket_additional_customers a ON a.customer_id = c.id JOIN tickets t ON t.id = a.ticket_id"
        where = [cond, stmt.among("c.group_id", group_ids)]
        ticket_filters(stmt, where, group_ids, state, queue_id)
        if subject_terms:
            where.append(subject_match(stmt, subject_terms))
        if lazy and link == "additional":
            where.append(f"t.main_customer_id NOT IN {first(int(max_customers or 0))}")
        part = TICKET_SELECT.format(frm=frm) + f" WHERE {' AND '.join(where)}"
        if limit is not None:
            part = f"SELECT * FROM ({part}{_order_by(order)} LIMIT {stmt.p(int(limit))}) {link}_part"  # noqa: S608 - fixed SQL and placeholders only
        parts.append(part)
    both = " UNION ALL ".join(parts)
    if lazy:
        both = f"SELECT * FROM ({both}) LIMIT {stmt.p(int(limit or 0))}"  # noqa: S608 - fixed SQL and placeholders only
    return both, stmt.params


def tickets_all(
    pg: bool,
    *,
    group_ids: Sequence[int],
    state: str | None = None,
    queue_id: int | None = None,
    limit: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """Every ticket whose main customer is in `group_ids`, newest first."""
    stmt = Stmt(pg)
    where: list[str] = []
    ticket_filters(stmt, where, group_ids, state, queue_id)
    sql = TICKET_SELECT.format(frm="tickets t") + f" WHERE {' AND '.join(where)} ORDER BY t.id DESC"
    if limit is not None:
        sql += f" LIMIT {stmt.p(int(limit))}"
    return sql, stmt.params


def inactive_ids(pg: bool, ids: Sequence[int]) -> tuple[str, dict[str, Any]]:
    """Which of these customers are deactivated."""
    stmt = Stmt(pg)
    return f"SELECT id FROM customers WHERE active = {stmt.p(False)} AND {stmt.among('id', ids)}", stmt.params  # noqa: S608 - fixed SQL and placeholders only


def queue_id(pg: bool, name: str) -> tuple[str, dict[str, Any]]:
    stmt = Stmt(pg)
    return f"SELECT id FROM queues WHERE name = {stmt.p(name)}", stmt.params  # noqa: S608 - fixed SQL and placeholders only


def config_revision(pg: bool, key: str) -> tuple[str, dict[str, Any]]:
    stmt = Stmt(pg)
    return f"SELECT value FROM settings WHERE key = {stmt.p(key)}", stmt.params  # noqa: S608 - fixed SQL and placeholders only
