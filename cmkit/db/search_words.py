"""PostgreSQL: the parts of a search that read the word tables of migration 0006.

`customer_words` has a row per (folded word, customer) of the customers' search keys, `ticket_words` per
(folded word, ticket) of the tickets' subjects; each a btree on (word text_pattern_ops, id): a whole word
is an equality, a prefix a range of that index (its operators `~>=~`, `~<~` are leakproof, so the index
serves a login under row-level security too).

One whole word with one spelling is read from the index in id order, and the search stops at its limit.
Otherwise a search first reads, per term, the index rows of its words, up to a cap: BUDGET_CAP in the
first, budgeted statement (about 0.1 ms), WORDS_CAP in the exact one. If some term has at most that
many, the search is driven from the rarest such term: its customers (tickets: newest first), less those
another term read whole lacks, are probed one by one in id order and checked against every term on
their key, until the limit is reached. If every term is common, the first rows in id order have enough
matches, and the caller's bounded walk over them answers (without a budget: the trigram index; see
search_sql.pg_source); the counts decide which runs, inside one statement.

Everything typed reaches the database as bound parameters (`p`); the SQL here is fixed text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

Terms = Sequence[tuple[str, ...]]

#: a term with at most this many index rows drives the search from the word table (the exact statement)
WORDS_CAP = 10_000
#: the same for the first, budgeted statement, which walks the first rows when every term has more
BUDGET_CAP = 500
#: the largest code point: prefix || this is above every word starting with prefix (byte order, UTF-8)
_TOP = chr(0x10FFFF)
#: the CTE naming which term drives (1-based), 0 when every term is common
CHOICE = "cmkit_driver"


class Words(NamedTuple):
    """A word table: its name and the column naming the row a word is of."""

    table: str
    ref: str


CUSTOMER_WORDS = Words("customer_words", "customer_id")
TICKET_WORDS = Words("ticket_words", "ticket_id")


def term_rows(
    p: Callable[[object], str], words: Words, alts: Sequence[str], prefix: bool, names_only: bool, limit: str
) -> str:
    """SELECT `cid`: the rows with a word matching one of `alts` (starting with it, or being it if not
    `prefix`; a word of the name if `names_only`, customer_words only), at most `limit` of them. One
    index-only range per alternative (an OR would read the table's rows through a bitmap); a row matching
    two alternatives comes twice."""
    parts = []
    for a in alts:
        cond = f"w.word ~>=~ {p(a)} AND w.word ~<~ {p(a + _TOP)}" if prefix else f"w.word = {p(a)}"
        if names_only:
            cond += " AND w.in_name"
        parts.append(f"SELECT w.{words.ref} AS cid FROM {words.table} w WHERE {cond}")  # noqa: S608 - fixed SQL and placeholders only
    return f"SELECT cid FROM ({' UNION ALL '.join(parts)}) a LIMIT {limit}"  # noqa: S608 - fixed SQL


def choice_cte(
    p: Callable[[object], str],
    terms: Terms,
    prefix: bool | Sequence[bool],
    names_only: bool,
    words: Words = CUSTOMER_WORDS,
    cap: int = WORDS_CAP,
) -> str:
    """The CTEs `t1`, `t2`, ... (each term's rows, at most `cap` + 1 of them, read once) and
    `CHOICE AS MATERIALIZED (SELECT k)`: the rarest term with at most `cap` rows, or 0 (every term common)."""
    flags = [prefix] * len(terms) if isinstance(prefix, bool) else list(prefix)
    limit = p(int(cap))
    ctes = ", ".join(
        f"t{i} AS MATERIALIZED ({term_rows(p, words, alts, pre, names_only, limit + ' + 1')})"
        for i, (alts, pre) in enumerate(zip(terms, flags, strict=True), 1)
    )
    counts = ", ".join(f"(SELECT count(*) FROM t{i}) AS n{i}" for i in range(1, len(terms) + 1))  # noqa: S608 - fixed SQL
    names = [f"n{i}" for i in range(1, len(terms) + 1)]
    least = f"least({', '.join(names)})"
    whens = " ".join(f"WHEN {n} = {least} THEN {i}" for i, n in enumerate(names, 1))
    # the counts once (named more than once in the choice, each name would count again)
    return (
        f"{ctes}, {CHOICE}_n AS MATERIALIZED (SELECT {counts}), "  # noqa: S608 - fixed SQL and placeholders only
        f"{CHOICE} AS MATERIALIZED (SELECT CASE WHEN {least} > {limit} THEN 0 {whens} END AS k, "
        f"{', '.join(names)} FROM {CHOICE}_n)"
    )


def chosen(value: int) -> str:
    """The condition (a one-time filter) that the choice is `value`."""
    return f"(SELECT k FROM {CHOICE}) = {int(value)}"  # noqa: S608 - fixed SQL


def driven_ids(p: Callable[[object], str], terms: int, cap: int, desc: bool = False) -> str:
    """A subquery `ids(cid)`: the rows of the chosen term (of `terms`) that the other terms read in full
    (at most `cap` rows) have too, each once, in id order (newest first if `desc`)."""
    parts = " UNION ALL ".join(f"SELECT cid FROM t{i} WHERE {chosen(i)}" for i in range(1, terms + 1))  # noqa: S608 - fixed SQL
    limit = p(int(cap))
    also = "".join(
        f" AND ((SELECT n{i} FROM {CHOICE}) > {limit} OR d.cid IN (SELECT cid FROM t{i}))"  # noqa: S608 - fixed SQL and placeholders only
        for i in range(1, terms + 1)
        if terms > 1
    )
    order = "1 DESC" if desc else "1"
    return f"(SELECT DISTINCT d.cid FROM ({parts}) d WHERE true{also} ORDER BY {order}) ids"  # noqa: S608 - fixed SQL


def whole_word(terms: Terms, prefix: bool | Sequence[bool]) -> bool:
    """Whether `terms` is one whole word with no alternative spelling: its rows come from the index in
    id order, so a search walks them and stops at its limit, however many there are. (With two spellings
    the planner sorts both ranges whole rather than merge them, so those take the capped way.)"""
    flags = [prefix] * len(terms) if isinstance(prefix, bool) else list(prefix)
    return len(terms) == 1 and len(terms[0]) == 1 and not flags[0]


def ordered_ids(
    p: Callable[[object], str], words: Words, alts: Sequence[str], names_only: bool, desc: bool
) -> str:
    """A subquery `ids(cid)`: the rows having one of the words `alts`, each once, in id order (newest
    first if `desc`), read from the index in that order (a merge of one range per word)."""
    name = " AND w.in_name" if names_only else ""
    order = "1 DESC" if desc else "1"
    # each range ordered by itself (or its order is not known above it), then merged in order
    parts = " UNION ALL ".join(
        f"(SELECT w.{words.ref} AS cid FROM {words.table} w WHERE w.word = {p(a)}{name} ORDER BY {order})"  # noqa: S608 - fixed SQL and placeholders only
        for a in alts
    )
    return f"(SELECT DISTINCT d.cid FROM ({parts}) d ORDER BY {order}) ids"  # noqa: S608 - fixed SQL
