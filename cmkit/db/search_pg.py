"""PostgreSQL: customer and ticket searches over the word tables (migration 0006),
as a few small statements, the way between them chosen in Python.

A search for customers (tickets: the same over `ticket_words`, newest first):
1. Every term whole words: each word's rows come from the btree in id order, merged (spellings) and
   joined (terms) in that order, and probed one by one (key and filters) until the limit. One statement.
2. Otherwise one statement reads every term's rows from its word table, at most CAP + 1 per term (an
   index-only range per spelling, which stops at the cap). A term with at most CAP rows is complete.
3. Some term complete: the rows every complete term has, in id order, are probed one by one against
   every term's words on their key and the filters, until the limit.
4. Every term common, and some whole words or prefixes with at most SPELLINGS words (the same statement
   found them by skipping through the btree): those words' rows, as in 1, checked against the others.
5. Every term common: the first rows in id order hold matches to spare; at most WALK_ROWS per row
   wanted are walked. Too few there (or no limit), and the terms' ranges are intersected in the
   database and probed: exact, and the slowest way (a common word is read whole).

So a search is one to three statements, each a btree walk that stops early, with no choice for the
planner to make at run time: the statements are prepared once per connection with a generic plan
(cmkit.db.engine sets plan_cache_mode), and a search costs their execution, not their planning. Every
statement is fixed text for its shape (terms, spellings, filters) and everything typed reaches the
database as bound parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from cmkit.db.search_queries import (
    CUSTOMER_SELECT,
    CUSTOMER_SELECT_NO_DATA,
    TICKET_SELECT,
    customer_filters,
    subject_match,
    ticket_filters,
)
from cmkit.db.search_sql import PG_KEY, PG_NAME_KEY, Run, Stmt, Terms, _like


class Words(NamedTuple):
    """A word table: its name and the column naming the row a word is of. `customer_words` has a row per
    (folded word, customer) of the customers' search keys (with the customer's group, and whether the word
    is of the name), `ticket_words` per (folded word, ticket) of the subjects; each a btree on (word
    text_pattern_ops, id): a whole word is an equality, in id order; a prefix a range of that index. Its
    operators `~>=~`, `~<~` are leakproof, so the index serves a login under row-level security too."""

    table: str
    ref: str


CUSTOMER_WORDS = Words("customer_words", "customer_id")
TICKET_WORDS = Words("ticket_words", "ticket_id")

#: a term with at most this many rows in its word table drives the search (read whole, then probed)
CAP = 2000
#: a common prefix with at most this many words is searched as those words (way 1)
SPELLINGS = 24
#: every term common: the first rows walked, per row wanted, before the exact (slow) way is taken
WALK_ROWS = 300
#: the largest code point: prefix || this is above every word starting with prefix (byte order, UTF-8)
_TOP = chr(0x10FFFF)


def _flags(terms: Terms, prefix: bool | Sequence[bool]) -> list[bool]:
    return [prefix] * len(terms) if isinstance(prefix, bool) else list(prefix)


def _ranges(
    stmt: Stmt, words: Words, alts: Sequence[str], prefix: bool, names_only: bool, cap: int | None = None
) -> str:
    """SELECT `cid`: the rows having a word that is (starts with, if `prefix`) one of `alts`, each range in
    index order (at most `cap` rows each); a row with two of the spellings comes twice."""
    parts = []
    for a in alts:
        cond = (
            f"w.word ~>=~ {stmt.p(a)} AND w.word ~<~ {stmt.p(a + _TOP)}"
            if prefix
            else f"w.word = {stmt.p(a)}"
        )
        if names_only:
            cond += " AND w.in_name"
        # in index order, so that the plan (generic: it does not know how common the word is) is the walk
        # of the btree that stops at the cap, not a bitmap of every row sorted
        part = f"SELECT w.{words.ref} AS cid FROM {words.table} w WHERE {cond} ORDER BY w.word USING ~<~, 1"  # noqa: S608 - fixed SQL and placeholders only
        parts.append(f"({part}{_limit(cap)})")
    return " UNION ALL ".join(parts)


def _limit(n: int | None) -> str:
    """` LIMIT n` as a literal (a number cmkit chose, never typed): a generic plan knows it so."""
    return "" if n is None else f" LIMIT {int(n)}"


def _spelled(stmt: Stmt, words: Words, alts: Sequence[str], names_only: bool) -> str:
    """SELECT `word`: the distinct words starting with one of `alts`, in order, found by skipping through
    the btree (one probe per word: a range of 100,000 rows with 12 words costs 12 probes)."""
    name = " AND w.in_name" if names_only else ""
    parts = []
    for a in alts:
        low, high = stmt.p(a), stmt.p(a + _TOP)
        first = (
            f"SELECT w.word FROM {words.table} w WHERE w.word ~>=~ {low} AND w.word ~<~ {high}{name} "  # noqa: S608 - fixed SQL and placeholders only
            "ORDER BY w.word USING ~<~ LIMIT 1"
        )
        after = (
            f"SELECT w.word FROM {words.table} w WHERE w.word ~>~ d.word AND w.word ~<~ {high}{name} "  # noqa: S608 - fixed SQL and placeholders only
            "ORDER BY w.word USING ~<~ LIMIT 1"
        )
        parts.append(
            f"(WITH RECURSIVE d(word) AS (({first}) UNION ALL SELECT ({after}) FROM d WHERE d.word IS NOT NULL) "  # noqa: S608 - fixed SQL
            "SELECT word FROM d WHERE word IS NOT NULL)"
        )
    return " UNION ".join(parts)


def _capped(
    run: Run, words: Words, terms: Terms, flags: Sequence[bool], names_only: bool
) -> tuple[list[set[int]], list[list[str] | None]]:
    """Each term's rows, at most CAP + 1 of them (more than CAP: the term is common); and each prefix
    term's words, at most SPELLINGS + 1 of them (None for a whole-word term)."""
    stmt = Stmt(True)
    cols = [
        f"ARRAY(SELECT cid FROM ({_ranges(stmt, words, alts, pre, names_only, CAP + 1)}) a{_limit(CAP + 1)})"  # noqa: S608 - fixed SQL and placeholders only
        for alts, pre in zip(terms, flags, strict=True)
    ]
    cols += [
        f"ARRAY(SELECT word FROM ({_spelled(stmt, words, alts, names_only)}) s{_limit(SPELLINGS + 1)})"  # noqa: S608 - fixed SQL
        for alts, pre in zip(terms, flags, strict=True)
        if pre
    ]
    row = run((f"SELECT {', '.join(cols)}", stmt.params))[0]
    spelled = iter(row[len(terms) :])
    return [set(ids) for ids in row[: len(terms)]], [list(next(spelled)) if pre else None for pre in flags]


class _Search:
    """One search over customers or tickets (`table`, aliased `alias`): `select(frm)` is the SELECT of
    its result over the FROM item `frm`, `where(stmt)` the conditions besides the terms, checked on `key`."""

    def __init__(
        self,
        run: Run,
        table: str,
        words: Words,
        terms: Terms,
        prefix: bool | Sequence[bool],
        names_only: bool,
        select: Callable[[str], str],
        where: Callable[[Stmt], list[str]],
        desc: bool,
    ) -> None:
        self.run, self.table, self.alias, self.words, self.terms = run, table, table[0], words, terms
        self.flags, self.names_only = _flags(terms, prefix), names_only
        self.select, self.where, self.desc = select, where, desc
        names = PG_NAME_KEY if names_only else PG_KEY
        self.key = names.format(t=self.alias)

    def _probed(self, stmt: Stmt, ids: str, limit: int | None) -> tuple[str, dict[str, Any]]:
        """The rows of the subquery `ids(cid)` (in its order) that match every term and the conditions."""
        conds = [
            f"{self.alias}.id = ids.cid",
            _like(stmt, self.key, self.terms, self.flags),
            *self.where(stmt),
        ]
        lim = _limit(limit)
        sql = (
            f"SELECT h.* FROM {ids} CROSS JOIN LATERAL ({self.select(f'{self.table} {self.alias}')} "  # noqa: S608 - fixed SQL and placeholders only
            f"WHERE {' AND '.join(conds)} OFFSET 0) h{lim}"
        )
        return sql, stmt.params

    def _order(self) -> str:
        return "1 DESC" if self.desc else "1"

    def ordered(self, limit: int | None, drivers: Terms | None = None) -> list[Any]:
        """Way 1: the rows of the whole words `drivers` (default: the terms, every one whole words) in id
        order, each a merge of its spellings' ranges (each in id order in the btree), joined in that order;
        probed against every term until the limit."""
        stmt = Stmt(True)
        order = self._order()
        name = " AND w.in_name" if self.names_only else ""
        subs, copies = [], 1
        for i, alts in enumerate(self.terms if drivers is None else drivers):
            parts = " UNION ALL ".join(
                f"(SELECT w.{self.words.ref} AS cid FROM {self.words.table} w "  # noqa: S608 - fixed SQL and placeholders only
                f"WHERE w.word = {stmt.p(a)}{name} ORDER BY {order})"
                for a in dict.fromkeys(alts)
            )
            # no DISTINCT: the planner would aggregate every row before the first came out; a row with
            # two spellings comes twice instead, side by side, and is dropped here
            subs.append(f"(SELECT cid FROM ({parts}) u ORDER BY {order}) t{i}")  # noqa: S608 - fixed SQL
            copies *= len(dict.fromkeys(alts))
        joined = subs[0] + "".join(f" JOIN {sub} USING (cid)" for sub in subs[1:])
        ids = f"(SELECT cid FROM {joined} ORDER BY {order}) ids"  # noqa: S608 - fixed SQL
        rows = self.run(self._probed(stmt, ids, None if limit is None else limit * copies))
        return list({row[0]: row for row in rows}.values())[:limit]

    def probe(self, ids: set[int], limit: int | None) -> list[Any]:
        """Way 3: `ids`, in order, probed."""
        stmt = Stmt(True)
        listed = sorted(ids, reverse=self.desc)
        return self.run(self._probed(stmt, f"unnest(CAST({stmt.p(listed)} AS bigint[])) AS ids(cid)", limit))

    def walk(self, limit: int) -> list[Any]:
        """Way 4: the first rows in order (newest first for tickets), at most WALK_ROWS per row wanted."""
        stmt = Stmt(True)
        order = "id DESC" if self.desc else "id"
        frm = (
            f"(SELECT * FROM {self.table} ORDER BY {order} "  # noqa: S608 - fixed SQL and placeholders only
            f"{_limit(WALK_ROWS * max(limit, 1))}) {self.alias}"
        )
        conds = [_like(stmt, self.key, self.terms, self.flags), *self.where(stmt)]
        sql = f"{self.select(frm)} WHERE {' AND '.join(conds)} ORDER BY {self.alias}.{order}{_limit(limit)}"
        return self.run((sql, stmt.params))

    def exact(self, limit: int | None) -> list[Any]:
        """Way 4, exact: the rows every term has (each term's ranges read whole), probed in order."""
        stmt = Stmt(True)
        sets = " INTERSECT ".join(
            f"SELECT cid FROM ({_ranges(stmt, self.words, alts, pre, self.names_only)}) r{i}"  # noqa: S608 - fixed SQL
            for i, (alts, pre) in enumerate(zip(self.terms, self.flags, strict=True))
        )
        # DISTINCT: one term's spellings may find a row twice (INTERSECT makes rows distinct by itself)
        ids = f"(SELECT DISTINCT cid FROM ({sets}) s ORDER BY {self._order()}) ids"  # noqa: S608 - fixed SQL
        return self.run(self._probed(stmt, ids, limit))

    def rows(self, limit: int | None) -> list[Any]:
        """The matching rows in order, at most `limit`."""
        if not any(self.flags):
            return self.ordered(limit)
        sets, spelled = _capped(self.run, self.words, self.terms, self.flags, self.names_only)
        complete = sorted((s for s in sets if len(s) <= CAP), key=len)
        if complete:
            return self.probe(set.intersection(*complete), limit)
        # the terms as whole words: a prefix with few words as those words
        drivers = [
            alts if words is None else tuple(words)
            for alts, words in zip(self.terms, spelled, strict=True)
            if words is None or 0 < len(words) <= SPELLINGS
        ]
        if drivers and (len(drivers) == len(self.terms) or limit is not None):
            # their rows in id order (the other terms checked on each): all of them, or up to the limit
            return self.ordered(limit, drivers)
        if limit is not None:
            found = self.walk(limit)
            if len(found) >= limit:
                return found
        return self.exact(limit)


def customers(
    run: Run,
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
    ids_only: bool = False,
) -> list[Any]:
    """CustomerHit rows (or 1-tuples of ids, `ids_only`) of the customers matching `terms` and the
    filters, in id order, at most `limit`."""
    cols = "c.id" if ids_only else CUSTOMER_SELECT if with_data else CUSTOMER_SELECT_NO_DATA

    def select(frm: str) -> str:
        return f"SELECT {cols} FROM {frm} LEFT JOIN customers co ON co.id = c.company_id"  # noqa: S608 - fixed SQL

    def where(stmt: Stmt) -> list[str]:
        out = [stmt.among("c.group_id", group_ids)]
        customer_filters(stmt, out, active_only, kind, company_ids)
        return out

    search = _Search(run, "customers", CUSTOMER_WORDS, terms, prefix, names_only, select, where, desc=False)
    return search.rows(limit)


def tickets_by_subject(
    run: Run,
    terms: Terms,
    *,
    group_ids: Sequence[int],
    state: str | None = None,
    queue_id: int | None = None,
    limit: int | None = None,
    prefix: bool = True,
) -> list[Any]:
    """TicketHit rows of the tickets whose subject matches every term, newest first, at most `limit`."""

    def where(stmt: Stmt) -> list[str]:
        out: list[str] = []
        ticket_filters(stmt, out, group_ids, state, queue_id)
        return out

    search = _Search(
        run,
        "tickets",
        TICKET_WORDS,
        terms,
        prefix,
        False,
        lambda frm: TICKET_SELECT.format(frm=frm),
        where,
        desc=True,
    )
    return search.rows(limit)


def tickets_by_customer(
    run: Run,
    terms: Terms,
    *,
    group_ids: Sequence[int],
    state: str | None = None,
    queue_id: int | None = None,
    limit: int | None = None,
    subject_terms: Terms | None = None,
    max_customers: int | None = None,
) -> list[Any]:
    """TicketHit rows of the tickets of the first `max_customers` customers (all without) whose name
    matches `terms`, whatever their state (R20); see tickets_by_customer_ids."""
    ids = customers(
        run,
        terms,
        prefix=True,
        names_only=True,
        group_ids=group_ids,
        active_only=False,
        limit=max_customers,
        ids_only=True,
    )
    if not ids:
        return []
    return run(
        tickets_by_customer_ids(
            [i for (i,) in ids],
            group_ids=group_ids,
            state=state,
            queue_id=queue_id,
            limit=limit,
            subject_terms=subject_terms,
        )
    )


def tickets_by_customer_ids(
    customer_ids: Sequence[int],
    *,
    group_ids: Sequence[int],
    state: str | None = None,
    queue_id: int | None = None,
    limit: int | None = None,
    subject_terms: Terms | None = None,
) -> tuple[str, dict[str, Any]]:
    """The statement of tickets_by_customer for the customers found already (`customer_ids`, in the order
    wanted; SQLite's is search_queries.tickets_by_customer). Each part (as main customer, as additional
    one) walks the customers in that order, each customer's tickets by index, and stops at `limit` rows:
    the tickets of the customers after those are not read (joining them all and sorting read twice the
    pages, 1 ms warm and 18-21 ms when they were not in the server's buffers)."""
    stmt = Stmt(True)
    parts = []
    for link in ("main", "additional"):
        if link == "main":
            frm = "customers c JOIN tickets t ON t.main_customer_id = c.id"
        else:
            frm = (
                "customers c JOIN ticket_additional_customers a ON a.customer_id = c.id "
                "JOIN tickets t ON t.id = a.ticket_id"
            )
        where = ["c.id = f.id", stmt.among("c.group_id", group_ids)]
        ticket_filters(stmt, where, group_ids, state, queue_id)
        if subject_terms:
            where.append(subject_match(stmt, subject_terms))
        if limit is not None and link == "additional":  # those the main part has (see below)
            where.append(f"t.main_customer_id <> ALL (CAST({stmt.p(list(customer_ids))} AS bigint[]))")
        ids = f"unnest(CAST({stmt.p(list(customer_ids))} AS bigint[])) AS f(id)"
        # OFFSET 0 keeps the lateral subquery a subquery: the nested loop then runs the customers in the
        # order given and the LIMIT (a literal: a generic plan knows it) stops it
        each = f"{TICKET_SELECT.format(frm=frm)} WHERE {' AND '.join(where)} OFFSET 0"
        lim = "" if limit is None else f" LIMIT {int(limit)}"
        parts.append(f"(SELECT h.* FROM {ids} CROSS JOIN LATERAL ({each}) h{lim})")  # noqa: S608 - fixed SQL and placeholders only
    both = " UNION ALL ".join(parts)
    if limit is None:
        return both, stmt.params
    # the additional part is read only when the main part found fewer than `limit` (the Append under the
    # LIMIT stops there), and then the main part has every ticket of these customers as main customer:
    # the additional part leaves those out, so that no ticket comes twice from the two parts
    return f"SELECT * FROM ({both}) u LIMIT {int(limit)}", stmt.params  # noqa: S608 - fixed SQL and placeholders only
