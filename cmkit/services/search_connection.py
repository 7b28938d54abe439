"""The connection a search runs on, and the check that the configuration (and so the permissions) it
searches with is current: `connection(ctx)` gives a `Searcher`; a search function decorated `@current`
is asked again when that check finds the configuration changed (`Stale`)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple, ParamSpec, TypeVar

from cmkit.db import search_queries as q
from cmkit.db.config_store import REVISION
from cmkit.db.engine import search_engine
from cmkit.db.search_finder import Finder, finder
from cmkit.errors import CMError
from cmkit.services.context import Context


class Searcher(NamedTuple):
    """A search's connection: `run` runs (sql, params) on it; `find` is its database's finder."""

    run: Callable[[tuple[str, dict[str, Any]]], list[Any]]
    find: Finder


class Stale(Exception):
    """The search ran on a configuration that has changed since, or on a broken pooled connection: it is
    asked again (see `current`)."""


#: how often a search is asked again while the configuration keeps changing under it
_ATTEMPTS = 3
P = ParamSpec("P")
R = TypeVar("R")


def current(search: Callable[P, R]) -> Callable[P, R]:
    """The search, asked again while it ran on a configuration that changed meanwhile (see `connection`)."""

    @functools.wraps(search)
    def again(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return search(*args, **kwargs)
            except Stale as exc:
                if attempt == _ATTEMPTS:
                    if exc.__cause__ is not None:  # the database could not be reached
                        raise exc.__cause__ from None
                    raise CMError(
                        "the configuration changed while searching, again and again; search again"
                    ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    return again


@contextmanager
def connection(ctx: Context) -> Iterator[Searcher]:
    """One pooled connection of the search engine (see cmkit.db.engine.search_engine), on which the
    configuration (and so the permissions) is checked to be the one `ctx` holds; where it is not, `ctx`
    reads it again and the search is asked again (`Stale`, see `current`).

    SQLite checks first. PostgreSQL sends the check with the search's first statement, in one round trip
    (a pipeline; 0.1 ms of a 1-2 ms autocomplete), and checks after any search that ran no statement
    or failed; a connection found broken by that first statement is dropped."""
    engine = search_engine(ctx.engine)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        revision = q.config_revision(ctx.is_postgresql, REVISION)
        if not ctx.is_postgresql:

            def run(stmt: tuple[str, dict[str, Any]]) -> list[Any]:
                cur.execute(*stmt)
                return list(cur.fetchall())

            _check(ctx, run(revision))
            yield Searcher(run, finder(False))
            return
        checked = False
        driver: Any = raw.driver_connection  # psycopg's: `pipeline`, and cursors that `prepare`
        pg_cur: Any = cur

        def first(stmt: tuple[str, dict[str, Any]] | None) -> list[Any]:
            """The check, with `stmt` if given in the same round trip; `stmt`'s rows if it is current."""
            nonlocal checked
            checked = True
            try:
                with driver.pipeline():
                    check = driver.cursor()
                    check.execute(*revision, prepare=True)
                    if stmt is not None:
                        pg_cur.execute(*stmt, prepare=True)
                value = check.fetchall()
            except engine.dialect.loaded_dbapi.OperationalError as exc:
                raw.invalidate()  # a connection the server closed while it waited in the pool
                raise Stale from exc
            _check(ctx, value)
            return list(cur.fetchall()) if stmt is not None else []

        def run_pg(stmt: tuple[str, dict[str, Any]]) -> list[Any]:
            if not checked:
                return first(stmt)
            pg_cur.execute(*stmt, prepare=True)  # each statement prepared once per connection (see search_pg)
            return list(cur.fetchall())

        try:
            yield Searcher(run_pg, finder(True))
        except CMError:
            if not checked:  # refused on what it holds (a permission, a field): is that still so?
                first(None)
            raise
        if not checked:
            first(None)
    finally:
        raw.close()


def _check(ctx: Context, found: list[Any]) -> None:
    """Raise Stale, after `ctx` read the configuration again, unless `found` (the rows of
    q.config_revision) is the revision it holds."""
    value = (found or [(0,)])[0][0]
    if int(json.loads(value) if isinstance(value, str) else value or 0) != ctx.revision:
        ctx.read(lambda w: None)
        raise Stale
