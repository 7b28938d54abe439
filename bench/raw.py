"""The lower bounds: the same work as cmkit, by hand-written SQL through the bare driver (sqlite3, psycopg,
ADBC), on a connection opened once. Searches run the indexed statements cmkit runs, built before the
clock starts on SQLite (so the bound is the index's own time); on PostgreSQL the ways of
cmkit.db.search_pg (btree walks of the word tables that stop at the limit, prepared with generic plans),
the fastest statements found for the first matches in id order, without cmkit's own work around them.
Transfer and deactivation run the minimal statements that leave the database as cmkit leaves it
(protocol and audit rows included), on SQLite with cmkit's durability settings (synchronous=NORMAL, the
log checkpointed after the commit in the background)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from cmkit.db import checkpoints, search_pg
from cmkit.db import search_queries as q
from cmkit.db.engine import SQLITE_MMAP_BYTES
from cmkit.db.search_queries import CustomerHit
from cmkit.domain.text import query_terms
from cmkit.services.search import AUTOCOMPLETE_TIERS, CUSTOMERS_FOR_TICKETS, QUICK_TIERS

Stmt = tuple[str, dict[str, Any]]
Step = tuple[int, list[list[Stmt]]]  # (rows wanted, steps: each a list of statements to try in turn)
Plan = list[Step] | Callable[[], int]  # SQLite: the steps; PostgreSQL: search_pg's way, called


class Raw:
    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.pg = parsed.get_backend_name() == "postgresql"
        self.url = url
        if self.pg:
            import psycopg

            dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            # as cmkit's search engine: statements prepared when asked, generic plans, no JIT (cmkit.db.search_pg)
            self.conn: Any = psycopg.connect(
                dsn,
                prepare_threshold=2**31 - 1,
                autocommit=True,
                options="-c plan_cache_mode=force_generic_plan -c jit=off",
            )
        else:
            import sqlite3

            self.conn = sqlite3.connect(parsed.database, isolation_level=None, timeout=30)
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")  # as cmkit reads (cmkit.db.engine)
            # as cmkit writes: the log synced at checkpoints, not at every commit, and checkpointed after the
            # commit in the background (cmkit.db.checkpoints), which the bench lets finish untimed
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA wal_autocheckpoint=0")
            self.path = str(Path(parsed.database or "").resolve())
        self.cur = self.conn.cursor()

    def close(self) -> None:
        self.conn.close()

    def _pg(self, stmt: Stmt) -> list[Any]:
        self.cur.execute(*stmt, prepare=True)
        return list(self.cur.fetchall())

    def run(self, plan: Sequence[Step] | Callable[[], int]) -> int:
        """Run a search as cmkit does: per group of steps, the steps in turn until `wanted` distinct rows
        are found; per step, its statements in turn until one finds enough (see q.budgeted). On
        PostgreSQL a plan is cmkit.db.search_pg's way, run by calling it."""
        if callable(plan):
            return plan()
        n = 0
        for wanted, steps in plan:
            found: set[Any] = set()
            for stmts in steps:
                if len(found) >= wanted:
                    break
                rows: list[Any] = []
                for sql, params in stmts:
                    self.cur.execute(sql, params)
                    rows = self.cur.fetchall()
                    if len(rows) >= wanted:
                        break
                found.update(r[0] for r in rows)
            n += len(found)
        return n

    # -- searches: cmkit's indexed statements ------------------------------------------------------------
    def _tiers(
        self, terms: Any, tiers: Sequence[tuple[bool, bool]], gids: list[int], limit: int
    ) -> list[list[Stmt]]:
        return [
            q.budgeted(
                q.customers_query,
                pg=self.pg,
                terms=terms,
                prefix=p,
                names_only=n,
                group_ids=gids,
                limit=limit if i == 0 else 2 * limit,
            )
            for i, (p, n) in enumerate(tiers)
        ]

    def _pg_tiers(
        self, terms: Any, tiers: Sequence[tuple[bool, bool]], gids: list[int], limit: int
    ) -> set[int]:
        found: set[int] = set()
        for prefix, names_only in tiers:
            if len(found) >= limit:
                break
            rows = search_pg.customers(
                self._pg,
                terms,
                prefix=prefix,
                names_only=names_only,
                group_ids=gids,
                limit=limit + len(found),
            )
            found.update(r[0] for r in rows)
        return found

    def autocomplete(self, text: str, gids: list[int], limit: int = 10) -> Plan:
        terms = query_terms(text)  # no words (a typed '-'): cmkit asks nothing either
        if self.pg:
            return lambda: len(self._pg_tiers(terms, AUTOCOMPLETE_TIERS, gids, limit)) if terms else 0
        return [(limit, self._tiers(terms, AUTOCOMPLETE_TIERS, gids, limit))] if terms else []

    def _pg_quick(self, terms: Any, gids: list[int], limit: int) -> int:
        found = self._pg_tiers(terms, QUICK_TIERS, gids, limit)
        tickets: set[int] = set()
        steps: list[Callable[[], list[Any]]] = [
            lambda: search_pg.tickets_by_subject(self._pg, terms, group_ids=gids, limit=limit, prefix=False),
            lambda: search_pg.tickets_by_subject(self._pg, terms, group_ids=gids, limit=limit),
            lambda: search_pg.tickets_by_customer(
                self._pg, terms, group_ids=gids, limit=limit, max_customers=max(CUSTOMERS_FOR_TICKETS, limit)
            ),
        ]
        for step in steps:
            if len(tickets) >= limit:
                break
            tickets.update(r[0] for r in step())
        return len(found) + len(tickets)

    def quick(self, text: str, gids: list[int], limit: int = 50) -> Plan:
        terms = query_terms(text)
        if not terms:
            return []
        if self.pg:
            return lambda: self._pg_quick(terms, gids, limit)
        tickets = [
            q.budgeted(
                q.tickets_by_subject, pg=self.pg, terms=terms, group_ids=gids, limit=limit, prefix=False
            ),
            q.budgeted(q.tickets_by_subject, pg=self.pg, terms=terms, group_ids=gids, limit=limit),
            q.budgeted(
                q.tickets_by_customer,
                pg=self.pg,
                terms=terms,
                group_ids=gids,
                limit=limit,
                max_customers=max(CUSTOMERS_FOR_TICKETS, limit),
            ),
        ]
        return [(limit, self._tiers(terms, QUICK_TIERS, gids, limit)), (limit, tickets)]

    def detail(self, criteria: dict[str, str], gids: list[int], kind: str | None) -> Plan:
        """The indexed candidates, with the field values compared in SQL (exact, as typed; PostgreSQL:
        in Python, on the candidates search_pg found)."""
        terms = [t for v in criteria.values() for t in query_terms(v)]
        if self.pg:
            data = CustomerHit._fields.index("data")

            def found() -> int:
                rows = search_pg.customers(
                    self._pg, terms, prefix=False, names_only=False, group_ids=gids, kind=kind, with_data=True
                )
                return sum(all(r[data].get(k) == v for k, v in criteria.items()) for r in rows)

            return found
        sql, params = q.customers_query(
            self.pg, terms, prefix=False, names_only=False, group_ids=gids, kind=kind, with_data=True
        )
        checks = []
        for i, (name, value) in enumerate(criteria.items()):
            params[f"f{i}"], params[f"v{i}"] = name, value
            if self.pg:
                checks.append(f"r.data ->> %(f{i})s = %(v{i})s")
            else:
                checks.append(f"json_extract(r.data, '$.' || :f{i}) = :v{i}")
        sql = f"SELECT * FROM ({sql}) r WHERE {' AND '.join(checks)} ORDER BY r.id"  # noqa: S608 - fixed SQL
        return [(1 << 30, [[(sql, params)]])]

    # -- lifecycle: the statements that do cmkit's work -------------------------------------------------
    def _tx(self, stmts: Sequence[Stmt]) -> None:
        self.cur.execute("BEGIN" if self.pg else "BEGIN IMMEDIATE")
        try:
            for sql, params in stmts:
                self.cur.execute(sql, params)
        except BaseException:
            self.cur.execute("ROLLBACK")
            raise
        self.cur.execute("COMMIT")
        if not self.pg:
            checkpoints.after_commit(self.path)

    def _p(self, sql: str) -> str:
        """`:name` placeholders in the driver's style."""
        if not self.pg:
            return sql
        import re

        return re.sub(r":(\w+)", r"%(\1)s", sql)

    def transfer(self, source: int, target: int, names: dict[int, str]) -> None:
        """R17, all tickets: protocol entries, duplicate links dropped, main and additional replaced, audit."""
        now = dt.datetime.now(dt.UTC)
        p = {
            "s": source,
            "t": target,
            "sn": names[source],
            "tn": names[target],
            "now": now if self.pg else str(now),
        }
        proto = (
            "INSERT INTO ticket_protocol (ticket_id, at, user_name, action, role, old_customer_id, "
            "old_customer_name, new_customer_id, new_customer_name) SELECT {id}, :now, 'raw', 'transferred', "
            "'{role}', :s, :sn, :t, :tn FROM {src}"
        )
        audit = (
            "INSERT INTO audit_log (at, user_name, action, entity, entity_id, customer_id, before, after) "
            "VALUES (:now, 'raw', '{a}', 'customer', :{c}, :{c}, '{{\"customer_id\": 0}}', '{{\"customer_id\": 0}}')"
        )
        stmts = [
            proto.format(id="id", role="main", src="tickets WHERE main_customer_id = :s"),
            proto.format(
                id="ticket_id", role="additional", src="ticket_additional_customers WHERE customer_id = :s"
            ),
            "DELETE FROM ticket_additional_customers WHERE customer_id = :s AND ticket_id IN "
            "(SELECT id FROM tickets WHERE main_customer_id = :t UNION SELECT ticket_id FROM "
            "ticket_additional_customers WHERE customer_id = :t)",
            "DELETE FROM ticket_additional_customers WHERE customer_id = :t AND ticket_id IN "
            "(SELECT id FROM tickets WHERE main_customer_id = :s)",
            "UPDATE tickets SET main_customer_id = :t WHERE main_customer_id = :s",
            "UPDATE ticket_additional_customers SET customer_id = :t WHERE customer_id = :s",
            audit.format(a="transfer_out", c="s"),
            audit.format(a="transfer_in", c="t"),
        ]
        self._tx([(self._p(s), p) for s in stmts])

    def deactivate(self, company: int) -> None:
        """R18 check (open tickets of the company or its contacts), one audit row each, R19 update."""
        now = dt.datetime.now(dt.UTC)
        p = {"c": company, "now": now if self.pg else str(now), "f": False, "t": True}
        scope = "SELECT id FROM customers WHERE id = :c OR company_id = :c"
        stmts = [
            f"SELECT t.id FROM tickets t WHERE t.state = 'open' AND t.main_customer_id IN ({scope}) UNION "  # noqa: S608
            f"SELECT a.ticket_id FROM ticket_additional_customers a JOIN tickets t ON t.id = a.ticket_id "
            f"WHERE t.state = 'open' AND a.customer_id IN ({scope})",
            "INSERT INTO audit_log (at, user_name, action, entity, entity_id, customer_id, before, after) "
            "SELECT :now, 'raw', 'deactivate', 'customer', id, id, '{\"active\": true}', '{\"active\": false}' "
            "FROM customers WHERE (id = :c OR company_id = :c) AND active = :t",
            "UPDATE customers SET active = :f, deactivated_at = :now, version = version + 1, updated_at = :now "
            "WHERE (id = :c OR company_id = :c) AND active = :t",
        ]
        self._tx([(self._p(s), p) for s in stmts])

    def frame(self) -> float:
        """All customers into a DataFrame through ADBC and Arrow (the data column as stored); returns the
        milliseconds the load took. SQLite: in a child process, because ADBC brings a second SQLite library,
        and two in one process break each other's file locks; the child times itself."""
        parsed = make_url(self.url)
        if not self.pg:
            import subprocess
            import sys

            out = subprocess.run(
                [sys.executable, "-c", _SQLITE_FRAME, parsed.database or ""],
                check=True,
                capture_output=True,
                text=True,
            )
            return float(out.stdout.split()[-1])
        import time

        import adbc_driver_postgresql.dbapi as adbc

        started = time.perf_counter()
        conn = adbc.connect(parsed.set(drivername="postgresql").render_as_string(hide_password=False))
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT c.id, c.kind, c.group_id, c.company_id, c.active, c.name, c.version, "
                    "c.created_at, c.updated_at, c.data::text AS data FROM customers c ORDER BY c.id"
                )
                cur.fetch_df()
        finally:
            conn.close()
        return (time.perf_counter() - started) * 1000


_SQLITE_FRAME = """
import sys, time
import adbc_driver_sqlite.dbapi as adbc
started = time.perf_counter()
conn = adbc.connect(sys.argv[1])
with conn.cursor() as cur:
    cur.execute("SELECT * FROM customers ORDER BY id")
    cur.fetch_df()
conn.close()
print((time.perf_counter() - started) * 1000)
"""
