"""Large demo databases: `cmkit demo --customers 1000000 --tickets 3000000` in about a minute.

The same kind of data as cmkit.demo (its names, places, subjects and groups; consistent with the rules:
no deactivated customer on an open ticket, contacts of a deactivated company deactivated), plus a long
tail of generated surnames so that names are as diverse as in a real customer base. Columns are drawn
with numpy from the plan's seed (deterministic), rows are written in large batches through the bare
driver (SQLite: executemany; PostgreSQL: COPY), with progress bars. The search indexes are filled once
at the end instead of row by row, in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from sqlalchemy import select, text
from tqdm.auto import tqdm

from cmkit import demo_words
from cmkit.db import config_store, search_ddl, uow
from cmkit.db.schema import Base, CustomerGroup, CustomerRow, Queue
from cmkit.domain.config import Config
from cmkit.domain.keys import key_for
from cmkit.domain.text import PART_SEP, search_key, tokens
from cmkit.errors import CMError
from cmkit.services.tickets import ticket_number

#: cmkit.demo.populate hands plans with more customers than this to this module
THRESHOLD = 20_000
CHUNK = 100_000
WORKERS = 2
_SYL_A = (
    "Brand Eichen Wald Stein Berg Linden Hoh Kirch Mühl Rosen Sonnen Tann Weiden Wolfs Bach Buch Dorn Falken "
    "Fried Gold Grün Hasel Kalten Lauter Neu Ober Reich Schön Silber Unter Wein Winter Adler Birken Eschen "
    "Fichten Haber Kessel Kohl"
).split()
_SYL_B = (
    "bach berg burger dorf egger feld hofer huber inger mann maier meier müller reiter rieder schmidt "
    "stetter thaler wald wieser wirth er ner ler hausen brunner gruber"
).split()
_PRODUCTS = (
    "Laserdrucker Router Notebook Lizenz Vertrag Rechnung Lieferschein Kundenkonto Webshop Newsletter "
    "Zahlung Gutschein Abo Server Telefonanlage"
).split()


def _time(value: dt.datetime, pg: bool) -> Any:
    """A timestamp as the driver stores it (SQLite: SQLAlchemy's text format, UTC)."""
    return value if pg else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class ScaleBuilder:
    """Draws the rows of a large demo data set. The layout (who is a company, which contact belongs to
    which company, who is active) is drawn first; then every chunk of customers or tickets is drawn from
    its own seed, so chunks can be drawn in parallel and still give the same database."""

    def __init__(
        self,
        plan: Any,
        config: Config,
        group_ids: dict[str, int],
        queue_ids: dict[str, int],
        now: dt.datetime,
        pg: bool,
    ) -> None:
        self.words, self.plan, self.config, self.now, self.pg = demo_words, plan, config, now, pg
        self.group_ids, self.queue_ids = group_ids, queue_ids
        synth = [a + b for a in _SYL_A for b in _SYL_B]
        self.last = np.array(
            list(demo_words.LAST) * (len(synth) // len(demo_words.LAST)) + synth, dtype=object
        )
        self.first = np.array(demo_words.FIRST, dtype=object)
        self.ascii = {n: demo_words.ascii_of(n) for n in [*self.first, *self.last]}
        self.layout: list[tuple[str, int, int]] = []  # (group, first id, count) of each group's customers
        self.parts: dict[
            str, tuple[np.ndarray, np.ndarray, np.ndarray]
        ] = {}  # is_company, company_row, active
        rng = np.random.default_rng([plan.seed, 0])
        n, share, next_id = plan.customers, plan.deactivated_share, 1
        for group, part, per_company in (("retail", 0.5, 6), ("business", 0.2, 5), ("private", 0.3, 0)):
            count = int(n * part)
            if per_company:
                sizes = rng.integers(1, 2 * per_company - 1, size=max(1, count // per_company)) + 1
                starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
                is_company = np.zeros(int(sizes.sum()), dtype=bool)
                is_company[starts] = True
                company_row = np.repeat(starts, sizes)
                company_active = rng.random(len(is_company)) >= share / 3
                active = company_active[company_row] & (is_company | (rng.random(len(is_company)) >= share))
            else:
                is_company, company_row = np.zeros(count, dtype=bool), np.full(count, -1)
                active = rng.random(count) >= share
            self.parts[group] = (is_company, company_row, active)
            self.layout.append((group, next_id, len(is_company)))
            next_id += len(is_company)
        self.active = np.concatenate([p[2] for p in self.parts.values()])
        self.kinds = np.concatenate([np.where(p[0], "company", "contact") for p in self.parts.values()])
        self.total = len(self.active)
        names = [g for g, _s, _c in self.layout]
        self.group_of = np.concatenate([np.full(c, i) for i, (_g, _s, c) in enumerate(self.layout)])
        # tickets go to contacts, and to companies of the group whose companies may have tickets
        self.eligible = np.arange(1, self.total + 1)[
            (self.kinds == "contact") | (self.group_of == names.index("business"))
        ]
        queue_of = {
            "retail": ("helpdesk", "billing"),
            "business": ("key-accounts", "billing"),
            "private": ("helpdesk", "billing"),
        }
        self.queues = np.array([[queue_ids[q] for q in queue_of[g]] for g in names])

    def customer_chunks(self) -> list[tuple[str, int, int]]:
        """(group, start, stop) of every chunk of customers, in id order."""
        return [
            (g, start, min(count, start + CHUNK))
            for g, _first, count in self.layout
            for start in range(0, count, CHUNK)
        ]

    def ticket_chunks(self) -> list[tuple[int, int]]:
        return [
            (start, min(self.plan.tickets, start + CHUNK)) for start in range(0, self.plan.tickets, CHUNK)
        ]

    def customers(self, chunk: tuple[str, int, int]) -> list[tuple[Any, ...]]:
        """Rows (CUSTOMER_COLS) of one chunk of customers."""
        group, start, stop = chunk
        first_id = next(f for g, f, _c in self.layout if g == group)
        is_company, company_row, active = self.parts[group]
        rng = np.random.default_rng([self.plan.seed, 1, first_id + start])
        return self._customer_chunk(rng, group, first_id, start, stop, is_company, company_row, active)

    def _customer_chunk(
        self,
        r: np.random.Generator,
        group: str,
        first_id: int,
        start: int,
        stop: int,
        is_company: np.ndarray,
        company_row: np.ndarray,
        active: np.ndarray,
    ) -> list[tuple[Any, ...]]:
        d, m = self.words, stop - start
        gdef, gid = self.config.groups[group], self.group_ids[group]
        firsts = r.choice(self.first, m)
        lasts = r.choice(self.last, m)
        nums = r.integers(1, 1000, m)
        tlds = r.choice(np.array(["de", "com", "org", "ch"], dtype=object), m)
        cities = r.integers(0, len(d.CITIES), m)
        streets = r.choice(np.array(d.STREETS, dtype=object), m)
        house = r.integers(1, 121, m)
        phones = r.integers(30, 1000, m), r.integers(100000, 10000000, m)
        extra = r.integers(0, 1 << 30, m)
        now = _time(self.now, self.pg)
        rows: list[tuple[Any, ...]] = []
        contact_key = self._contact_key(group)
        for i in range(m):
            row = start + i
            city, zip_, country = d.CITIES[cities[i]]
            e = int(extra[i])
            phone = f"+49 {phones[0][i]} {phones[1][i]}"
            if is_company[row]:
                kind, company_id = "company", None
                if group == "retail":
                    name = f"{d.FIRMS[e % len(d.FIRMS)]} {lasts[i]}"
                else:
                    name = f"{lasts[i]} {d.CORP[e % len(d.CORP)]} {d.FORMS[(e >> 8) % len(d.FORMS)]}"
                data: dict[str, Any] = {
                    "name": name,
                    "street": f"{streets[i]} {house[i]}",
                    "zip": zip_,
                    "city": city,
                    "country": country,
                }
                if group == "retail":
                    data["phone"] = phone
                else:
                    data["vat_id"] = f"{country}{100000000 + e % 900000000}"
                    data["employees"] = (5, 12, 40, 120, 800, 2500)[(e >> 4) % 6]
                key = key_for(kind, data, gdef.fields_for(kind))
                doc = json.dumps(data, ensure_ascii=False)
            else:
                kind = "contact"
                company_id = first_id + int(company_row[row]) if company_row[row] >= 0 else None
                first, last, num, tld = firsts[i], lasts[i], int(nums[i]), tlds[i]
                name = f"{first} {last}"
                email = f"{self.ascii[first]}.{self.ascii[last]}{num}@example.{tld}"
                j = self._json
                doc = f'{{"first_name": {j(first)}, "last_name": {j(last)}, "email": "{email}", "phone": "{phone}"'
                if group == "retail":
                    doc += (
                        f', "city": {j(city)}, "zip": "{zip_}", "salutation": "{("Frau", "Herr", "Divers")[e % 3]}", '
                        f'"tier": "{("gold", "silver", "bronze")[(e >> 2) % 3]}", '
                        f'"newsletter": {"true" if (e >> 4) % 5 < 2 else "false"}}}'
                    )
                    more: tuple[str, ...] = (city, zip_)
                elif group == "private":
                    doc += f', "city": {j(city)}, "birthday": "{1940 + e % 66:04d}-{1 + (e >> 7) % 12:02d}-{1 + (e >> 11) % 28:02d}"}}'
                    more = (city,)
                else:
                    position = ("Einkauf", "IT-Leitung", "Geschäftsführung", "Buchhaltung", "CTO")[e % 5]
                    doc += f', "position": {j(position)}}}'
                    more = (position,)
                key = contact_key(first, last, num, tld, more)
            is_active = bool(active[row])
            rows.append(
                (
                    first_id + row,
                    kind,
                    gid,
                    company_id,
                    is_active,
                    name,
                    key,
                    doc,
                    1,
                    now,
                    now,
                    None if is_active else now,
                )
            )
        return rows

    @staticmethod
    @lru_cache(maxsize=4096)
    def _json(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)

    def _contact_key(self, group: str) -> Callable[[str, str, int, str, tuple[str, ...]], str]:
        """key_for() of this module's contacts, from cached parts: their e-mail differs only by a number
        and a top-level domain (tests/test_r26_r28_search.py checks it equals key_for)."""
        head_of = lru_cache(maxsize=1 << 18)(
            lambda first, last: tokens(f"{first} {last}", f"{self.ascii[first]}.{self.ascii[last]}")
        )
        tail_of = lru_cache(maxsize=1024)(lambda more: tokens(*more))

        def key(first: str, last: str, num: int, tld: str, more: tuple[str, ...]) -> str:
            head = list(head_of(first, last))
            for t in (str(num), "example", tld):
                if t not in head:
                    head.append(t)
            seen = set(head)
            tail = [t for t in tail_of(more) if t not in seen]
            return " ".join(head) + (PART_SEP + " ".join(tail) if tail else "")

        return key

    # -- tickets --------------------------------------------------------------------------------------
    @property
    def _now64(self) -> np.datetime64:
        return np.datetime64(self.now.astimezone(dt.UTC).replace(tzinfo=None), "us")

    def _times(self, values: np.ndarray) -> list[str]:
        """Timestamps as text the database reads back (SQLite: SQLAlchemy's format; PostgreSQL: UTC)."""
        out = np.datetime_as_string(values, unit="us")
        if self.pg:
            return [v + "+00:00" for v in out.tolist()]
        return list(np.char.replace(out, "T", " ").tolist())

    def tickets(self, chunk: tuple[int, int]) -> tuple[list[tuple[Any, ...]], list[tuple[int, int]]]:
        """Ticket rows (TICKET_COLS) and (ticket_id, additional customer id) pairs of one chunk."""
        d, (start, stop) = self.words, chunk
        r = np.random.default_rng([self.plan.seed, 2, start])
        group_of, eligible, queues = self.group_of, self.eligible, self.queues
        firsts = np.array([s for _g, s, _c in self.layout])
        counts = np.array([c for _g, _s, c in self.layout])
        # subjects: a demo subject, or one with a product and an order number (keys from cached parts)
        plain = list(d.SUBJECTS)
        combos = plain + [f"{s}: {p}" for s in plain for p in _PRODUCTS]
        combo_keys = [search_key(s) for s in combos]
        m = stop - start
        tids = np.arange(start + 1, start + m + 1)
        main = r.choice(eligible, m)
        open_ = self.active[main - 1] & (r.random(m) < 0.3)
        ages = r.integers(0, 720 * 1440, m).astype("timedelta64[m]")
        closes = r.integers(0, 31, m).astype("timedelta64[D]")
        combo = r.integers(0, len(combos), m)
        orders = r.integers(10000, 100000, m)
        users = np.where(r.random(m) < 0.5, "alice", "admin").tolist()
        extra = r.random(m) < 0.15
        with_order = combo >= len(plain)
        subjects = [
            f"{combos[c]} {o}" if w else combos[c]
            for c, o, w in zip(combo.tolist(), orders.tolist(), with_order.tolist(), strict=True)
        ]
        keys = [
            f"{combo_keys[c]} {o}" if w else combo_keys[c]
            for c, o, w in zip(combo.tolist(), orders.tolist(), with_order.tolist(), strict=True)
        ]
        created = self._times(self._now64 - ages)
        closed = [
            c if not o else None
            for c, o in zip(self._times(self._now64 - ages + closes), open_.tolist(), strict=True)
        ]
        states = np.where(open_, "open", "closed").tolist()
        groups = group_of[main - 1]
        queue = queues[groups, orders % 2].tolist()
        numbers = [ticket_number(t) for t in tids.tolist()]
        rows = list(
            zip(
                tids.tolist(),
                numbers,
                subjects,
                keys,
                queue,
                states,
                main.tolist(),
                users,
                created,
                closed,
                strict=True,
            )
        )
        # an additional customer of the same group: active, or the ticket is closed
        other = firsts[groups] + (orders * 7919 + tids) % counts[groups]
        ok = extra & (other != main) & (self.active[other - 1] | ~open_)
        links = list(zip(tids[ok].tolist(), other[ok].tolist(), strict=True))
        return rows, links


CUSTOMER_COLS = (
    "id",
    "kind",
    "group_id",
    "company_id",
    "active",
    "name",
    "search_key",
    "data",
    "version",
    "created_at",
    "updated_at",
    "deactivated_at",
)
TICKET_COLS = (
    "id",
    "number",
    "subject",
    "search_key",
    "queue_id",
    "state",
    "main_customer_id",
    "created_by",
    "created_at",
    "closed_at",
)


def _writer(work: uow.UnitOfWork) -> Callable[[str, Sequence[str], list[tuple[Any, ...]]], None]:
    """A function writing rows into a table through the bare driver of the unit of work's connection."""
    raw = work.session.connection().connection.driver_connection
    cur = raw.cursor()  # type: ignore[union-attr]
    if work.is_sqlite:

        def write(table: str, cols: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
            marks = ", ".join("?" * len(cols))
            cur.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", rows)  # noqa: S608

        return write

    def copy(table: str, cols: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)

    return copy


_BUILDER: ScaleBuilder | None = None


def _draw(task: tuple[str, Any]) -> Any:
    assert _BUILDER is not None
    what, chunk = task
    return _BUILDER.customers(chunk) if what == "customers" else _BUILDER.tickets(chunk)


def _drawn(builder: ScaleBuilder, tasks: list[tuple[str, Any]]) -> Iterator[Any]:
    """The chunks of `tasks`, in order, drawn by worker processes while the caller writes."""
    global _BUILDER
    _BUILDER = builder
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:  # pragma: no cover - no fork on this platform: draw here
        yield from map(_draw, tasks)
        return
    with ctx.Pool(max(1, min(WORKERS, os.cpu_count() or 1))) as pool:
        yield from pool.imap(_draw, tasks)


PROTOCOL_SQL = (
    "INSERT INTO ticket_protocol (ticket_id, at, user_name, action, role, new_customer_id, new_customer_name) "
    "SELECT t.id, t.created_at, t.created_by, 'created', 'main', t.main_customer_id, c.name "
    "FROM tickets t JOIN customers c ON c.id = t.main_customer_id ORDER BY t.id",
    "INSERT INTO ticket_protocol (ticket_id, at, user_name, action, role, new_customer_id, new_customer_name) "
    "SELECT t.id, t.created_at, t.created_by, 'customer_added', 'additional', a.customer_id, c.name "
    "FROM ticket_additional_customers a JOIN tickets t ON t.id = a.ticket_id JOIN customers c ON c.id = a.customer_id "
    "ORDER BY a.ticket_id, a.customer_id",
)


def populate(engine: Any, plan: Any, progress: bool = True) -> dict[str, int]:
    """Fill an empty, initialised database with a large demo data set (see cmkit.demo.Plan); returns
    the row counts. Refuses a database that already has customers."""

    def op(work: uow.UnitOfWork) -> dict[str, int]:
        s = work.session
        if s.execute(select(CustomerRow.id).limit(1)).first():
            raise CMError(
                "the database already has customers; the demo data goes into an empty database only"
            )
        groups = {n: i for n, i in s.execute(select(CustomerGroup.name, CustomerGroup.id))}
        queues = {n: i for n, i in s.execute(select(Queue.name, Queue.id))}
        b = ScaleBuilder(plan, config_store.load(s), groups, queues, work.now, not work.is_sqlite)
        write = _writer(work)
        conn = s.connection()
        conn.exec_driver_sql(
            "PRAGMA cache_size = -500000" if work.is_sqlite else "SET LOCAL maintenance_work_mem = '1GB'"
        )
        _search_indexes(work, drop=True)
        counts = {"customers": b.total, "tickets": plan.tickets, "additional": 0}
        tasks = [("customers", c) for c in b.customer_chunks()] + [("tickets", c) for c in b.ticket_chunks()]
        bars = {
            what: tqdm(total=total, desc=what, unit="rows", disable=not progress, leave=False)
            for what, total in (("customers", b.total), ("tickets", plan.tickets))
        }
        for (what, _chunk), drawn in zip(tasks, _drawn(b, tasks), strict=True):
            if what == "customers":
                write("customers", CUSTOMER_COLS, drawn)
                bars[what].update(len(drawn))
                continue
            rows, links = drawn
            write("tickets", TICKET_COLS, rows)
            write("ticket_additional_customers", ("ticket_id", "customer_id"), links)
            counts["additional"] += len(links)
            bars[what].update(len(rows))
        for bar in bars.values():
            bar.close()
        with tqdm(
            total=len(PROTOCOL_SQL) + 1, desc="protocol, indexes", disable=not progress, leave=False
        ) as bar:
            for sql in PROTOCOL_SQL:
                conn.exec_driver_sql(sql)
                bar.update(1)
            _search_indexes(work, drop=False)
            bar.update(1)
        if not work.is_sqlite:
            for table in ("customers", "tickets", "ticket_protocol"):
                sql = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
                s.execute(text(sql))
        s.execute(text("ANALYZE"))
        work.audit("demo_data", "database", None, None, None, counts)
        return counts

    return uow.run(engine, "admin", op, write=True)


BULK_TABLES = ("customers", "tickets", "ticket_additional_customers", "ticket_protocol")


def _search_indexes(work: uow.UnitOfWork, *, drop: bool) -> None:
    """Take the secondary and search indexes away before a bulk load and build them once after it
    (sorting once is faster than keeping them true row by row), inside the load's transaction."""
    conn = work.session.connection()
    for name in BULK_TABLES:
        for index in Base.metadata.tables[name].indexes:
            if drop:
                index.drop(conn, checkfirst=True)
            else:
                index.create(conn, checkfirst=True)
    if work.is_sqlite:
        stmts = (
            [f"DROP TRIGGER IF EXISTS {t}" for t in search_ddl.SQLITE_TRIGGERS]
            if drop
            else search_ddl.sqlite_ddl() + search_ddl.sqlite_refill()
        )
    else:
        stmts = search_ddl.postgresql_drop() if drop else search_ddl.postgresql_ddl()
    for stmt in stmts:
        conn.exec_driver_sql(stmt)
