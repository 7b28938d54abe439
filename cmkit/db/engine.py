"""Opening a database: URL resolution, SQLite WAL and busy timeout, psycopg without prepared plans."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

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


def _sqlite_engine(url: str, **kw: Any) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
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
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writer takes the write lock at once: its checks and its changes see one state of the file.
        mode = "IMMEDIATE" if conn.get_execution_options().get("cmkit_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def make_engine(url: str | None = None, **kw: Any) -> Engine:
    """An engine for `url` (see resolve_url) set up for cmkit's transactions on SQLite or PostgreSQL."""
    resolved = resolve_url(url)
    if resolved.startswith("sqlite"):
        return _sqlite_engine(resolved, **kw)
    connect_args: dict[str, Any] = {}
    if make_url(resolved).drivername.endswith("psycopg"):
        # Generic plans of prepared statements ignore trigram indexes: never prepare.
        connect_args["prepare_threshold"] = None
    return create_engine(resolved, connect_args=connect_args, pool_pre_ping=True, **kw)


_ENGINES: dict[str, Engine] = {}


def engine_for(url: str | None) -> Engine:
    """One engine (and connection pool) per database URL in this process."""
    resolved = resolve_url(url)
    if resolved not in _ENGINES:
        _ENGINES[resolved] = make_engine(resolved)
    return _ENGINES[resolved]


def dispose_engines() -> None:
    """Close every pooled connection of every engine (before a file is replaced, and in tests)."""
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()
