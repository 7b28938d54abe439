"""The search statements (R26-R28) per database, over the indexes of cmkit.db.search_ddl.

Queries are built from folded words (cmkit.domain.text: letters and digits only) and everything a user
typed reaches the database as a bound parameter, so quotes, `*`, `NEAR`, `%`, `_` or NUL never act as
syntax. SQLite matches words in the FTS5 tables. PostgreSQL finds the customers and tickets of the
rarest term in its word tables (cmkit.db.search_words) and checks every term with LIKE '% word%' (a word
starting with `word`) or '% word %' (the whole word) on their keys; when every term is common, it walks
the first rows in id order, or asks the trigram indexes that cover those expressions.

Every customer statement returns CustomerHit rows and every ticket statement TicketHit rows: their
fields are the select lists, in order. The driver gives plain tuples in that order (`CustomerHit._make`
names a row's fields; where rows are many, read them at `CustomerHit._fields.index(name)`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from cmkit.db import search_words as sw
from cmkit.db.search_ddl import KEY_PREFIXES, NAME_PREFIXES, TICKET_PREFIXES, name_part
from cmkit.db.search_sql import (
    PG_KEY,
    PG_NAME_KEY,
    Stmt,
    Terms,
    _like,
    _longest,
    _pg_matching,
    fts_source,
    pg_order,
    pg_source,
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


_CUSTOMER_SELECT = _select(CustomerHit._fields, "c", company="co.name")
_CUSTOMER_SELECT_NO_DATA = _select(CustomerHit._fields, "c", company="co.name", data="NULL")
_TICKET_SELECT = (
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


def _frozen(value: Any) -> Any:
    """`value` as a hashable key: dicts as sorted pairs, lists and tuples as tuples."""
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
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
    """(FROM clause giving `c`, WHERE condition, ORDER BY) for customers whose key matches `terms`."""
    if stmt.pg:
        expr = (PG_NAME_KEY if names_only else PG_KEY).format(t="c")
        return (
            pg_source(stmt, "customers", "c", budget),
            _like(stmt, expr, terms, prefix)
            if budget is not None or not stmt.rls
            else _pg_matching(stmt, "customers", "c", terms, prefix, names_only=names_only),
            pg_order("c", budget),
        )
    if names_only:
        table, key, longest = "customer_name_fts", name_part("c.search_key"), _longest(NAME_PREFIXES)
    else:
        table, key, longest = "customer_fts", "c.search_key", _longest(KEY_PREFIXES)
    frm, cond, order = fts_source(stmt, table, key, terms, prefix, longest, budget)
    return f"{frm} JOIN customers c ON c.id = f.rowid", cond, order


def _cap(budget: int | None) -> int:
    """The most index rows of a term that drive a search (see cmkit.db.search_words)."""
    return sw.BUDGET_CAP if budget is not None else sw.WORDS_CAP


def _pg_words(
    stmt: Stmt,
    terms: Terms,
    prefix: bool | Sequence[bool],
    names_only: bool,
    budget: int | None,
    cols: str,
    filters: Sequence[str],
    limit: int | None,
) -> str:
    """PostgreSQL: SELECT `cols` (over `c` and its company `co`) of the customers matching `terms` and
    `filters`, in id order, at most `limit`: driven from the word table when a term is rare enough,
    otherwise (every term common) the bounded walk of `budget`, or without a budget the trigram index
    (see cmkit.db.search_words)."""
    checks = _like(stmt, (PG_NAME_KEY if names_only else PG_KEY).format(t="c"), terms, prefix)
    lim = f" LIMIT {stmt.p(int(limit))}" if limit is not None else ""
    joined = "LEFT JOIN customers co ON co.id = c.company_id"
    whole = sw.whole_word(terms, prefix)
    ids = (
        sw.ordered_ids(stmt.p, sw.CUSTOMER_WORDS, terms[0], names_only, desc=False)
        if whole
        else sw.driven_ids(stmt.p, len(terms), _cap(budget))
    )
    # the customers of the rarest term, probed in id order (OFFSET 0: a nested loop that stops at the limit)
    driven = (
        f"SELECT h.* FROM {ids} CROSS JOIN LATERAL (SELECT {cols} FROM customers c {joined} "  # noqa: S608 - fixed SQL and placeholders only
        f"WHERE {' AND '.join(['c.id = ids.cid', checks, *filters])} OFFSET 0) h ORDER BY ids.cid{lim}"
    )
    if whole:  # one word: its customers in index order, exact with or without a budget
        return driven
    match = (
        checks
        if budget is not None or not stmt.rls
        else _pg_matching(stmt, "customers", "c", terms, prefix, names_only=names_only)
    )
    common = (
        f"SELECT {cols} FROM {pg_source(stmt, 'customers', 'c', budget)} {joined} "  # noqa: S608 - fixed SQL and placeholders only
        f"WHERE {' AND '.join([sw.chosen(0), match, *filters])} ORDER BY {pg_order('c', budget)}{lim}"
    )
    return (
        f"WITH {sw.choice_cte(stmt.p, terms, prefix, names_only, cap=_cap(budget))} "  # noqa: S608 - fixed SQL and placeholders only
        f"SELECT * FROM (({driven}) UNION ALL ({common})) u ORDER BY u.id{lim}"
    )


def _customer_filters(
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
    rls: bool = False,
) -> tuple[str, dict[str, Any]]:
    """Customers matching `terms`, in index order (CustomerHit rows, `data` only if asked);
    `budget`: see fts_source."""
    stmt = Stmt(pg, rls)
    cols = _CUSTOMER_SELECT if with_data else _CUSTOMER_SELECT_NO_DATA
    if pg and terms:
        filters = [stmt.among("c.group_id", group_ids)]
        _customer_filters(stmt, filters, active_only, kind, company_ids)
        return _pg_words(stmt, terms, prefix, names_only, budget, cols, filters, limit), stmt.params
    frm, cond, order = _customer_match(stmt, terms, prefix, names_only, budget)
    where = [cond, stmt.among("c.group_id", group_ids)]
    _customer_filters(stmt, where, active_only, kind, company_ids)
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
    _customer_filters(stmt, where, active_only, kind, company_ids)
    sql = (
        f"SELECT {_CUSTOMER_SELECT} FROM customers c "  # noqa: S608 - fixed SQL and placeholders only
        f"LEFT JOIN customers co ON co.id = c.company_id WHERE {' AND '.join(where)} ORDER BY c.id"
    )
    return sql, stmt.params


def _ticket_filters(
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
    rls: bool = False,
) -> tuple[str, dict[str, Any]]:
    """Tickets whose subject matches every term (word prefixes, or whole words), newest first (TicketHit
    rows); `budget`: see fts_source."""
    stmt = Stmt(pg, rls)
    if pg and terms:
        return _pg_ticket_words(stmt, terms, prefix, budget, group_ids, state, queue_id, limit), stmt.params
    if pg:
        frm, order = pg_source(stmt, "tickets", "t", budget, desc=True), pg_order("t", budget) + " DESC"
        where = [
            _like(stmt, PG_KEY.format(t="t"), terms, prefix)
            if budget is not None or not stmt.rls
            else _pg_matching(stmt, "tickets", "t", terms, prefix)
        ]
    else:
        source, cond, order = fts_source(
            stmt, "ticket_fts", "t.search_key", terms, prefix, _longest(TICKET_PREFIXES), budget, desc=True
        )
        frm, where = f"{source} JOIN tickets t ON t.id = f.rowid", [cond]
    _ticket_filters(stmt, where, group_ids, state, queue_id)
    sql = _TICKET_SELECT.format(frm=frm) + f" WHERE {' AND '.join(where)}" + _order_by(order)
    if limit is not None:
        sql += f" LIMIT {stmt.p(int(limit))}"
    return sql, stmt.params


def _pg_ticket_words(
    stmt: Stmt,
    terms: Terms,
    prefix: bool,
    budget: int | None,
    group_ids: Sequence[int],
    state: str | None,
    queue_id: int | None,
    limit: int | None,
) -> str:
    """PostgreSQL: tickets whose subject matches `terms`, newest first, as _pg_words finds customers: from
    the rarest term's tickets in `ticket_words`, or (every term common) the newest tickets' walk, or the
    trigram index."""
    checks = _like(stmt, PG_KEY.format(t="t"), terms, prefix)
    filters: list[str] = []
    _ticket_filters(stmt, filters, group_ids, state, queue_id)
    lim = f" LIMIT {stmt.p(int(limit))}" if limit is not None else ""
    whole = sw.whole_word(terms, prefix)
    ids = (
        sw.ordered_ids(stmt.p, sw.TICKET_WORDS, terms[0], False, desc=True)
        if whole
        else sw.driven_ids(stmt.p, len(terms), _cap(budget), desc=True)
    )
    driven = (
        f"SELECT h.* FROM {ids} CROSS JOIN LATERAL ("  # noqa: S608 - fixed SQL and placeholders only
        + _TICKET_SELECT.format(frm="tickets t")
        + f" WHERE {' AND '.join(['t.id = ids.cid', checks, *filters])} OFFSET 0) h ORDER BY ids.cid DESC{lim}"
    )
    if whole:  # one word: its tickets in index order, newest first, exact with or without a budget
        return driven
    match = (
        checks if budget is not None or not stmt.rls else _pg_matching(stmt, "tickets", "t", terms, prefix)
    )
    common = (
        _TICKET_SELECT.format(frm=pg_source(stmt, "tickets", "t", budget, desc=True))
        + f" WHERE {' AND '.join([sw.chosen(0), match, *filters])} ORDER BY {pg_order('t', budget)} DESC{lim}"
    )
    return (
        f"WITH {sw.choice_cte(stmt.p, terms, prefix, False, sw.TICKET_WORDS, _cap(budget))} "  # noqa: S608 - fixed SQL and placeholders only
        f"SELECT * FROM (({driven}) UNION ALL ({common})) u ORDER BY u.id DESC{lim}"
    )


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
    _ticket_filters(stmt, where, group_ids, state, queue_id)
    sql = _TICKET_SELECT.format(frm="tickets t") + f" WHERE {' AND '.join(where)} ORDER BY t.id DESC"
    if limit is not None:
        sql += f" LIMIT {stmt.p(int(limit))}"
    return sql, stmt.params


def _subject_match(stmt: Stmt, terms: Terms) -> str:
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
    rls: bool = False,
) -> tuple[str, dict[str, Any]]:
    """Tickets on which a customer whose name matches `terms` is main or additional customer, whatever
    that customer's state (R20: closed tickets of deactivated customers are found by their name), and
    whose subject matches `subject_terms` if given. Both the named customer and the ticket's main
    customer must be in `group_ids`. A ticket may come twice (two matching customers); the caller
    keeps the first. With `max_customers`, only the tickets of the first that many matching customers
    (in index order) are looked at: a common name must not make a quick search read every ticket."""
    stmt = Stmt(pg, rls)
    parts = []
    head = ""
    if pg and terms:  # the first `max_customers` matching customers (all of them without), by id, once
        head = f"WITH f AS MATERIALIZED ({_pg_words(stmt, terms, True, True, budget, 'c.id', (), max_customers)}) "
    for link in ("main", "additional"):
        if head:
            frm, cond, order = "f JOIN customers c ON c.id = f.id", "1 = 1", "f.id"
        else:
            frm, cond, order = _customer_match(stmt, terms, True, names_only=True, budget=budget)
        if max_customers is not None and not (pg and terms):
            key = "id" if pg else "rowid"
            frm = (
                f"(SELECT c.{key} AS cid FROM {frm} WHERE {cond}{_order_by(order)} "  # noqa: S608 - fixed SQL
                f"LIMIT {stmt.p(int(max_customers))}) f JOIN customers c ON c.id = f.cid"
            )
            cond, order = "1 = 1", "f.cid"
        if link == "main":
            frm += " JOIN tickets t ON t.main_customer_id = c.id"
        else:
            frm += " JOIN ticket_additional_customers a ON a.customer_id = c.id JOIN tickets t ON t.id = a.ticket_id"
        where = [cond, stmt.among("c.group_id", group_ids)]
        _ticket_filters(stmt, where, group_ids, state, queue_id)
        if subject_terms:
            where.append(_subject_match(stmt, subject_terms))
        part = _TICKET_SELECT.format(frm=frm) + f" WHERE {' AND '.join(where)}"
        if limit is not None:
            part = f"SELECT * FROM ({part}{_order_by(order)} LIMIT {stmt.p(int(limit))}) {link}_part"  # noqa: S608 - fixed SQL and placeholders only
        parts.append(part)
    return head + " UNION ALL ".join(parts), stmt.params


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
    _ticket_filters(stmt, where, group_ids, state, queue_id)
    sql = _TICKET_SELECT.format(frm="tickets t") + f" WHERE {' AND '.join(where)} ORDER BY t.id DESC"
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
