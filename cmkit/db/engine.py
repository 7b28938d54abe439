"""Opening a database: URL resolution, SQLite WAL (checkpointed in the background, cmkit.db.checkpoints) and
busy timeout, psycopg preparing only what asks to be."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from cmkit.db import checkpoints

DEFAULT_SQLITE = Path("data") / "cmkit.db"
BUSY_TIMEOUT_MS = 30_000


def resolve_url(url: str | None) -> str:
    """`url`, else $CMKIT_URL, else the SQLite file data/cmkit.db under the current directory."""
    if url:
        return str(url)
    env = os.environ.get("CMKIT_URL")
    if env:
        return env
    return f"sqlite:///{DEFAULT_SQLITE}"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _on_disk(database: str | None) -> bool:
    """Whether a SQLite URL's database is a file (not one in memory)."""
    return database not in (None, "", ":memory:")


def sqlite_file(engine: Engine) -> str | None:
    """The absolute path of the SQLite file `engine` opens (None: PostgreSQL, or a database in memory)."""
    if engine.dialect.name != "sqlite" or not _on_disk(engine.url.database):
        return None
    return str(Path(str(engine.url.database)).resolve())


#: the memory map SQLite's searches read through, at most (the build caps it: 2 GiB for Debian's and Python's)
SQLITE_MMAP_BYTES = 1 << 36


def _sqlite_engine(url: str, *, mapped: bool = False, **kw: Any) -> Engine:
    """An engine for a SQLite file; `mapped`: its connections read through a memory map (see search_engine)."""
    parsed = make_url(url)
    file = _on_disk(parsed.database)
    if file:
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, **kw)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event open transactions, so writers can BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        if mapped:
            cur.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        elif file:
            cur.execute("PRAGMA wal_autocheckpoint=0")  # after the commit, in the background (`transaction`)
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writer takes the write lock at once: its checks and its changes see one state of the file.
        mode = "IMMEDIATE" if conn.get_execution_options().get("cmkit_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


#: psycopg prepares a statement run this many times: never, unless a statement asks (`prepare=True`)
_NEVER = 2**31 - 1


def make_engine(url: str | None = None, **kw: Any) -> Engine:
    """An engine for `url` (see resolve_url) set up for cmkit's transactions on SQLite or PostgreSQL."""
    resolved = resolve_url(url)
    if resolved.startswith("sqlite"):
        return _sqlite_engine(resolved, **kw)
    connect_args: dict[str, Any] = dict(kw.pop("connect_args", {}))
    if make_url(resolved).drivername.endswith("psycopg"):
        # Nothing is prepared by itself (psycopg would after 5 runs of a text): only the searches ask for it
        # (cmkit.db.search_pg), and their statements are planned once, generically: their plans are walks of
        # btrees that do not depend on the values, and planning them again each time cost more than running them.
        connect_args["prepare_threshold"] = _NEVER
        connect_args["options"] = (
            f"{connect_args.get('options', '')} -c plan_cache_mode=force_generic_plan".strip()
        )
    kw.setdefault("pool_pre_ping", True)
    return create_engine(resolved, connect_args=connect_args, **kw)


_ENGINES: dict[str, Engine] = {}


def engine_for(url: str | None) -> Engine:
    """One engine (and connection pool) per database URL in this process."""
    resolved = resolve_url(url)
    if resolved not in _ENGINES:
        _ENGINES[resolved] = make_engine(resolved)
    return _ENGINES[resolved]


_SEARCH_ENGINES: dict[str, Engine] = {}


def search_engine(engine: Engine) -> Engine:
    """The engine searches run on, a twin of `engine` for the same database and login.

    SQLite: its connections read through a memory map, so that a page the operating system holds costs no
    system call and no copy (a quick search reads 70 tickets on as many pages: p95 2.0 to 1.7 ms). Only
    the searches: a whole-table read through the map would count the file's pages as the process's memory.
    An in-memory database is `engine` itself. PostgreSQL: connections in autocommit, neither pinged when
    taken from the pool nor rolled back when given back (a search is a few read-only statements, and those
    two round trips cost as much as one of them). A connection found broken is dropped by the caller (see
    cmkit.services.search)."""
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name != "postgresql":
        if not _on_disk(engine.url.database):
            return engine
        if url not in _SEARCH_ENGINES:
            _SEARCH_ENGINES[url] = _sqlite_engine(url, mapped=True)
        return _SEARCH_ENGINES[url]
    if url not in _SEARCH_ENGINES:
        _SEARCH_ENGINES[url] = make_engine(
            url,
            # no JIT: a generic plan's guessed cost may pass its threshold, and compiling costs 20 ms
            connect_args={"autocommit": True, "options": "-c jit=off"},
            pool_pre_ping=False,
            pool_reset_on_return=None,
        )
    return _SEARCH_ENGINES[url]


def dispose(engine: Engine) -> None:
    """Close the pooled connections of `engine` and of its search twin (around a restore of its content),
    once the background checkpoints asked for have run."""
    engine.dispose()
    twin = _SEARCH_ENGINES.get(engine.url.render_as_string(hide_password=False))
    if twin is not None:
        twin.dispose()
    checkpoints.settle()


def dispose_engines() -> None:
    """Close every pooled connection of every engine (before a file is replaced, and in tests)."""
    for engine in (*_ENGINES.values(), *_SEARCH_ENGINES.values()):
        engine.dispose()
    _ENGINES.clear()
    _SEARCH_ENGINES.clear()
    # a SQLite file whose last connection closes is checkpointed whole, its log removed: once the
    # background checkpoints (which open connections of their own) are done, the file stands alone
    checkpoints.settle()
