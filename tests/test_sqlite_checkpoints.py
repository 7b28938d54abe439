"""SQLite: a write's log is copied into the database file after its commit, in the background
(cmkit.db.checkpoints), and never by the commit itself."""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import cmkit
from cmkit.db import checkpoints
from cmkit.db.engine import dispose_engines, engine_for


def _name_in_file(path: Path, customer_id: int) -> str:
    """The customer's name as the database file holds it, the log left aside (immutable: no -wal read)."""
    uri = f"{path.resolve().as_uri()}?immutable=1"
    conn = sqlite3.connect(uri, uri=True)
    try:
        return str(conn.execute("SELECT name FROM customers WHERE id = ?", (customer_id,)).fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def sqlite_path(sqlite_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "cmkit.db"
    shutil.copy(sqlite_template, path)
    yield path
    dispose_engines()


def test_a_commit_leaves_its_pages_in_the_log_and_the_background_copies_them(
    sqlite_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{sqlite_path}"
    cm = cmkit.connect(url)
    firm = cm.create_company("retail", name="Alt GmbH")
    assert checkpoints.settle()
    assert _name_in_file(sqlite_path, firm.id) == "Alt GmbH"

    asked: list[str] = []
    monkeypatch.setattr(checkpoints, "after_commit", asked.append)
    cm.edit(firm.id, name="Neu GmbH")
    assert asked == [str(sqlite_path.resolve())]  # asked for once, after the commit
    assert cm.customer(firm.id).name == "Neu GmbH"
    assert _name_in_file(sqlite_path, firm.id) == "Alt GmbH"  # the commit copied nothing into the file

    busy, logged, copied = checkpoints.checkpoint(asked[0]) or (1, 0, 0)
    assert busy == 0 and logged == copied > 0
    assert _name_in_file(sqlite_path, firm.id) == "Neu GmbH"


def test_cmkit_connections_leave_checkpoints_to_the_background(sqlite_path: Path) -> None:
    with engine_for(f"sqlite:///{sqlite_path}").connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0


def test_a_read_asks_for_no_checkpoint(sqlite_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cm = cmkit.connect(f"sqlite:///{sqlite_path}")
    asked: list[str] = []
    monkeypatch.setattr(checkpoints, "after_commit", asked.append)
    cm.quick_search("Alt")
    cm.frame()
    assert asked == []


def test_closing_every_connection_leaves_one_self_contained_file(sqlite_path: Path, tmp_path: Path) -> None:
    """What dispose_engines leaves can be copied as a file (as the tests' template is)."""
    cm = cmkit.connect(f"sqlite:///{sqlite_path}")
    firm = cm.create_company("retail", name="Kopie AG")
    dispose_engines()
    copy = tmp_path / "copy.db"
    shutil.copy(sqlite_path, copy)
    assert not Path(f"{copy}-wal").exists()
    engine = sa.create_engine(f"sqlite:///{copy}")
    with engine.connect() as conn:
        name = conn.exec_driver_sql("SELECT name FROM customers WHERE id = ?", (firm.id,)).scalar()
    assert name == "Kopie AG"
    engine.dispose()


def test_a_checkpoint_never_creates_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "gone.db"
    assert checkpoints.checkpoint(str(missing)) is None
    assert not missing.exists()
    checkpoints.after_commit(str(missing))
    assert checkpoints.settle()
    assert not missing.exists()


def test_a_process_that_ends_leaves_its_writes_in_the_file(sqlite_path: Path) -> None:
    """A script that writes and ends (its connections never closed): the file alone holds its writes."""
    script = (
        "import sys, cmkit\n"
        "cm = cmkit.connect(sys.argv[1])\n"
        "for i in range(20):\n"
        "    cm.create_company('retail', name=f'Firma {i}')\n"
        "print(cm.create_company('retail', name='Letzte AG').id)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, f"sqlite:///{sqlite_path}"], check=True, capture_output=True, text=True
    )
    assert _name_in_file(sqlite_path, int(done.stdout.split()[-1])) == "Letzte AG"


def _state_in_child(report: Any) -> None:
    report.send((checkpoints._running, len(checkpoints._pending)))


def test_a_fork_waits_for_the_checkpoints_under_way(tmp_path: Path) -> None:
    """A process forked while the background thread checkpoints would inherit SQLite's locks held by a
    thread it does not have: the fork waits until none is under way or asked for."""
    path = tmp_path / "big.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (x BLOB)")
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
        "INSERT INTO t SELECT randomblob(4096) FROM n"
    )  # 80 MB of log
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    checkpoints.after_commit(str(path.resolve()))
    child = ctx.Process(target=_state_in_child, args=(send,), daemon=True)
    child.start()
    try:
        assert receive.poll(30)
        assert receive.recv() == (0, 0)
    finally:
        child.join(5)
        conn.close()
