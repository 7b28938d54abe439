"""The lower bounds: the same work as cmkit, by hand-written SQL through the bare driver (sqlite3, psycopg,
ADBC), on a connection opened once. Searches run the indexed statements cmkit runs, prepared before
the clock starts (so the bound is the index's own time); transfer and deactivation run the minimal
statements that leave the database as cmkit leaves it (protocol and audit rows included)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import make_url

from cmkit.db import search_sql as q
from cmkit.domain.text import query_terms

Stmt = tuple[str, dict[str, Any]]


class Raw:
    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.pg = parsed.get_backend_name() == "postgresql"
        self.url = url
        if self.pg:
            import psycopg

            dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            self.conn: Any = psycopg.connect(dsn, prepare_threshold=None, autocommit=True)
        else:
            import sqlite3

            self.conn = sqlite3.connect(parsed.database, isolation_level=None, timeout=30)
            self.conn.execute("PRAGMA foreign_keys=ON")
        self.cur = self.conn.cursor()

    def close(self) -> None:
        self.conn.close()

    def run(self, stmts: Sequence[Stmt]) -> int:
        n = 0
        for sql, params in stmts:
            self.cur.execute(sql, params)
            n += len(self.cur.fetchall())
        return n

    # -- searches: cmkit's indexed statements ------------------------------------------------------------
    def autocomplete(self, text: str, gids: list[int], limit: int = 10) -> list[Stmt]:
        terms = query_terms(text)
        return [q.customers_query(self.pg, terms, prefix=p, names_only=True, group_ids=gids, limit=limit)
                for p in (False, True)]

    def quick(self, text: str, gids: list[int], limit: int = 50) -> list[Stmt]:
        terms = query_terms(text)
        stmts = [q.customers_query(self.pg, terms, prefix=p, names_only=n, group_ids=gids, limit=limit)
                 for p, n in ((False, True), (True, True), (True, False))]
        return stmts + [q.tickets_by_subject(self.pg, terms, group_ids=gids, limit=limit, prefix=False),
                        q.tickets_by_subject(self.pg, terms, group_ids=gids, limit=limit),
                        q.tickets_by_customer(self.pg, terms, group_ids=gids, limit=limit, max_customers=max(20, limit))]

    def detail(self, criteria: dict[str, str], gids: list[int], kind: str | None) -> list[Stmt]:
        """The indexed candidates, with the field values compared in SQL (exact, as typed)."""
        terms = [t for v in criteria.values() for t in query_terms(v)]
        sql, params = q.customers_query(self.pg, terms, prefix=False, names_only=False, group_ids=gids, kind=kind,
                                        with_data=True)
        head, order = sql.rsplit(" ORDER BY ", 1)
        for i, (name, value) in enumerate(criteria.items()):
            params[f"f{i}"], params[f"v{i}"] = name, value
            if self.pg:
                head += f" AND c.data ->> %(f{i})s = %(v{i})s"
            else:
                head += f" AND json_extract(c.data, '$.' || :f{i}) = :v{i}"
        return [(head + " ORDER BY " + order, params)]

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

    def _p(self, sql: str) -> str:
        """`:name` placeholders in the driver's style."""
        if not self.pg:
            return sql
        import re

        return re.sub(r":(\w+)", r"%(\1)s", sql)

    def transfer(self, source: int, target: int, names: dict[int, str]) -> None:
        """R17, all tickets: protocol entries, duplicate links dropped, main and additional replaced, audit."""
        now = dt.datetime.now(dt.UTC)
        p = {"s": source, "t": target, "sn": names[source], "tn": names[target], "now": now if self.pg else str(now)}
        proto = ("INSERT INTO ticket_protocol (ticket_id, at, user_name, action, role, old_customer_id, "
                 "old_customer_name, new_customer_id, new_customer_name) SELECT {id}, :now, 'raw', 'transferred', "
                 "'{role}', :s, :sn, :t, :tn FROM {src}")
        audit = ("INSERT INTO audit_log (at, user_name, action, entity, entity_id, customer_id, before, after) "
                 "VALUES (:now, 'raw', '{a}', 'customer', :{c}, :{c}, '{{\"customer_id\": 0}}', '{{\"customer_id\": 0}}')")
        stmts = [
            proto.format(id="id", role="main", src="tickets WHERE main_customer_id = :s"),
            proto.format(id="ticket_id", role="additional", src="ticket_additional_customers WHERE customer_id = :s"),
            "DELETE FROM ticket_additional_customers WHERE customer_id = :s AND ticket_id IN "
            "(SELECT id FROM tickets WHERE main_customer_id = :t UNION SELECT ticket_id FROM "
            "ticket_additional_customers WHERE customer_id = :t)",
            "DELETE FROM ticket_additional_customers WHERE customer_id = :t AND ticket_id IN "
            "(SELECT id FROM tickets WHERE main_customer_id = :s)",
            "UPDATE tickets SET main_customer_id = :t WHERE main_customer_id = :s",
            "UPDATE ticket_additional_customers SET customer_id = :t WHERE customer_id = :s",
            audit.format(a="transfer_out", c="s"), audit.format(a="transfer_in", c="t"),
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

    def frame(self) -> int:
        """All customers into a DataFrame through ADBC and Arrow (the data column as stored)."""
        parsed = make_url(self.url)
        if self.pg:
            import adbc_driver_postgresql.dbapi as adbc

            conn = adbc.connect(parsed.set(drivername="postgresql").render_as_string(hide_password=False))
            sql = "SELECT c.*, c.data::text AS data_text FROM customers c ORDER BY c.id"
        else:
            import adbc_driver_sqlite.dbapi as adbc_sqlite

            conn = adbc_sqlite.connect(parsed.database)
            sql = "SELECT * FROM customers ORDER BY id"
        try:
            with conn.cursor() as cur:
                cur.execute(sql if not self.pg else sql.replace("c.*, ", "c.id, c.kind, c.group_id, c.company_id, "
                                                                "c.active, c.name, c.version, c.created_at, "
                                                                "c.updated_at, "))
                return len(cur.fetch_df())
        finally:
            conn.close()
