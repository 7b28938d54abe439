"""SQLite: customer and ticket searches over the FTS5 tables, with the functions and keywords of
cmkit.db.search_pg, so that a search step asks one finder whatever the database (cmkit.db.search_finder).

With a limit, a step runs search_queries' statements in turn (`budgeted`): first one that reads at most
SCAN_BUDGET index rows of a long prefix, fast for common prefixes, then, if that found too few, the exact
one. Without a limit, only the exact statement runs. Rows come in the index's order (customers oldest
first, tickets by subject newest first)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cmkit.db import search_queries as q
from cmkit.db.search_sql import Run, Terms


def _first_enough(run: Run, build: Callable[..., tuple[str, dict[str, Any]]], **kwargs: Any) -> list[Any]:
    """The rows of `build`'s statement: without a limit the exact one; with one, the rows of the first of
    the budgeted statements that finds `limit` rows, or of the exact one (the last)."""
    limit = kwargs.get("limit")
    if limit is None:
        return run(build(False, **kwargs))
    rows: list[Any] = []
    for stmt in q.budgeted(build, pg=False, **kwargs):
        rows = run(stmt)
        if len(rows) >= limit:
            break
    return rows


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
) -> list[Any]:
    """CustomerHit rows of the customers matching `terms` and the filters, in id order, at most `limit`."""
    return _first_enough(
        run,
        q.customers_query,
        terms=terms,
        prefix=prefix,
        names_only=names_only,
        group_ids=group_ids,
        active_only=active_only,
        kind=kind,
        limit=limit,
        with_data=with_data,
        company_ids=company_ids,
    )


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
    return _first_enough(
        run,
        q.tickets_by_subject,
        terms=terms,
        group_ids=group_ids,
        state=state,
        queue_id=queue_id,
        limit=limit,
        prefix=prefix,
    )


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
    matches `terms`, whatever their state (R20), at most `limit` as main and as additional customer; a
    ticket may come twice (see search_queries.tickets_by_customer)."""
    return _first_enough(
        run,
        q.tickets_by_customer,
        terms=terms,
        group_ids=group_ids,
        state=state,
        queue_id=queue_id,
        limit=limit,
        subject_terms=subject_terms,
        max_customers=max_customers,
    )
