"""Hostile restores: a backup doctored with an extra trigger (one that swallows audit entries, one that
grants `delete` on every edit) or a changed object is refused before anything is replaced, naming the
object; with $CMKIT_BACKUP_KEY set, a backup whose keyed checksum is missing or does not match is refused.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import scratch_pg_database
from reliability import table_rows

from cmkit import CMError, CustomerManager
from cmkit.backup import backup, restore
from cmkit.db.engine import engine_for

#: name -> (SQLite statements, PostgreSQL statements, what the refusal names)
DOCTORED = {
    "swallow-audit": (
        [
            "CREATE TRIGGER swallow AFTER INSERT ON audit_log BEGIN DELETE FROM audit_log WHERE id = new.id; END",
        ],
        [
            "CREATE FUNCTION swallow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "DELETE FROM audit_log WHERE id = NEW.id; RETURN NULL; END $$",
            "CREATE TRIGGER swallow AFTER INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION swallow()",
        ],
        "extra trigger",
    ),
    "grant-delete-on-edit": (
        [
            "CREATE TRIGGER escalate AFTER UPDATE ON customers BEGIN "
            "INSERT OR IGNORE INTO role_grants (role, permission, group_name) VALUES ('reader', 'delete', '*'); END",
        ],
        [
            "CREATE FUNCTION escalate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO role_grants (role, permission, group_name) VALUES ('reader', 'delete', '*') "
            "ON CONFLICT DO NOTHING; RETURN NULL; END $$",
            "CREATE TRIGGER escalate AFTER UPDATE ON customers FOR EACH STATEMENT EXECUTE FUNCTION escalate()",
        ],
        "extra trigger",
    ),
    "changed-index": (
        [
            "DROP INDEX ix_customers_name",
            "CREATE INDEX ix_customers_name ON customers (search_key)",
        ],
        [
            "DROP INDEX ix_customers_name",
            "CREATE INDEX ix_customers_name ON customers (search_key)",
        ],
        "changed index ix_customers_name",
    ),
    "view-or-function": (
        [
            "CREATE VIEW all_grants AS SELECT * FROM role_grants",
        ],
        [
            "CREATE OR REPLACE FUNCTION cmkit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RETURN COALESCE(NEW, OLD); END $$",
        ],
        "",
    ),
}


UNDO = {  # PostgreSQL: the shared test database is put back once the doctored backup is written
    "swallow-audit": ["DROP TRIGGER swallow ON audit_log", "DROP FUNCTION swallow()"],
    "grant-delete-on-edit": ["DROP TRIGGER escalate ON customers", "DROP FUNCTION escalate()"],
    "changed-index": ["DROP INDEX ix_customers_name", "CREATE INDEX ix_customers_name ON customers (name)"],
}


def doctor(db_url: str, path: Path, case: str) -> str:
    """Change the backup at `path` as `case` says (on PostgreSQL: the database, backed up again, then put
    back); what the refusal must name."""
    lite, pg, named = DOCTORED[case]
    if db_url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(path)) as conn, conn:
            for statement in lite:
                conn.execute(statement)
        return named or "extra view all_grants"
    with engine_for(db_url).begin() as conn:
        undo = UNDO.get(case) or [
            conn.execute(sa.text("SELECT pg_get_functiondef('cmkit_append_only'::regproc)")).scalar_one()
        ]
        for statement in pg:
            conn.execute(sa.text(statement))
    try:
        backup(db_url, path, replace=True)
    finally:
        with engine_for(db_url).begin() as conn:
            for statement in undo:
                conn.execute(sa.text(statement))
    return named or "changed function cmkit_append_only()"


@pytest.fixture
def empty_target(db_url: str, tmp_path: Path) -> Iterator[str]:
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'target.db'}"
        return
    with scratch_pg_database("cmkit_hostile") as url:
        yield url


@pytest.mark.parametrize("case", DOCTORED)
def test_hostile_restore_refuses_a_doctored_backup_naming_the_object(
    cm: CustomerManager, world: dict[str, object], db_url: str, empty_target: str, tmp_path: Path, case: str
) -> None:
    path = backup(db_url, tmp_path / "cmkit.backup")
    named = doctor(db_url, path, case)
    original = table_rows(db_url) if db_url.startswith("sqlite") else None
    with pytest.raises(CMError, match="schema is not the one") as info:
        restore(empty_target, path)
    assert named in str(info.value) and "nothing was restored" in str(info.value)
    assert sa.inspect(engine_for(empty_target)).get_table_names() == []  # nothing was replaced
    if original is not None:  # SQLite: refused with --replace too, the database kept as it is
        with pytest.raises(CMError, match=named):
            restore(db_url, path, replace=True)
        assert table_rows(db_url) == original


def test_hostile_restore_accepts_an_honest_backup_of_a_restored_database(
    cm: CustomerManager, world: dict[str, object], db_url: str, empty_target: str, tmp_path: Path
) -> None:
    """A restored database written out again is still what the migrations build (PostgreSQL writes some
    definitions differently after a dump: the check knows both forms)."""
    first = backup(db_url, tmp_path / "first.backup")
    restore(empty_target, first)
    second = backup(empty_target, tmp_path / "second.backup")
    restore(db_url, second, replace=True)
    assert table_rows(db_url) == table_rows(empty_target)


def test_hostile_restore_checks_the_keyed_checksum(
    cm: CustomerManager,
    world: dict[str, object],
    db_url: str,
    empty_target: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CMKIT_BACKUP_KEY", "correct horse battery staple")
    path = backup(db_url, tmp_path / "cmkit.backup")
    stamp = path.with_name(path.name + ".hmac")
    assert stamp.read_text().startswith("hmac-sha256 ")
    monkeypatch.setenv("CMKIT_BACKUP_KEY", "another key")
    with pytest.raises(CMError, match="does not match its keyed checksum"):
        restore(empty_target, path)
    monkeypatch.setenv("CMKIT_BACKUP_KEY", "correct horse battery staple")
    other = backup(db_url, tmp_path / "other.backup")
    cm.create_contact("private", last_name="Danach")
    backup(db_url, other, replace=True)  # a different file under the first one's checksum
    stamp.write_text(other.with_name(other.name + ".hmac").read_text().replace("a", "b", 1))
    with pytest.raises(CMError, match="does not match its keyed checksum"):
        restore(empty_target, path)
    stamp.unlink()
    with pytest.raises(CMError, match="no keyed checksum"):
        restore(empty_target, path)
    assert sa.inspect(engine_for(empty_target)).get_table_names() == []
    assert restore(empty_target, other)  # the untouched backup with its own checksum restores
