"""The building blocks of the search statements (cmkit.db.search_queries): bound parameters, the FTS5 and
LIKE conditions, the bounded walks over the first rows, and the statements to try in turn.

Everything a user typed reaches the database as a bound parameter (Stmt.p); the SQL here is fixed text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cmkit.domain.text import PART_SEP

Terms = Sequence[tuple[str, ...]]
#: runs one (sql, params) on a search's connection and returns its rows
Run = Callable[[tuple[str, dict[str, Any]]], list[Any]]


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


def _patterns(terms: Terms, prefix: bool | Sequence[bool]) -> list[list[str]]:
    """PostgreSQL: each term's alternatives as LIKE patterns on ' key ' (a word starting with it, or the
    whole word)."""
    flags = [prefix] * len(terms) if isinstance(prefix, bool) else list(prefix)
    return [["% " + a + ("%" if pre else " %") for a in alts] for alts, pre in zip(terms, flags, strict=True)]


def _like(stmt: Stmt, expr: str, terms: Terms, prefix: bool | Sequence[bool]) -> str:
    """PostgreSQL: every term's patterns (an OR of its alternatives) LIKE'd on `expr`, all of them."""
    return " AND ".join(
        "(" + " OR ".join(f"{expr} LIKE {stmt.p(pat)}" for pat in alts) + ")"
        for alts in _patterns(terms, prefix)
    )


# PostgreSQL: a row's key (and its name part) with a space at both ends, over the table aliased `t`: the
# LIKE patterns of _patterns check a word on it
PG_KEY = "(' ' || {t}.search_key || ' ')"
PG_NAME_KEY = f"(' ' || split_part({{t}}.search_key, '{PART_SEP}', 1) || ' ')"
