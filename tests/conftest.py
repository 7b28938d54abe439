"""Fixtures: every test that takes `cm` runs on SQLite and, with CMKIT_TEST_POSTGRES_URL set, on PostgreSQL.

PostgreSQL: one database per test session (created here, dropped at the end); tables are emptied
between tests. SQLite: a fresh file per test, copied from a migrated template.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import MakeTicket, Rows, Snapshot

import cmkit
from cmkit.db import trust
from cmkit.db.config_store import CONFIG_TABLES
from cmkit.db.engine import dispose_engines, engine_for
from cmkit.db.schema import Base

CONFIG = Path(__file__).with_name("config_test.toml")
PG_ADMIN_URL = os.environ.get("CMKIT_TEST_POSTGRES_URL")
NO_POSTGRES = "set CMKIT_TEST_POSTGRES_URL to run on PostgreSQL"
BACKENDS_LINE = sys._getframe().f_lineno + 1  # where the summary shows the PostgreSQL skips
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=[pytest.mark.postgres, pytest.mark.skipif(not PG_ADMIN_URL, reason=NO_POSTGRES)],
    ),
]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A PostgreSQL variant skipped for want of a server is reported at BACKENDS, so that the summary
    (-ra) folds them all into one line instead of one line per test."""
    report: pytest.TestReport = yield
    if report.skipped and isinstance(report.longrepr, tuple) and report.longrepr[2].endswith(NO_POSTGRES):
        report.longrepr = (__file__, BACKENDS_LINE, report.longrepr[2])
    return report


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    cmkit.init(f"sqlite:///{path}", CONFIG)
    dispose_engines()
    return path


@contextmanager
def scratch_pg_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database named `prefix_<random>`, dropped when the block ends."""
    assert PG_ADMIN_URL
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        engine_for(url).dispose()
        own = sa.create_engine(url)
        with own.begin() as conn:  # its roles are the cluster's: they go with it
            trust.drop_roles(conn)
        own.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    with scratch_pg_database("cmkit_test") as url:
        cmkit.init(url, CONFIG)
        yield url
        dispose_engines()


def _empty_pg(url: str) -> None:
    data_tables = [t.name for t in Base.metadata.sorted_tables if t.name not in CONFIG_TABLES]
    with engine_for(url).begin() as conn:
        conn.execute(
            sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in data_tables) + " RESTART IDENTITY CASCADE")
        )
    cmkit.init(url, CONFIG)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with the test configuration and no customers: a fresh SQLite file, or emptied PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "cmkit.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
        yield url
        engine_for(url).dispose()
    else:
        url = request.getfixturevalue("pg_database")
        _empty_pg(url)
        yield url


@pytest.fixture
def cm(db_url: str) -> cmkit.CustomerManager:
    """The admin's connection to a fresh test database."""
    return cmkit.connect(db_url)


@pytest.fixture
def as_user(db_url: str) -> Callable[[str], cmkit.CustomerManager]:
    """Connect to the same database as another user: as_user("alice")."""
    return lambda user: cmkit.connect(db_url, user=user)


@pytest.fixture
def snapshot(db_url: str) -> Snapshot:
    """Every row of every table, to prove that a refused operation changed nothing (R30)."""

    def take() -> Rows:
        engine = engine_for(db_url)
        out: Rows = {}
        with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
                out[table.name] = [tuple(r) for r in rows]
        return out

    return take


@pytest.fixture
def world(cm: cmkit.CustomerManager) -> dict[str, cmkit.Customer]:
    """A small, named data set: two retail companies with contacts, a partner company, a private person."""
    acme = cm.create_company("retail", name="Acme GmbH", city="Köln", street="Hauptstraße 1")
    zeta = cm.create_company("retail", name="Zeta AG", city="Wien")
    anna = cm.create_contact(
        "retail", company=acme.id, first_name="Anna", last_name="Müller", email="anna@acme.example"
    )
    bert = cm.create_contact("retail", company=acme.id, first_name="Bert", last_name="Öztürk")
    carl = cm.create_contact("retail", company=zeta.id, first_name="Carl", last_name="Zander")
    part = cm.create_company("partners", name="Partner SE")
    pete = cm.create_contact("partners", company=part.id, first_name="Pete", last_name="Partner")
    priv = cm.create_contact("private", first_name="Petra", last_name="Privat", email="petra@example.org")
    return {
        "acme": acme,
        "zeta": zeta,
        "anna": anna,
        "bert": bert,
        "carl": carl,
        "part": part,
        "pete": pete,
        "priv": priv,
    }


@pytest.fixture
def make_ticket(cm: cmkit.CustomerManager) -> MakeTicket:
    """make_ticket(main, *additional, closed=False, queue=None, subject=None): a ticket the admin creates for
    the customer `main`, naming the `additional` customers too, in `queue` (default: the group's desk,
    partnerdesk for partners, helpdesk for the others) with `subject` (default "Issue"); closed if asked."""

    def make(
        main: cmkit.Customer,
        *additional: cmkit.Customer,
        closed: bool = False,
        queue: str | None = None,
        subject: str | None = None,
    ) -> cmkit.Ticket:
        if queue is None:
            queue = "partnerdesk" if main.group == "partners" else "helpdesk"
        t = cm.create_ticket(
            main.id, queue, "Issue" if subject is None else subject, additional=[a.id for a in additional]
        )
        return cm.close_ticket(t.id) if closed else t

    return make


@pytest.fixture
def refused(snapshot: Snapshot) -> Callable[..., Exception]:
    """refused(ErrorType, fn, *args, **kw): fn must raise ErrorType and leave every table as it was (R30)."""

    def check(error: type[Exception], fn: Callable[..., object], *args: object, **kw: object) -> Exception:
        before = snapshot()
        with pytest.raises(error) as info:
            fn(*args, **kw)
        assert snapshot() == before, "a refused operation changed the database"
        return info.value

    return check
