"""A full disk: a backup, a restore and a change each end in `DiskFull`, a CMError that says what happened and
that nothing changed; no partial file is left; once there is space again everything works.

On SQLite a real full disk: a small tmpfs the test mounts (skipped, saying why, where it cannot mount one).
On PostgreSQL the server's disk_full error is injected into a write (no test fills the server's disk).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import Snapshot
from reliability import StatementFault, injected, table_rows

import cmkit
from cmkit import CustomerManager, DiskFull
from cmkit.backup import backup, restore
from cmkit.cli import main
from cmkit.db.engine import dispose, engine_for

Disk = Callable[[int], Path]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Disk]:
    """small_disk(kib) -> a folder on a new tmpfs of that size, unmounted after the test."""
    mounted: list[Path] = []

    def mount(kib: int) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(where)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or 'not root'})")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path) -> Path:
    """Fill the disk of `folder` to the last byte; the filler file, to delete for space again."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 16, 1 << 12, 1 << 9, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                continue
    finally:
        os.close(fd)
    return filler


def test_hostile_disk_full_backup_says_so_and_leaves_no_partial_file(
    cm: CustomerManager,
    world: dict[str, object],
    db_url: str,
    small_disk: Disk,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """SQLite's online backup or pg_dump writing onto a full disk."""
    disk = small_disk(64)
    fill(disk)
    before = table_rows(db_url)
    with pytest.raises(DiskFull, match="is full: the backup was not written.*unchanged"):
        backup(db_url, disk / "cmkit.backup")
    assert os.listdir(disk) == ["filler"]  # no .partial, no .partial-journal
    assert main(["backup", str(disk / "cli.backup"), "--url", db_url]) == 2
    err = capsys.readouterr().err
    assert "is full" in err and "Traceback" not in err and os.listdir(disk) == ["filler"]
    assert table_rows(db_url) == before


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_hostile_disk_full_restore_changes_nothing(
    cm: CustomerManager, world: dict[str, object], db_url: str, small_disk: Disk, tmp_path: Path
) -> None:
    path = backup(db_url, tmp_path / "cmkit.backup")
    disk = small_disk(path.stat().st_size // 1024 * 3)
    target = f"sqlite:///{disk / 'target.db'}"
    cmkit.init(target, Path(__file__).with_name("config_test.toml"))
    kept = cmkit.connect(target).create_contact("private", last_name="Bleibt").id
    dispose(engine_for(target))
    before = table_rows(target)
    filler = fill(disk)
    with pytest.raises(DiskFull, match="nothing was restored"):
        restore(target, path, replace=True)
    filler.unlink()
    assert table_rows(target) == before
    assert cmkit.connect(target).customer(kept).name == "Bleibt"
    dispose(engine_for(target))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_hostile_disk_full_a_change_is_not_made_and_the_database_stays_whole(
    cm: CustomerManager, world: dict[str, object], db_url: str, small_disk: Disk
) -> None:
    source = engine_for(db_url).url.database
    assert source
    dispose(engine_for(db_url))
    disk = small_disk(Path(source).stat().st_size // 1024 * 4)
    shutil.copy(source, disk / "cmkit.db")
    url = f"sqlite:///{disk / 'cmkit.db'}"
    small = cmkit.connect(url)
    before = table_rows(url)
    filler = fill(disk)
    anna = small.frame("customers").query("name == 'Anna Müller'")["id"].iloc[0]
    with pytest.raises(DiskFull, match="this change was not made.*as it was before"):
        small.add_attachments(int(anna), {"gross.txt": os.urandom(48_000).hex().encode()})
    dispose(engine_for(url))
    assert table_rows(url) == before
    filler.unlink()
    assert small.add_comment(int(anna), "wieder Platz") > 0
    dispose(engine_for(url))


def test_hostile_disk_full_reported_by_the_server_changes_nothing(
    cm: CustomerManager, world: dict[str, object], db_url: str, snapshot: Snapshot
) -> None:
    """The driver's disk-full error (SQLite's SQLITE_FULL, PostgreSQL's disk_full), injected into a write."""
    if db_url.startswith("sqlite"):
        import sqlite3

        orig: Exception = sqlite3.OperationalError("database or disk is full")
        orig.sqlite_errorcode = 13  # type: ignore[attr-defined]
    else:
        import psycopg

        orig = psycopg.errors.DiskFull('could not extend file "base/1/2": No space left on device')
    before = snapshot()
    fault = StatementFault(at=3, error=lambda sql: sa.exc.OperationalError(sql, {}, orig))
    with injected(db_url, fault), pytest.raises(DiskFull, match="as it was before"):
        cm.create_contact("private", last_name="Kein Platz")
    assert fault.fired and snapshot() == before
