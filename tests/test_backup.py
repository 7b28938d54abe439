"""Backups: `cmkit backup PATH` and `cmkit restore PATH` (SQLite's online backup, pg_dump / pg_restore),
proved by round trips that compare every row of every table, taken while other admins keep working."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import BACKENDS, scratch_pg_database
from detail_samples import pdf_bytes, png_bytes
from reliability import StatementFault, injected, race, table_rows, violations

import cmkit
import cmkit.backup
from cmkit import CMError, CustomerManager
from cmkit.backup import backup, restore, revision_of_backup
from cmkit.cli import main
from cmkit.db import migrate
from cmkit.db.engine import dispose_engines

PG_ADMIN_URL = os.environ.get("CMKIT_TEST_POSTGRES_URL")


def populate(cm: CustomerManager) -> None:
    """Something of everything: customers of each kind, tickets in both states and roles, a transfer and
    a deactivation (protocol and audit), comments (one pending deletion) and binary attachments."""
    acme = cm.create_company("retail", name="Acme GmbH", city="Köln", street="Hauptstraße 1")
    anna = cm.create_contact(
        "retail",
        company=acme.id,
        first_name="Anna",
        last_name="Müller",
        email="anna@acme.example",
        tier="gold",
        birthday="1980-02-29",
        newsletter=True,
        seats=3,
    )
    bert = cm.create_contact("retail", company=acme.id, first_name="Bert", last_name="O'Brien <b>")
    zeta = cm.create_company("retail", name="Zeta AG")
    carl = cm.create_contact("retail", company=zeta.id, last_name="Zander")
    priv = cm.create_contact("private", first_name="Petra", last_name="Privat")
    t1 = cm.create_ticket(anna.id, "helpdesk", "Drucker defekt", additional=[bert.id])
    cm.close_ticket(cm.create_ticket(carl.id, "billing", "Rechnung").id)
    cm.create_ticket(priv.id, "helpdesk", "Passwort")
    cm.transfer_tickets(carl.id, anna.id, only_open=False)
    cm.deactivate(zeta.id)
    cm.add_comment(anna.id, "Ruft montags an")
    cm.add_attachments(
        anna.id, {"vertrag.pdf": pdf_bytes("Vertrag"), "logo.png": png_bytes(8, 8)}, description="Akte"
    )
    cm.add_customer(t1.id, priv.id)
    cm.delete_comment(cm.add_comment(anna.id, "wird gelöscht"))  # pending until admin's next write (R11)


def changed_afterwards(cm: CustomerManager) -> None:
    c = cm.create_company("partners", name="After the backup")
    cm.create_contact("partners", company=c.id, last_name="Later")
    anna = cm.frame("customers").query("name == 'Anna Müller'")["id"].iloc[0]
    cm.edit(int(anna), first_name="Annabel")


@pytest.fixture
def new_database(db_url: str, tmp_path: Path) -> Iterator[str]:
    """Another, empty database of the same kind as `db_url` (nothing in it, not even a schema)."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    with scratch_pg_database("cmkit_restore") as url:
        yield url


def test_backup_restores_every_row_into_a_new_database(
    cm: CustomerManager, db_url: str, new_database: str, tmp_path: Path
) -> None:
    populate(cm)
    before = table_rows(db_url)
    path = backup(db_url, tmp_path / "cmkit.backup")
    assert revision_of_backup(path) == migrate.head_revision()
    restore(new_database, path)
    after = table_rows(new_database)
    assert after.keys() == before.keys()
    for table, rows in before.items():
        assert after[table] == rows, f"table {table} differs after the round trip"
    assert sum(map(len, before.values())) > 50
    copy = cmkit.connect(new_database)
    assert copy.check_invariants().empty and violations(new_database) == []
    # the copy goes on where the original was: the deletion is still pending, new ids follow the old ones
    anna = int(copy.frame("customers").query("name == 'Anna Müller'")["id"].iloc[0])
    assert copy.comments(anna)["pending"].sum() == 1
    new = copy.create_company("retail", name="Nach der Sicherung")
    assert new.id == max(r[0] for r in before["customers"]) + 1


def test_restore_refuses_a_database_that_is_not_empty(
    cm: CustomerManager, db_url: str, tmp_path: Path
) -> None:
    populate(cm)
    original = table_rows(db_url)
    path = backup(db_url, tmp_path / "cmkit.backup")
    changed_afterwards(cm)
    changed = table_rows(db_url)
    assert list(cm.autocomplete("annab")["name"]) == ["Annabel Müller"]  # the search's connections are open
    with pytest.raises(CMError, match="not empty.*--replace"):
        restore(db_url, path)
    assert table_rows(db_url) == changed
    restore(db_url, path, replace=True)
    assert table_rows(db_url) == original
    cm2 = cmkit.connect(db_url)
    # searches read the restored database, not the file (or its pages) it replaced
    assert cm2.autocomplete("annab").empty
    assert list(cm2.autocomplete("anna")["name"]) == ["Anna Müller"]
    assert cm2.quick_search("After the backup").customers.empty
    assert cm2.create_contact("private", last_name="Neu").id == max(r[0] for r in original["customers"]) + 1
    assert cm2.check_invariants().empty


def test_backup_while_an_admin_is_in_the_middle_of_a_transfer(
    cm: CustomerManager, db_url: str, new_database: str, tmp_path: Path
) -> None:
    """A notebook holds a transfer's transaction open (its tickets half moved): the backup neither waits
    for it nor contains any of it; once the transfer commits, all of it is in the database."""
    populate(cm)
    ids = cm.frame("customers").set_index("name")["id"]
    # a retail target: anna's billing ticket may only go to a customer of a group the queue serves (R17)
    anna, bert = int(ids["Anna Müller"]), int(ids["Bert O'Brien <b>"])
    before = table_rows(db_url)
    halfway, go_on = threading.Event(), threading.Event()

    def hold(statement: str) -> None:
        if statement.upper().startswith("UPDATE TICKETS"):
            halfway.set()
            assert go_on.wait(60)

    fault = StatementFault()
    fault.step = hold  # type: ignore[method-assign]
    other = cmkit.connect(db_url, user="admin")

    def transfer() -> object:
        with injected(db_url, fault):
            return other.transfer_tickets(anna, bert, only_open=False)

    def take_backup() -> Path:
        assert halfway.wait(60)
        try:
            return backup(db_url, tmp_path / "during.backup")
        finally:
            go_on.set()

    moved, saved = race(transfer, take_backup)
    assert moved.ok and saved.ok, (moved.error, saved.error)
    restore(new_database, saved.value)
    assert table_rows(new_database) == before
    assert cm.tickets(anna).empty


def test_backup_is_consistent_while_others_write(
    cm: CustomerManager, db_url: str, new_database: str, tmp_path: Path
) -> None:
    populate(cm)
    company = cm.frame("customers").query("name == 'Acme GmbH'")["id"].iloc[0]
    stop = threading.Event()

    def work() -> int:
        writer, n = cmkit.connect(db_url), 0
        while not stop.is_set():
            c = writer.create_contact("retail", company=int(company), last_name=f"Neu {n}")
            t = writer.create_ticket(c.id, "helpdesk", f"Anfrage {n}")
            writer.close_ticket(t.id)
            writer.deactivate(c.id)
            n += 1
        return n

    def backups() -> list[Path]:
        try:
            return [backup(db_url, tmp_path / f"b{i}.backup") for i in range(3)]
        finally:
            stop.set()

    written, taken = race(work, backups)
    assert written.ok and taken.ok, (written.error, taken.error)
    restore(new_database, taken.value[-1])
    assert violations(new_database) == [] and cmkit.connect(new_database).check_invariants().empty
    rows = table_rows(new_database)
    assert len(rows["customers"]) >= 6 and len(rows["audit_log"]) > 20


# -- what is refused ---------------------------------------------------------------------------------------------------


def test_backup_refuses_to_overwrite(cm: CustomerManager, db_url: str, tmp_path: Path) -> None:
    (tmp_path / "backups").mkdir()
    path = tmp_path / "backups" / "cmkit.backup"
    path.write_bytes(b"an older backup")
    with pytest.raises(CMError, match="exists already"):
        backup(db_url, path)
    assert path.read_bytes() == b"an older backup"
    backup(db_url, path, replace=True)
    assert revision_of_backup(path) == migrate.head_revision()
    assert [p.name for p in path.parent.iterdir()] == ["cmkit.backup"]  # no partial file left behind


def test_restore_refuses_what_is_not_a_cmkit_backup(
    cm: CustomerManager, db_url: str, tmp_path: Path, sqlite_template: Path
) -> None:
    populate(cm)
    before = table_rows(db_url)
    junk = tmp_path / "junk.backup"
    junk.write_bytes(
        b"PGDMP, but not really" if db_url.startswith("postgresql") else b"not a database at all"
    )
    foreign = tmp_path / "foreign.db"
    with contextlib.closing(sqlite3.connect(foreign)) as conn:
        conn.execute("CREATE TABLE t (x)")
    newer = tmp_path / "newer.db"
    shutil.copy(sqlite_template, newer)
    with contextlib.closing(sqlite3.connect(newer)) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    refused = {
        junk: "not a cmkit backup|neither|pg_restore failed",
        foreign: "not a cmkit backup",
        tmp_path / "missing.backup": "no backup at",
        newer: "does not know",
    }
    if db_url.startswith("postgresql"):
        refused[newer] = refused[sqlite_template] = "an SQLite backup.*PostgreSQL"
    for path, message in refused.items():
        with pytest.raises(CMError, match=message):
            restore(db_url, path, replace=True)
        assert table_rows(db_url) == before


def test_a_failed_restore_leaves_the_target_as_it_was(
    cm: CustomerManager, db_url: str, tmp_path: Path
) -> None:
    populate(cm)
    path = backup(db_url, tmp_path / "cmkit.backup")
    changed_afterwards(cm)
    before = table_rows(db_url)
    data = path.read_bytes()
    damaged = tmp_path / "damaged.backup"
    damaged.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(CMError):
        restore(db_url, damaged, replace=True)
    assert table_rows(db_url) == before


@pytest.mark.parametrize(
    "db_url", [BACKENDS[1]], indirect=True
)  # SQLite restores in one step of its backup API
def test_a_restore_failing_halfway_leaves_the_target_as_it_was(
    cm: CustomerManager, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the restore script fails after it dropped and recreated tables; its single transaction
    leaves the target as it was."""
    populate(cm)
    path = backup(db_url, tmp_path / "cmkit.backup")
    changed_afterwards(cm)
    before = table_rows(db_url)
    run = cmkit.backup._run

    def failing_at_the_end(args: list[str], *rest: object, **kw: object) -> str:
        if Path(args[0]).name == "psql":
            script = Path(args[args.index("-f") + 1])
            script.write_text(script.read_text() + "\nSELECT 1 / 0;\n")
        return run(args, *rest, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(cmkit.backup, "_run", failing_at_the_end)
    with pytest.raises(CMError, match="restore failed.*division by zero"):
        restore(db_url, path, replace=True)
    assert table_rows(db_url) == before


def test_restore_brings_an_older_backup_up_to_date(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{old}")
    cfg = migrate.alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        from alembic import command

        command.upgrade(cfg, "0001")
    engine.dispose()
    assert revision_of_backup(old) == "0001"
    target = f"sqlite:///{tmp_path / 'new.db'}"
    assert restore(target, old) == migrate.head_revision()
    cmkit.init(target, Path(__file__).with_name("config_test.toml"))
    assert cmkit.connect(target).create_company("retail", name="Acme").id == 1
    dispose_engines()


# -- the command line --------------------------------------------------------------------------------------------------


def test_cli_backup_and_restore(
    cm: CustomerManager, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    populate(cm)
    original = table_rows(db_url)
    path = str(tmp_path / "cli.backup")
    assert main(["backup", path, "--url", db_url]) == 0
    assert "backup written" in capsys.readouterr().out
    assert main(["backup", path, "--url", db_url]) == 2
    assert "exists already" in capsys.readouterr().err
    changed_afterwards(cm)
    assert main(["restore", path, "--url", db_url]) == 2
    assert "--replace" in capsys.readouterr().err
    assert main(["restore", path, "--url", db_url, "--replace"]) == 0
    assert "restored" in capsys.readouterr().out
    assert table_rows(db_url) == original
