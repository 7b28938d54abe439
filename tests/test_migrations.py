"""The Alembic migrations build exactly the ORM's tables; init upgrades old databases and is idempotent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import BACKENDS, scratch_pg_database

import cmkit
from cmkit import CMError
from cmkit.db import migrate, search_ddl
from cmkit.db.engine import engine_for
from cmkit.db.schema import Base
from cmkit.db.search_ddl import is_search_object

CONFIG = Path(__file__).with_name("config_test.toml")


def differences(url: str) -> list[object]:
    """What autogenerate would change to make the database at `url` match the ORM metadata (the search
    indexes exist in the migrations only and are left out: cmkit.db.migrate.include_object)."""
    with engine_for(url).connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": False,
                "include_object": migrate.include_object,
            },
        )
        return list(compare_metadata(ctx, Base.metadata))


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database with no cmkit schema at all: a new SQLite file or a new PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
        yield url
        engine_for(url).dispose()
        return
    with scratch_pg_database("cmkit_mig") as url:
        yield url


def upgrade_to(url: str, revision: str) -> None:
    migrate.upgrade(engine_for(url), revision)


def test_migrations_produce_exactly_the_orm_metadata(db_url: str) -> None:
    assert migrate.current_revision(engine_for(db_url)) == migrate.head_revision()
    assert differences(db_url) == []


def test_migrations_on_an_empty_database_produce_the_orm_metadata(empty_url: str) -> None:
    cmkit.init(empty_url, CONFIG)
    assert migrate.current_revision(engine_for(empty_url)) == migrate.head_revision()
    assert differences(empty_url) == []
    tables = {t for t in sa.inspect(engine_for(empty_url)).get_table_names() if not is_search_object(t)}
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


def test_migrations_form_one_chain() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert len(script.get_heads()) == 1
    revisions = list(script.walk_revisions())
    assert revisions[-1].down_revision is None
    assert [r.revision for r in reversed(revisions)] == [f"{i:04d}" for i in range(1, len(revisions) + 1)]


def test_migrations_init_upgrades_an_older_schema_keeping_its_data(empty_url: str) -> None:
    upgrade_to(empty_url, "0001")
    with pytest.raises(CMError) as info:
        cmkit.connect(empty_url)
    assert "cmkit.init" in str(info.value)
    cmkit.init(empty_url, CONFIG)
    cm = cmkit.connect(empty_url)
    company = cm.create_company("retail", name="Acme GmbH")
    assert differences(empty_url) == []
    cmkit.init(empty_url, CONFIG)
    assert cmkit.connect(empty_url).customer(company.id) == company


def test_migrations_init_on_an_existing_database_is_idempotent(
    db_url: str, cm: cmkit.CustomerManager, world, snapshot
) -> None:
    cm.create_ticket(world["anna"].id, "helpdesk", "Kept")
    before = snapshot()
    cmkit.init(db_url)
    assert snapshot() == before
    cmkit.init(db_url, CONFIG)
    after = snapshot()
    changed = {t for t in before if before[t] != after[t]}
    # storing the same configuration again rewrites the configuration tables (new field row ids, a new
    # revision) and touches no data
    assert changed <= {"settings", "group_fields"}
    assert cmkit.connect(db_url).config == cm.config
    assert migrate.current_revision(engine_for(db_url)) == migrate.head_revision()
    assert differences(db_url) == []
    assert cmkit.connect(db_url).customer(world["anna"].id) == world["anna"]


def test_r33_init_chains_the_entries_of_a_database_of_the_previous_schema(empty_url: str) -> None:
    """A database written before the chain: init hashes its entries in id order, loses none, and the
    chain verifies; a second init changes nothing (idempotent)."""
    upgrade_to(empty_url, "0003")
    now = "2026-01-02 03:04:05.123456"
    with engine_for(empty_url).begin() as conn:
        for i in range(1, 4):
            conn.execute(
                sa.text(
                    "INSERT INTO audit_log (at, user_name, action, entity, entity_id, customer_id, before, after) "
                    "VALUES (:at, 'admin', 'edit', 'customer', :i, :i, :b, :a)"
                ),
                {"at": now, "i": i, "b": '{"email": null}', "a": f'{{"email": "n{i}@example.org"}}'},
            )
    cmkit.init(empty_url, CONFIG)
    cm = cmkit.connect(empty_url)
    check = cm.verify_audit()
    assert check.ok and check.entries == 4  # the three old entries and the configuration's
    old = cm.history().iloc[:3]
    assert old["after"].tolist() == [{"email": f"n{i}@example.org"} for i in range(1, 4)]
    head = check.head
    cmkit.init(empty_url, CONFIG)
    assert cm.verify_audit(anchor=head).ok and cm.verify_audit().head == head


def search_objects(conn: sa.Connection) -> list[tuple[str, ...]]:
    """The search tables (with FTS5's own), triggers and indexes in the database, with their definitions."""
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        return [tuple(r) for r in rows if is_search_object(r[1]) or r[1] in search_ddl.SQLITE_TRIGGERS]
    rows = conn.exec_driver_sql(
        "SELECT 'index', indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname"
    )
    return [tuple(r) for r in rows if is_search_object(r[1])]


def test_migrations_build_the_search_objects_the_live_ddl_describes(empty_url: str) -> None:
    """The live statements (cmkit.db.search_ddl: after a batch migration or a bulk load) build the same
    search objects as the migrations, which run their own copies: changing one needs a new revision."""
    upgrade_to(empty_url, "head")
    with engine_for(empty_url).begin() as conn:
        migrated = search_objects(conn)
        if conn.dialect.name == "sqlite":
            drop, build = search_ddl.sqlite_drop(), search_ddl.sqlite_ddl() + search_ddl.sqlite_refill()
            assert {t for t, *_ in migrated} == {"table", "trigger"}
        else:
            drop, build = search_ddl.postgresql_drop(), search_ddl.postgresql_ddl()
            assert len(migrated) == len(search_ddl.PG_INDEXES)
        for stmt in drop:
            conn.exec_driver_sql(stmt)
        assert search_objects(conn) == []
        for stmt in build:
            conn.exec_driver_sql(stmt)
        assert search_objects(conn) == migrated
