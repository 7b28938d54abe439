"""The finder of a database: the module whose functions find customers and tickets by words,
cmkit.db.search_pg on PostgreSQL and cmkit.db.search_sqlite on SQLite, both with these signatures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from cmkit.db import search_pg, search_sqlite
from cmkit.db.search_sql import Run, Terms


class Finder(Protocol):
    """Finds by words; rows are CustomerHit or TicketHit tuples (see cmkit.db.search_queries)."""

    def customers(
        self,
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
    ) -> list[Any]: ...

    def tickets_by_subject(
        self,
        run: Run,
        terms: Terms,
        *,
        group_ids: Sequence[int],
        state: str | None = None,
        queue_id: int | None = None,
        limit: int | None = None,
        prefix: bool = True,
    ) -> list[Any]: ...

    def tickets_by_customer(
        self,
        run: Run,
        terms: Terms,
        *,
        group_ids: Sequence[int],
        state: str | None = None,
        queue_id: int | None = None,
        limit: int | None = None,
        subject_terms: Terms | None = None,
        max_customers: int | None = None,
    ) -> list[Any]: ...


def finder(pg: bool) -> Finder:
    """PostgreSQL's finder (`pg`) or SQLite's."""
    return search_pg if pg else search_sqlite
