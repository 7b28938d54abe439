"""The benchmark's database: the demo data set at the asked size (built once, cached), plus its scenario:
a business company with 100,000 tickets and another to transfer them to, and a retail company with
10,000 contacts and no open ticket to deactivate. The scenario is set up with SQL, once."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

import cmkit
from cmkit import demo
from cmkit.db.engine import engine_for
from cmkit.db.schema import CustomerRow
from cmkit.domain.config import PERMISSIONS
from cmkit.domain.keys import key_for

DATA = Path(__file__).with_name("data")
TRANSFER_TICKETS = 100_000
CONTACTS = 10_000
SOURCE, TARGET, BIG = "Bench Transfer Quelle GmbH", "Bench Transfer Ziel GmbH", "Bench Massenfirma GmbH"


@dataclass(frozen=True)
class Scenario:
    source: int
    target: int
    company: int
    transfer_tickets: int
    contacts: int


def default_url(customers: int, tickets: int) -> str:
    return f"sqlite:///{DATA / f'bench-{customers}-{tickets}.db'}"


def _ensure_pg_database(url: str) -> None:
    parsed = make_url(url)
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
        ).first():
            conn.execute(sa.text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def drop(url: str) -> None:
    """Remove the benchmark database at `url`, so that the next `build` makes it anew. Only one the bench
    builds: a SQLite file under bench/data/, or a PostgreSQL database named cmkit_bench...; anything else
    is refused (a mistyped --url must not drop a team's database)."""
    from cmkit.db.engine import dispose_engines

    parsed = make_url(url)
    if url.startswith("sqlite"):
        path = Path(parsed.database or "").resolve()
        if path.parent != DATA.resolve():
            raise SystemExit(f"--fresh rebuilds only the bench's own SQLite files under {DATA}, not {path}")
        dispose_engines()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = parsed.database or ""
    if not name.startswith("cmkit_bench"):
        raise SystemExit(f"--fresh rebuilds only PostgreSQL databases named cmkit_bench..., not {name!r}")
    dispose_engines()
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        quoted = conn.dialect.identifier_preparer.quote(name)
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
    admin.dispose()


def build(url: str, customers: int, tickets: int) -> None:
    """The demo database of this size at `url`, unless it has customers already."""
    if url.startswith("sqlite"):
        Path(make_url(url).database or "").parent.mkdir(parents=True, exist_ok=True)
    else:
        _ensure_pg_database(url)
    cmkit.init(url, demo.DEMO_CONFIG)
    engine = engine_for(url)
    with engine.connect() as conn:
        if conn.execute(sa.text("SELECT 1 FROM customers LIMIT 1")).first():
            return
    print(f"building the benchmark database ({customers} customers, {tickets} tickets); this is done once")
    started = time.perf_counter()
    demo.populate(engine, demo.Plan(customers=customers, tickets=tickets), progress=True)
    print(f"built in {time.perf_counter() - started:.0f} s")


def full_login(url: str, name: str) -> str:
    """`url` as login `name`, a cmkit user with role `bench` that holds every permission on every group
    but does not own the schema (PostgreSQL only): what a team's admin is. Created when missing."""
    if not url.startswith("postgresql"):
        raise SystemExit("--login needs a PostgreSQL --url: SQLite has no logins")
    cm = cmkit.connect(url)
    config = cm.config.to_dict()
    if "bench" not in config["roles"]:
        config["roles"]["bench"] = {permission: ["*"] for permission in PERMISSIONS}
        cmkit.init(url, config)
        cm = cmkit.connect(url)
    cm.add_user(name, ["bench"])
    return make_url(url).set(username=name).render_as_string(hide_password=False)


def scenario(url: str) -> Scenario:
    """The scenario's customers (created on the first run)."""
    cm = cmkit.connect(url)
    engine = engine_for(url)

    def find(name: str) -> int | None:
        found = cm.detail_search(include_deactivated=True, kind="company", name=name)
        return int(found["id"].iloc[0]) if len(found) else None

    source, target, big = find(SOURCE), find(TARGET), find(BIG)
    if source is None or target is None:
        source = cm.create_company("business", name=SOURCE, city="Köln").id
        target = cm.create_company("business", name=TARGET, city="Bonn").id
        business = cm.group_id("business")
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE tickets SET main_customer_id = :s WHERE id IN (SELECT t.id FROM tickets t "
                    "JOIN customers c ON c.id = t.main_customer_id WHERE c.group_id = :g AND c.active "
                    "ORDER BY t.id LIMIT :n)"
                ),
                {"s": source, "g": business, "n": TRANSFER_TICKETS},
            )
    if big is None:
        big = cm.create_company("retail", name=BIG, city="Berlin").id
        fields = cm.group("retail").fields_for("contact")
        rows = []
        for i in range(CONTACTS):
            data = {
                "first_name": "Mitarbeiter",
                "last_name": f"Nummer {i}",
                "email": f"m{i}@massenfirma.example",
            }
            rows.append(
                {
                    "kind": "contact",
                    "group_id": cm.group_id("retail"),
                    "company_id": big,
                    "active": True,
                    "name": f"Mitarbeiter Nummer {i}",
                    "search_key": key_for("contact", data, fields),
                    "data": data,
                    "version": 1,
                }
            )
        with engine.begin() as conn:
            conn.execute(sa.insert(CustomerRow), rows)
    with engine.connect() as conn:
        n = conn.execute(
            sa.text("SELECT count(*) FROM tickets WHERE main_customer_id IN (:s, :t)"),
            {"s": source, "t": target},
        ).scalar_one()
        contacts = conn.execute(
            sa.text("SELECT count(*) FROM customers WHERE company_id = :c"), {"c": big}
        ).scalar_one()
    return Scenario(source, target, big, int(n), int(contacts))


def restore_company(url: str, company: int) -> None:
    """Make the company and its contacts active again after a timed deactivation (not timed)."""
    with engine_for(url).begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE customers SET active = :t, deactivated_at = NULL WHERE id = :c OR company_id = :c"
            ),
            {"c": company, "t": True},
        )


def settle(url: str) -> None:
    """PostgreSQL: vacuum and analyze the tables the benchmark reads and rewrites (earlier runs leave
    millions of dead row versions behind, which slow every scan), so each run starts alike. Not timed."""
    if not url.startswith("postgresql"):
        return
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(
            sa.text(
                "VACUUM (ANALYZE) customers, tickets, ticket_additional_customers, ticket_protocol, audit_log, "
                "customer_words, ticket_words"
            )
        )
    engine.dispose()
