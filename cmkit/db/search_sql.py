"""Search indexes and queries per database: SQLite FTS5, PostgreSQL pg_trgm (with btree for numbers).

Queries are built from folded words (cmkit.domain.text: letters and digits only) and everything a user
typed reaches the database as a bound parameter, so quotes, `*`, `NEAR`, `%`, `_` or NUL never act as
syntax. The indexes are kept true inside the transaction that changes the data: on SQLite by triggers
on `customers` and `tickets` (every writer, bulk updates included), on PostgreSQL by the indexes
themselves (expression indexes over the stored folded keys).

SQLite: `customer_name_fts` indexes the name part of `customers.search_key` (autocomplete),
`customer_fts` the whole key (quick and detail search), `ticket_fts` `tickets.search_key` (subjects).
All three are contentless FTS5 tables (rowid = the row's id) with the `ascii` tokenizer, so an FTS token
is exactly a folded word, and prefix indexes for short prefixes.
PostgreSQL: GIN trigram indexes over `' ' || search_key || ' '` (and over its name part), matched with
LIKE '% word%' (a word starting with `word`) or '% word %' (the whole word), and a text_pattern_ops
btree on tickets.number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cmkit.domain.text import PART_SEP

Terms = Sequence[tuple[str, ...]]

#: names of the database objects that live outside the ORM metadata (migrations compare without them)
SEARCH_TABLES = ("customer_fts", "customer_name_fts", "ticket_fts")
SEARCH_INDEX_PREFIX = "ix_search_"

# Prefix lengths with an index of their own (FTS5 reads those lazily, in index order); a longer prefix is
# answered by reading the whole range of its terms first (fast for rare words, slower for common ones).
NAME_PREFIXES = "1 2 3 4 5 6 7 8"
KEY_PREFIXES = "1 2 3 4 5 6 7 8"
TICKET_PREFIXES = "1 2 3 4 5 6"


def is_search_object(name: str | None) -> bool:
    """Whether `name` is one of the search tables (or their FTS5 shadow tables) or search indexes."""
    if not name:
        return False
    return name.startswith(SEARCH_INDEX_PREFIX) or any(
        name == t or name.startswith(t + "_") for t in SEARCH_TABLES
    )


def _name_part(key: str) -> str:
    """SQLite expression: the name part of the search key `key` (see cmkit.domain.text.PART_SEP)."""
    return f"substr({key}, 1, instr({key} || '{PART_SEP}', '{PART_SEP}') - 1)"


def sqlite_ddl() -> list[str]:
    """The FTS5 tables and the triggers that keep them true (idempotent: IF NOT EXISTS)."""
    fts = "content='', detail=none, tokenize='ascii'"
    out = [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS customer_name_fts USING fts5(k, {fts}, prefix='{NAME_PREFIXES}')",
        f"CREATE VIRTUAL TABLE IF NOT EXISTS customer_fts USING fts5(k, {fts}, prefix='{KEY_PREFIXES}')",
        f"CREATE VIRTUAL TABLE IF NOT EXISTS ticket_fts USING fts5(k, {fts}, prefix='{TICKET_PREFIXES}')",
    ]
    add_c = (
        "INSERT INTO customer_fts(rowid, k) VALUES (new.id, new.search_key); "  # noqa: S608 - fixed SQL and placeholders only
        f"INSERT INTO customer_name_fts(rowid, k) VALUES (new.id, {_name_part('new.search_key')});"
    )
    drop_c = (
        "INSERT INTO customer_fts(customer_fts, rowid, k) VALUES ('delete', old.id, old.search_key); "  # noqa: S608 - fixed SQL and placeholders only
        "INSERT INTO customer_name_fts(customer_name_fts, rowid, k) "
        f"VALUES ('delete', old.id, {_name_part('old.search_key')});"
    )
    add_t = "INSERT INTO ticket_fts(rowid, k) VALUES (new.id, new.search_key);"
    drop_t = "INSERT INTO ticket_fts(ticket_fts, rowid, k) VALUES ('delete', old.id, old.search_key);"
    out += [
        f"CREATE TRIGGER IF NOT EXISTS customers_search_ai AFTER INSERT ON customers BEGIN {add_c} END",
        f"CREATE TRIGGER IF NOT EXISTS customers_search_ad AFTER DELETE ON customers BEGIN {drop_c} END",
        "CREATE TRIGGER IF NOT EXISTS customers_search_au AFTER UPDATE OF search_key, id ON customers "
        f"WHEN old.search_key IS NOT new.search_key OR old.id IS NOT new.id BEGIN {drop_c} {add_c} END",
        f"CREATE TRIGGER IF NOT EXISTS tickets_search_ai AFTER INSERT ON tickets BEGIN {add_t} END",
        f"CREATE TRIGGER IF NOT EXISTS tickets_search_ad AFTER DELETE ON tickets BEGIN {drop_t} END",
        "CREATE TRIGGER IF NOT EXISTS tickets_search_au AFTER UPDATE OF search_key, id ON tickets "
        f"WHEN old.search_key IS NOT new.search_key OR old.id IS NOT new.id BEGIN {drop_t} {add_t} END",
    ]
    return out


SQLITE_TRIGGERS = (
    "customers_search_ai",
    "customers_search_ad",
    "customers_search_au",
    "tickets_search_ai",
    "tickets_search_ad",
    "tickets_search_au",
)


def sqlite_refill() -> list[str]:
    """Statements that rebuild the FTS5 tables from the stored keys (after a bulk load or a repair)."""
    return [
        "INSERT INTO customer_fts(customer_fts) VALUES ('delete-all')",
        "INSERT INTO customer_name_fts(customer_name_fts) VALUES ('delete-all')",
        "INSERT INTO ticket_fts(ticket_fts) VALUES ('delete-all')",
        "INSERT INTO customer_fts(rowid, k) SELECT id, search_key FROM customers",
        f"INSERT INTO customer_name_fts(rowid, k) SELECT id, {_name_part('search_key')} FROM customers",  # noqa: S608 - fixed SQL and placeholders only
        "INSERT INTO ticket_fts(rowid, k) SELECT id, search_key FROM tickets",
    ]


def sqlite_ensure(conn: Any) -> bool:
    """Recreate missing search tables or triggers and refill the FTS tables (a migration that rebuilt
    `customers` or `tickets` in SQLite's batch mode drops their triggers). True if it had to."""
    have = {
        r[0]
        for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
    }
    if "customers" not in have or ({*SEARCH_TABLES, *SQLITE_TRIGGERS} <= have):
        return False
    for ddl in sqlite_ddl() + sqlite_refill():
        conn.exec_driver_sql(ddl)
    return True


def sqlite_drop() -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {t}" for t in SQLITE_TRIGGERS] + [
        f"DROP TABLE IF EXISTS {t}" for t in SEARCH_TABLES
    ]


PG_INDEXES = {
    "ix_search_customers_trgm": "ON customers USING gin ((' ' || search_key || ' ') gin_trgm_ops)",
    "ix_search_customers_name_trgm": f"ON customers USING gin ((' ' || split_part(search_key, '{PART_SEP}', 1) || ' ') gin_trgm_ops)",
    "ix_search_tickets_trgm": "ON tickets USING gin ((' ' || search_key || ' ') gin_trgm_ops)",
    "ix_search_tickets_number": "ON tickets (number text_pattern_ops)",
}


def postgresql_ddl() -> list[str]:
    return ["CREATE EXTENSION IF NOT EXISTS pg_trgm"] + [
        f"CREATE INDEX IF NOT EXISTS {name} {spec}" for name, spec in PG_INDEXES.items()
    ]


def postgresql_drop() -> list[str]:
    return [f"DROP INDEX IF EXISTS {name}" for name in PG_INDEXES]


# -- queries ------------------------------------------------------------------------------------------


@dataclass
class Stmt:
    """One statement under construction, with its bound parameters in the driver's style."""

    pg: bool
    params: dict[str, Any] = field(default_factory=dict)

    def p(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"%({name})s" if self.pg else f":{name}"

    def among(self, column: str, values: Iterable[Any]) -> str:
        vals = list(values)
        if not vals:
            return "1 = 0"
        if self.pg:
            return f"{column} = ANY({self.p(vals)})"
        return f"{column} IN ({', '.join(self.p(v) for v in vals)})"


def _longest(prefixes: str) -> int:
    return max(int(n) for n in prefixes.split())


#: index rows of a truncated long prefix read before the search asks for the exact (merged) prefix instead
SCAN_BUDGET = 1000


def fts_source(
    stmt: Stmt,
    table: str,
    key: str,
    terms: Terms,
    prefix: bool | Sequence[bool],
    longest: int,
    budget: int | None,
    desc: bool = False,
) -> tuple[str, str, str]:
    """SQLite: (FROM item `f` with the matching rowids, WHERE condition, ORDER BY) for `table` (FTS5) matching
    every term, each an OR of its alternatives, as quoted tokens (prefix: with `*`).

    FTS5 reads a prefix that has an index of its own lazily, in rowid order, but merges the whole range
    of terms of a longer prefix up front (7 ms for a common city). With a `budget`, a longer prefix is
    looked up by its first `longest` characters, at most `budget` index rows in rowid order, and checked
    in full on `key` (the row's folded words, separated by spaces: `instr` finds ' ' + prefix, no
    wildcards). That misses matches beyond the budget: the caller asks again without a budget when it
    found too few (see `budgeted`). The budgeted rowids come materialised in rowid order, which the
    join keeps; the ORDER BY is then empty, as sorting the joined rows would read all of them."""
    flags = [prefix] * len(terms) if isinstance(prefix, bool) else list(prefix)
    parts, checks = [], []
    for alts, pre in zip(terms, flags, strict=True):
        words = [a for a in alts if '"' not in a]
        cut = budget is not None and pre and any(len(a) > longest for a in words)
        parts.append(
            "(" + " OR ".join(f'"{a[:longest] if cut else a}"' + ("*" if pre else "") for a in words) + ")"
        )
        if cut:
            checks.append(
                "(" + " OR ".join(f"instr(' ' || {key}, {stmt.p(' ' + a)}) > 0" for a in words) + ")"
            )
    match = f"{table} MATCH {stmt.p(' AND '.join(parts))}"
    order = "f.rowid DESC" if desc else "f.rowid"
    if not checks:
        return f"{table} f", match, order
    frm = (
        f"(SELECT rowid FROM {table} WHERE {match} ORDER BY {order.replace('f.', '')} "  # noqa: S608 - fixed SQL and placeholders only
        f"LIMIT {stmt.p(int(budget or 0))}) f"
    )
    return frm, " AND ".join(checks), ""


#: PostgreSQL: rows read in id order, per unit of SCAN_BUDGET, before the trigram index is asked instead
PG_ROWS_PER_BUDGET = 3


def pg_source(stmt: Stmt, table: str, alias: str, budget: int | None, desc: bool = False) -> str:
    """PostgreSQL: the FROM item for `table`; with a `budget`, only its first rows in id order (newest
    first if `desc`). A trigram index finds a rare word at once, but a short or common one (`m`, `anna`)
    matches 100,000 rows, which are all read and sorted (150 ms): the first rows in id order have
    `limit` matches of such a word, and are read in a few milliseconds. Too few matches there, and the
    caller asks the index (see `budgeted`); the matches found are the first in id order either way."""
    if budget is None:
        return f"{table} {alias}"
    order = "id DESC" if desc else "id"
    return (
        f"(SELECT * FROM {table} ORDER BY {order} "  # noqa: S608 - fixed SQL and placeholders only
        f"LIMIT {stmt.p(int(budget) * PG_ROWS_PER_BUDGET)}) {alias}"
    )


def pg_order(alias: str, budget: int | None) -> str:
    """PostgreSQL: the id to order by. Without a budget, `id + 0`: the planner must not walk the primary
    key in id order filtering every row (it may guess a word common and read 3,000,000 tickets for one
    that is nowhere); the budgeted statement has done that walk, bounded, already."""
    return f"{alias}.id" if budget is not None else f"({alias}.id + 0)"


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


def _like(stmt: Stmt, expr: str, terms: Terms, prefix: bool | Sequence[bool]) -> str:
    """PostgreSQL: every term as LIKE patterns on ' key ' (a word starting with it, or the whole word)."""
    flags = [prefix] * len(terms) if isinstance(prefix, bool) else list(prefix)
    parts = []
    for alts, pre in zip(terms, flags, strict=True):
        ors = " OR ".join(f"{expr} LIKE {stmt.p('% ' + a + ('%' if pre else ' %'))}" for a in alts)
        parts.append(f"({ors})")
    return " AND ".join(parts)


PG_KEY = "(' ' || {t}.search_key || ' ')"
PG_NAME_KEY = f"(' ' || split_part({{t}}.search_key, '{PART_SEP}', 1) || ' ')"

CUSTOMER_COLUMNS = ("id", "name", "kind", "group_id", "active", "company_id", "company")
TICKET_COLUMNS = ("id", "number", "subject", "queue", "state", "main_customer_id", "customer", "created_at")


def _customer_match(
    stmt: Stmt, terms: Terms, prefix: bool | Sequence[bool], names_only: bool, budget: int | None = None
) -> tuple[str, str, str]:
    """(FROM clause giving `c`, WHERE condition, ORDER BY) for customers whose key matches `terms`."""
    if stmt.pg:
        expr = (PG_NAME_KEY if names_only else PG_KEY).format(t="c")
        return (
            pg_source(stmt, "customers", "c", budget),
            _like(stmt, expr, terms, prefix),
            pg_order("c", budget),
        )
    if names_only:
        table, key, longest = "customer_name_fts", _name_part("c.search_key"), _longest(NAME_PREFIXES)
    else:
        table, key, longest = "customer_fts", "c.search_key", _longest(KEY_PREFIXES)
    frm, cond, order = fts_source(stmt, table, key, terms, prefix, longest, budget)
    return f"{frm} JOIN customers c ON c.id = f.rowid", cond, order


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
) -> tuple[str, dict[str, Any]]:
    """Customers matching `terms`, in index order (columns CUSTOMER_COLUMNS, then `data` if asked);
    `budget`: see fts_source."""
    stmt = Stmt(pg)
    frm, cond, order = _customer_match(stmt, terms, prefix, names_only, budget)
    where = [cond, stmt.among("c.group_id", group_ids)]
    _customer_filters(stmt, where, active_only, kind, company_ids)
    cols = "c.id, c.name, c.kind, c.group_id, c.active, c.company_id, co.name" + (
        ", c.data" if with_data else ""
    )
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
    """Every customer of `group_ids` (for detail searches on fields without an index), with `data`."""
    stmt = Stmt(pg)
    where = [stmt.among("c.group_id", group_ids)]
    _customer_filters(stmt, where, active_only, kind, company_ids)
    sql = (
        "SELECT c.id, c.name, c.kind, c.group_id, c.active, c.company_id, co.name, c.data FROM customers c "  # noqa: S608 - fixed SQL and placeholders only
        f"LEFT JOIN customers co ON co.id = c.company_id WHERE {' AND '.join(where)} ORDER BY c.id"
    )
    return sql, stmt.params


_TICKET_SELECT = (
    "SELECT t.id, t.number, t.subject, q.name, t.state, t.main_customer_id, m.name, t.created_at "
    "FROM {frm} JOIN customers m ON m.id = t.main_customer_id JOIN queues q ON q.id = t.queue_id"
)


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
) -> tuple[str, dict[str, Any]]:
    """Tickets whose subject matches every term (word prefixes, or whole words), newest first;
    `budget`: see fts_source."""
    stmt = Stmt(pg)
    if pg:
        frm, order = pg_source(stmt, "tickets", "t", budget, desc=True), pg_order("t", budget) + " DESC"
        where = [_like(stmt, PG_KEY.format(t="t"), terms, prefix)]
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
        if pg:
            ors.append(f"t.number LIKE {stmt.p(pre + '%')}")
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
) -> tuple[str, dict[str, Any]]:
    """Tickets on which a customer whose name matches `terms` is main or additional customer, whatever
    that customer's state (R20: closed tickets of deactivated customers are found by their name), and
    whose subject matches `subject_terms` if given. Both the named customer and the ticket's main
    customer must be in `group_ids`. A ticket may come twice (two matching customers); the caller
    keeps the first. With `max_customers`, only the tickets of the first that many matching customers
    (in index order) are looked at: a common name must not make a quick search read every ticket."""
    stmt = Stmt(pg)
    parts = []
    for link in ("main", "additional"):
        frm, cond, order = _customer_match(stmt, terms, True, names_only=True, budget=budget)
        if max_customers is not None:
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
    return " UNION ALL ".join(parts), stmt.params


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


def queue_id(pg: bool, name: str) -> tuple[str, dict[str, Any]]:
    stmt = Stmt(pg)
    return f"SELECT id FROM queues WHERE name = {stmt.p(name)}", stmt.params  # noqa: S608 - fixed SQL and placeholders only


def config_revision(pg: bool, key: str) -> tuple[str, dict[str, Any]]:
    stmt = Stmt(pg)
    return f"SELECT value FROM settings WHERE key = {stmt.p(key)}", stmt.params  # noqa: S608 - fixed SQL and placeholders only
