"""SQLite: write-ahead log checkpoints off the writer's path.

SQLite copies the log back into the database file (a checkpoint) in the commit that lets the log grow
past 1,000 pages, so that one commit in a few pays for the others: deactivating a company with 10,000
contacts took 65-80 ms longer every other time, and a transfer of 100,000 tickets carried the copy of
their 134 MB of log. cmkit's connections to a SQLite file turn that off (`PRAGMA wal_autocheckpoint=0`,
see cmkit.db.engine) and, after each write transaction commits, ask one background thread of the
process to checkpoint that file, as SQLite's documentation suggests for this case. The thread runs a
PASSIVE checkpoint: it waits for no reader or writer and copies what it can; what it cannot copy (a
reader still needs those pages) is copied after the next commit, or when the last connection closes.

Nothing is lost if the process ends first: the log is part of the database until it is copied. A process
that ends normally waits for the checkpoints asked for, and so does a fork: a child forked while the thread
is inside SQLite would inherit SQLite's locks held by a thread it does not have, and hang at its first
connection.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sqlite3
import threading
from pathlib import Path

_lock = threading.Condition()
_pending: dict[str, None] = {}  # files to checkpoint, in the order asked (a dict: no file twice)
_running = 0  # checkpoints under way
_thread: threading.Thread | None = None
#: at exit, how long the process waits for the checkpoints asked for (a file copied afterwards then holds
#: every commit without its -wal file beside it)
EXIT_WAIT_SECONDS = 30.0


def after_commit(path: str) -> None:
    """Ask for a checkpoint of the SQLite file `path` (absolute), in the background; returns at once."""
    global _thread
    with _lock:
        _pending[path] = None
        if _thread is None or not _thread.is_alive():
            if _thread is None:  # before the process ends, the checkpoints asked for are done
                atexit.register(settle, EXIT_WAIT_SECONDS)
            _thread = threading.Thread(target=_work, name="cmkit-sqlite-checkpoints", daemon=True)
            _thread.start()
        _lock.notify_all()


def settle(timeout: float = 30.0) -> bool:
    """Wait until every checkpoint asked for has run (tests; a caller that copies the file byte by byte);
    False if `timeout` seconds passed first."""
    with _lock:
        return _lock.wait_for(lambda: not _pending and not _running, timeout)


def checkpoint(path: str) -> tuple[int, int, int] | None:
    """Run a PASSIVE checkpoint of `path` now: (busy, pages in the log, pages copied), or None when the file
    cannot be opened (gone, or not a database). Never creates the file."""
    uri = f"{Path(path).as_uri()}?mode=rw"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=0)) as conn:
            row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error:  # removed meanwhile, or checkpointed by another: the next commit asks again
        return None
    return None if row is None else (int(row[0]), int(row[1]), int(row[2]))


def _work() -> None:
    global _running
    while True:
        with _lock:
            _lock.wait_for(lambda: bool(_pending))
            path = next(iter(_pending))
            del _pending[path]
            _running += 1
        try:
            checkpoint(path)
        finally:
            with _lock:
                _running -= 1
                _lock.notify_all()


def _before_fork() -> None:
    """The checkpoints under way finish before the process forks (see the module's docstring)."""
    settle(EXIT_WAIT_SECONDS)


os.register_at_fork(before=_before_fork)
