"""Search (R26-R28): autocomplete, quick search, detail search and ticket search.

Every search asks its database's finder (cmkit.db.search_finder: the FTS5 tables on SQLite, the word
tables on PostgreSQL) and the statements of cmkit.db.search_queries, through one pooled connection and the
bare driver, so that a search costs little more than its indexed queries. The result frames' columns are the fields of the hits
(CustomerHit, TicketHit) the statements return, a customer's group by its name.
Results cover only the groups the user may read. Deactivated customers are found only by detail search
with include_deactivated=True, but their (closed) tickets are found by their name (R20).

Best matches first: customers whose words match the typed words whole come before those matched by
word prefixes, names before other fields; within that, the index's order (oldest first). Tickets: by
number, then by subject (newest first), then by customer name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cmkit.db import search_queries as q
from cmkit.db.search_queries import CustomerHit, TicketHit
from cmkit.domain.config import FieldDef
from cmkit.domain.criteria import Criterion, criterion
from cmkit.domain.keys import in_key
from cmkit.domain.text import TERMS_MAX, typed, typed_terms
from cmkit.errors import ValidationError
from cmkit.services.context import Context
from cmkit.services.search_connection import Searcher, connection, current
from cmkit.services.search_frames import CUSTOMER_COLUMNS, TICKET_COLUMNS, fast_frame, frame_of_columns
from cmkit.values import Customer

# The rows stay the driver's tuples (making a CustomerHit of each would cost more than the frame built
# from them) and are read at the positions of the hits' fields.
_FIELDS = len(CustomerHit._fields)
_ID, _NAME, _KIND, _GROUP_ID, _DATA = map(
    CustomerHit._fields.index, ("id", "name", "kind", "group_id", "data")
)
_TICKET_ID = TicketHit._fields.index("id")
_TICKET_NUMBER = TicketHit._fields.index("number")
_NUMBER = re.compile(r"#?(t?)(\d{1,12})", re.IGNORECASE)
# Tiers of customer matches, best first: (whole words?, names only?)
AUTOCOMPLETE_TIERS = ((False, True), (True, True))
#: quick search looks at the tickets of the first `limit` (at least this many) customers matching by name
CUSTOMERS_FOR_TICKETS = 20
QUICK_TIERS = ((False, True), (True, True), (True, False))


@dataclass(frozen=True)
class QuickResult:
    """What quick search found: active customers, and tickets (R27)."""

    customers: pd.DataFrame
    tickets: pd.DataFrame

    def _repr_html_(self) -> str:
        return (
            f"<p><b>Customers</b> ({len(self.customers)})</p>"
            + self.customers.to_html(escape=True)
            + f"<p><b>Tickets</b> ({len(self.tickets)})</p>"
            + self.tickets.to_html(escape=True)
        )


#: the largest `limit` a search takes (detail and ticket search: leave it out, None, for every hit)
LIMIT_MAX = 1_000_000  # the search form asks for at most this many (cmkit.ui.search.DETAIL_MAX)


def _limit(value: Any, name: str = "limit") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= LIMIT_MAX:
        raise ValidationError(name, f"must be a whole number from 0 to {LIMIT_MAX:,}, got {value!r}")
    return value


def _kind(value: Any) -> str | None:
    if value is None:
        return None
    if value not in ("company", "contact"):
        raise ValidationError("kind", f"must be 'company', 'contact' or None, got {value!r}")
    return str(value)


def number_prefixes(text: str) -> list[str] | None:
    """Ticket numbers typed: 'T00012' (a prefix of the number) or '1234' / '#1234' (the ticket
    T0001234). None unless every word of `text` is one."""
    found = []
    for chunk in text.split():
        m = _NUMBER.fullmatch(chunk.strip(".,;:()[]"))
        if not m:
            return None
        t, digits = m.groups()
        found.append("T" + digits if t else "T" + digits.zfill(7))
    return found or None


# -- plumbing ---------------------------------------------------------------------------------------
def _search_groups(ctx: Context, group: str | None) -> list[int]:
    """The ids of the groups searched: `group` (read permission required) or every readable one."""
    if group is not None:
        ctx.require("read", ctx.group(group).name)
        return [ctx.group_id(group)]
    return ctx.readable_group_ids()


def _customer_frame(ctx: Context, rows: Sequence[Sequence[Any]], extra: Sequence[str] = ()) -> pd.DataFrame:
    """The frame of customers found (CustomerHit rows, their `data` decoded when `extra` names fields):
    CUSTOMER_COLUMNS, then one column per field in `extra`."""
    values: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * _FIELDS
    names = ctx.group_names()
    values[_GROUP_ID] = [names[g] for g in values[_GROUP_ID]]
    data = values.pop(_DATA)
    if not extra:
        return frame_of_columns(CUSTOMER_COLUMNS, values)
    values += [[d.get(f) for d in data] for f in extra]
    return frame_of_columns((*CUSTOMER_COLUMNS, *((f, "obj") for f in extra)), values)


def _tiers(
    s: Searcher,
    terms: list[tuple[str, ...]],
    tiers: Sequence[tuple[bool, bool]],
    limit: int,
    kind: str | None,
    gids: list[int],
) -> list[Any]:
    """CustomerHit rows of customers matching `terms`, tier by tier, each customer once; at most `limit`."""
    found: dict[int, Any] = {}
    for prefix, names_only in tiers:
        if len(found) >= limit:
            break
        rows = s.find.customers(
            s.run,
            terms,
            prefix=prefix,
            names_only=names_only,
            group_ids=gids,
            kind=kind,
            limit=limit + len(found),
        )
        for row in rows:
            found.setdefault(row[_ID], row)
    return list(found.values())[:limit]


# -- R26 --------------------------------------------------------------------------------------------
@current
def autocomplete(
    ctx: Context, text: str, kind: str | None = None, group: str | None = None, limit: int = 10
) -> pd.DataFrame:
    """Active customers whose name or e-mail has words starting with every word of `text`, folded
    (R26: 'mul', 'Mül', 'muel' find Müller); whole-word matches first; at most `limit`."""
    kind, limit = _kind(kind), _limit(limit)
    terms = typed_terms(text, "text")
    with connection(ctx) as s:
        gids = _search_groups(ctx, group)
        rows = _tiers(s, terms, AUTOCOMPLETE_TIERS, limit, kind, gids) if terms and gids and limit else []
    return _customer_frame(ctx, rows)


@current
def autocomplete_tickets(ctx: Context, text: str, limit: int = 10) -> pd.DataFrame:
    """Tickets whose main or additional customer's name has words starting with every word of `text`,
    folded as in autocomplete (R26), whatever that customer's state: a deactivated customer's closed
    tickets are offered by its name (R20). Open tickets first, then newest first; at most `limit`.
    Columns: id, number, subject, queue, state, main_customer_id, customer (the main customer's name)."""
    limit = _limit(limit)
    terms = typed_terms(text, "text")
    rows: list[Any] = []
    with connection(ctx) as s:
        gids = _search_groups(ctx, None)
        if terms and gids and limit:
            found = s.find.tickets_by_customer(
                s.run,
                terms,
                group_ids=gids,
                limit=max(5 * limit, 50),  # bounded: a customer may have thousands of tickets
                max_customers=max(CUSTOMERS_FOR_TICKETS, limit),
            )
            rows = list({r[_TICKET_ID]: r for r in found}.values())
    state = TicketHit._fields.index("state")
    rows.sort(key=lambda r: (r[state] != "open", -r[_TICKET_ID]))
    return fast_frame(TICKET_COLUMNS, rows[:limit])


# -- R27 --------------------------------------------------------------------------------------------
@current
def quick_search(ctx: Context, text: str, limit: int = 50) -> QuickResult:
    """Every word of `text` (folded, word prefixes) over customers' names, e-mail and text fields, and
    over tickets' subjects and numbers (R27). `.customers`: active customers, best first.
    `.tickets`: tickets matched by number, subject, or the name of one of their customers, including
    the closed tickets of deactivated customers (R20). At most `limit` of each."""
    limit = _limit(limit)
    terms = typed_terms(text, "text")
    numbers = number_prefixes(text or "")
    customers: list[Any] = []
    tickets: dict[int, Any] = {}
    with connection(ctx) as s:
        gids = _search_groups(ctx, None)
        if terms and gids and limit:
            customers = _tiers(s, terms, QUICK_TIERS, limit, None, gids)
            steps: list[Callable[[], list[Any]]] = [  # subjects with the whole words first, then prefixes
                *(
                    lambda pre=pre: s.find.tickets_by_subject(
                        s.run, terms, group_ids=gids, limit=limit, prefix=pre
                    )
                    for pre in (False, True)
                ),
                lambda: s.find.tickets_by_customer(
                    s.run, terms, group_ids=gids, limit=limit, max_customers=max(CUSTOMERS_FOR_TICKETS, limit)
                ),
            ]
            if numbers:
                steps.insert(
                    0,
                    lambda: s.run(
                        q.tickets_by_number(ctx.is_postgresql, numbers, group_ids=gids, limit=limit)
                    ),
                )
            for step in steps:
                if len(tickets) >= limit:
                    break
                for row in step():
                    tickets.setdefault(row[_TICKET_ID], row)
    return QuickResult(
        _customer_frame(ctx, customers), fast_frame(TICKET_COLUMNS, list(tickets.values())[:limit])
    )


@current
def ticket_search(
    ctx: Context,
    customer_name: str | None = None,
    subject: str | None = None,
    state: str | None = None,
    queue: str | None = None,
    limit: int | None = None,
    *,
    number: str | None = None,
    include_deactivated: bool = True,
) -> pd.DataFrame:
    """Tickets by the name of one of their current customers (main or additional, whatever its state:
    R20), by words of their subject, both folded word prefixes as in autocomplete, and by the start of
    their number; newest first. `include_deactivated=False` leaves out tickets whose main customer is
    deactivated."""
    if state not in (None, "open", "closed"):
        raise ValidationError("state", f"must be 'open', 'closed' or None, got {state!r}")
    if limit is not None:
        limit = _limit(limit)
    numbers = number_prefixes(number) if number is not None else None
    if number is not None and not numbers:
        raise ValidationError("number", f"a ticket number is T and digits (T0000042 or 42), got {number!r}")
    with connection(ctx) as s:
        gids = _search_groups(ctx, None)
        queue_id = _queue_id(ctx, s.run, queue)
        name_terms = typed_terms(customer_name, "customer_name") if customer_name is not None else None
        subject_terms = typed_terms(subject, "subject") if subject is not None else None
        rows: list[Any] = []
        if gids and name_terms != [] and subject_terms != [] and limit != 0:
            filters: dict[str, Any] = dict(group_ids=gids, state=state, queue_id=queue_id)
            if name_terms is not None:
                rows = s.find.tickets_by_customer(s.run, name_terms, subject_terms=subject_terms, **filters)
            elif subject_terms is not None:
                rows = s.find.tickets_by_subject(
                    s.run, subject_terms, limit=None if numbers else limit, **filters
                )
            elif numbers:
                rows = s.run(q.tickets_by_number(ctx.is_postgresql, numbers, **filters))
            else:
                rows = s.run(q.tickets_all(ctx.is_postgresql, limit=limit, **filters))
            rows = list({r[_TICKET_ID]: r for r in rows}.values())
            if numbers:
                rows = [r for r in rows if any(r[_TICKET_NUMBER].startswith(p) for p in numbers)]
            if not include_deactivated and rows:
                main = TicketHit._fields.index("main_customer_id")
                gone = {
                    i for (i,) in s.run(q.inactive_ids(ctx.is_postgresql, sorted({r[main] for r in rows})))
                }
                rows = [r for r in rows if r[main] not in gone]
            rows.sort(key=lambda r: -r[_TICKET_ID])
    return fast_frame(TICKET_COLUMNS, rows[:limit] if limit is not None else rows)


def _queue_id(ctx: Context, run: Callable[..., list[Any]], queue: str | None) -> int | None:
    if queue is None:
        return None
    if queue not in ctx.config.queues:
        raise ValidationError(
            "queue", f"unknown queue {queue!r} (queues: {', '.join(ctx.config.queues) or 'none'})"
        )
    return int(run(q.queue_id(ctx.is_postgresql, queue))[0][0])


# -- R28 --------------------------------------------------------------------------------------------
@current
def detail_search(
    ctx: Context,
    *,
    include_deactivated: bool = False,
    group: str | None = None,
    kind: str | None = None,
    company: Any = None,
    limit: int | None = None,
    **fields: Any,
) -> pd.DataFrame:
    """Customers by group, kind, company (an id, or a name or `*` pattern) and data fields (R28).

    A field criterion matches the whole value, case- and accent-insensitively; a text with `*` is a
    wildcard pattern; None finds customers without a value. Deactivated customers only with
    include_deactivated=True. Refuses fields that no searched group has (ValidationError). Ordered by
    name; one column per data field of the groups searched.
    """
    kind = _kind(kind)
    if limit is not None:
        limit = _limit(limit)
    with connection(ctx) as s:
        gids = _search_groups(ctx, group)
        asked: tuple[str, ...] = (kind,) if kind else ("company", "contact")
        crits, pairs, indexed = _criteria(ctx, fields, gids, asked)
        gids = sorted({g for g, _k in pairs})
        kinds = sorted({k for _g, k in pairs})
        one_kind = kinds[0] if len(kinds) == 1 else None
        company_ids = _company_ids(ctx, s, company, gids)
        rows: list[Any] = []
        if gids and limit != 0 and (company_ids is None or company_ids):
            filters: dict[str, Any] = dict(
                group_ids=gids, active_only=not include_deactivated, kind=one_kind, company_ids=company_ids
            )
            if indexed:
                terms = [t for c in crits for t in c.terms]
                found = s.find.customers(
                    s.run,
                    [t[0] for t in terms],
                    prefix=[t[1] for t in terms],
                    names_only=False,
                    with_data=True,
                    **filters,
                )
            else:
                found = s.run(q.customers_scan(ctx.is_postgresql, **filters))
            for row in found:
                if (row[_GROUP_ID], row[_KIND]) not in pairs:
                    continue
                data = json.loads(row[_DATA]) if isinstance(row[_DATA], str) else row[_DATA]
                if all(c.matches(data) for c in crits):
                    rows.append((*row[:_DATA], data, *row[_DATA + 1 :]))
    rows.sort(key=lambda r: (r[_NAME].casefold(), r[_ID]))
    if limit is not None:
        rows = rows[:limit]
    base = {name for name, _kind in CUSTOMER_COLUMNS}  # a company's `name` field is the name column already
    extra = [f for f in _field_columns(ctx, gids, kinds) if f not in base]
    return _customer_frame(ctx, rows, extra)


def _field_columns(ctx: Context, gids: list[int], kinds: Sequence[str]) -> list[str]:
    names = ctx.group_names()
    out: dict[str, None] = {}
    for gid in gids:
        for k in kinds:
            out.update(dict.fromkeys(ctx.group(names[gid]).fields_for(k)))
    return list(out)


def _criteria(
    ctx: Context, fields: dict[str, Any], gids: list[int], kinds: Sequence[str]
) -> tuple[list[Criterion], set[tuple[int, str]], bool]:
    """The criteria; the (group id, kind) pairs whose customers can match them (those that have every
    field asked for a value); and whether all of them are on fields in the search key (then the
    index narrows the candidates)."""
    names = ctx.group_names()
    crits: list[Criterion] = []
    pairs = {(g, k) for g in gids for k in kinds}
    indexed = True
    for fname, value in fields.items():
        defs = {
            (g, k): fd for g in gids for k in kinds if (fd := ctx.group(names[g]).fields_for(k).get(fname))
        }
        if not defs:
            raise ValidationError(
                fname,
                "is not a data field of the groups and kinds searched; "
                "see the configuration for each group's fields",
            )
        crit = criterion(next(iter(defs.values())), typed(value, fname) if isinstance(value, str) else value)
        if len(crit.terms) > TERMS_MAX:
            raise ValidationError(fname, f"has {len(crit.terms):,} words to look for; at most {TERMS_MAX}")
        crits.append(crit)
        if value is not None:
            pairs &= set(defs)
        indexed &= bool(crit.terms) or value is None
        indexed &= all(in_key(fname, fd.type, k) for (_g, k), fd in defs.items() if (_g, k) in pairs)
    return crits, pairs, indexed and any(c.terms for c in crits)


def _company_ids(ctx: Context, s: Searcher, company: Any, gids: list[int]) -> list[int] | None:
    """The companies a detail search is limited to: an id or Customer, or companies by name."""
    if company is None:
        return None
    if isinstance(company, Customer):
        return [company.id]
    if isinstance(company, int) and not isinstance(company, bool):
        return [company]
    if not isinstance(company, str) or not company.strip():
        raise ValidationError("company", f"give a company id, Customer or name, got {company!r}")
    typed_terms(company, "company")

    crit = criterion(FieldDef(name="name"), company)
    terms = list(crit.terms)
    filters: dict[str, Any] = dict(group_ids=gids, active_only=False, kind="company")
    if terms:
        found = s.find.customers(
            s.run, [t[0] for t in terms], prefix=[t[1] for t in terms], names_only=True, **filters
        )
    else:
        found = s.run(q.customers_scan(ctx.is_postgresql, **filters))
    return [r[_ID] for r in found if crit.test(r[_NAME])]
