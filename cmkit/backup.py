"""Backup and restore of a whole cmkit database, while admins keep working in it.

SQLite: the online backup API copies a consistent snapshot while other connections read and write; the
backup is one self-contained file. PostgreSQL: `pg_dump` (custom format, one consistent snapshot) and
`pg_restore` into the database of the URL, applied by `psql` in a single transaction, so a failed
restore leaves the target as it was. Restore refuses a target that holds tables unless asked to replace
it, refuses a backup that is not a cmkit database or comes from a newer cmkit, or whose schema differs
from what the migrations build (cmkit.backup_check; with $CMKIT_BACKUP_KEY set, also one whose keyed
checksum does not match), and brings an older backup's schema up to date.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlalchemy.engine import URL, make_url

from cmkit import backup_check
from cmkit.db import migrate
from cmkit.db.engine import make_engine, resolve_url
from cmkit.db.schema import Base
from cmkit.errors import CMError, DiskFull, is_disk_full

TOOL_DIRS = (
    "/usr/lib/postgresql/*/bin",
    "/usr/pgsql-*/bin",
    "/opt/homebrew/opt/postgresql@*/bin",
    "/usr/local/opt/postgresql@*/bin",
    "/Applications/Postgres.app/Contents/Versions/*/bin",
)


def backup(url: str | None, path: str | Path, *, replace: bool = False) -> Path:
    """Write a backup of the database at `url` (default: $CMKIT_URL, else data/cmkit.db) to `path`.

    Refuses an existing `path` unless `replace`; the file appears only once the backup is complete. With
    $CMKIT_BACKUP_KEY set, its keyed checksum (HMAC-SHA256) is written beside it as `path`.hmac.
    """
    target = Path(path)
    if target.exists() and not replace:
        raise CMError(f"{target} exists already; choose another file name, or pass --replace to overwrite it")
    if target.is_dir():
        raise CMError(f"{target} is a folder; give the backup a file name, e.g. {target / 'cmkit.backup'}")
    target.parent.mkdir(parents=True, exist_ok=True)
    resolved = make_url(resolve_url(url))
    try:
        with _partial_file(target) as partial:
            if resolved.get_backend_name() == "sqlite":
                _sqlite_backup(_sqlite_path(resolved, must_exist=True), partial)
            else:
                _run([pg_tool("pg_dump"), "--format=custom", f"--file={partial}"], resolved, "pg_dump")
            revision_of_backup(partial)  # a backup that cmkit could not restore is no backup
            backup_check.write_checksum(target, partial)
    except (sqlite3.Error, OSError, CMError) as exc:
        if not is_disk_full(exc) and not _says_disk_full(exc):
            raise
        raise DiskFull(
            f"the disk holding {target.parent} is full: the backup was not written (no partial file is "
            "left) and the database is unchanged; free space there or choose another place"
        ) from None
    return target


def _says_disk_full(exc: BaseException) -> bool:
    """pg_dump's message for a full disk, passed on in a CMError."""
    return isinstance(exc, CMError) and "No space left on device" in str(exc)


def restore(url: str | None, path: str | Path, *, replace: bool = False) -> str:
    """Restore the backup at `path` into the database at `url`; returns the revision it now has.

    Refuses a target that holds tables unless `replace` (then everything of the target is replaced), a file
    that is not a cmkit backup, a backup made by a newer cmkit, a backup whose schema objects differ from
    what the migrations build (naming them), and with $CMKIT_BACKUP_KEY set one whose keyed checksum is
    missing or does not match. Nothing changes when it is refused or
    fails. The engines this process holds for `url` are disposed of, so every connection sees the restore.
    """
    source = Path(path)
    if not source.is_file():
        raise CMError(f"no backup at {source}")
    revision = revision_of_backup(source)
    resolved = make_url(resolve_url(url))
    sqlite = resolved.get_backend_name() == "sqlite"
    with open(source, "rb") as f:
        made_by_sqlite = f.read(16).startswith(b"SQLite format 3")
    if made_by_sqlite != sqlite:
        kinds = (
            ("an SQLite backup", "a PostgreSQL database")
            if made_by_sqlite
            else ("a PostgreSQL backup", "SQLite")
        )
        raise CMError(
            f"{source} is {kinds[0]}; it cannot be restored into {kinds[1]} (restore it into a database "
            "of the kind it was made from, then copy across with cmkit's frames if need be)"
        )
    known = [r.revision for r in ScriptDirectory.from_config(migrate.alembic_config()).walk_revisions()]
    if revision not in known:
        raise CMError(
            f"{source} holds schema revision {revision}, which this cmkit does not know (it knows "
            f"{', '.join(sorted(known))}); restore it with the cmkit version that made it"
        )
    backup_check.check_checksum(source)
    _check_schema(source, revision, resolved)
    from cmkit.db.engine import dispose, engine_for

    engine = engine_for(resolve_url(url))
    existing = _tables(engine) if not sqlite or Path(_sqlite_path(resolved)).exists() else []
    if existing and not replace:
        shown = resolved.render_as_string(hide_password=True)
        raise CMError(
            f"the database at {shown} is not empty ({len(existing)} tables, e.g. {existing[0]}); "
            "restore into a new database, or pass --replace to replace all of its content"
        )
    dispose(engine)
    if sqlite:
        _sqlite_restore(source, _sqlite_path(resolved))
    else:
        _pg_restore(source, resolved, [t for t in existing if t in _cmkit_tables()])
    dispose(engine)
    migrate.upgrade(engine)
    return str(migrate.current_revision(engine))


def _check_schema(source: Path, revision: str, url: URL) -> None:
    """Refuse (CMError naming them) a backup whose schema objects differ from those the migrations build
    up to its revision: an extra trigger, a changed function or policy, a missing index."""
    if url.get_backend_name() == "sqlite":
        found = backup_check.sqlite_objects(source)
        expected = [backup_check.sqlite_reference(revision)]
    else:
        dump = [pg_tool("pg_restore"), "--schema-only", "--no-owner", "--no-privileges", "--file=-"]
        found = backup_check.postgresql_objects(_run([*dump, str(source)], None, "pg_restore"))
        server = (url.host, url.port, url.query.get("host"), revision)
        if server not in _PG_REFERENCES:
            _PG_REFERENCES[server] = _postgresql_reference(url, revision)
        expected = _PG_REFERENCES[server]
    backup_check.refuse_foreign_schema(source, found, expected, revision)


#: the reference per server and revision, built once per process (it costs two scratch databases)
_PG_REFERENCES: dict[tuple[object, ...], list[backup_check.Objects]] = {}


def _postgresql_reference(url: URL, revision: str) -> list[backup_check.Objects]:
    """The schema objects the migrations build up to `revision`, as dumped from a scratch database, and as
    dumped again after that dump was restored: PostgreSQL writes some definitions differently once they
    went through a dump (a CHECK's IN list), so a backup of a restored database has the second form."""
    dump = [pg_tool("pg_dump"), "--schema-only", "--no-owner", "--no-privileges"]
    with backup_check.scratch_postgresql(url) as first, backup_check.scratch_postgresql(url) as again:
        engine = make_engine(first.render_as_string(hide_password=False))
        try:
            migrate.upgrade(engine, revision)
        finally:
            engine.dispose()
        script = _run(dump, first, "pg_dump")
        with tempfile.TemporaryDirectory(prefix="cmkit-reference-") as tmp:
            path = Path(tmp) / "schema.sql"
            path.write_text(script, encoding="utf-8")
            _run([pg_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(path)], again, "psql")
        return [
            backup_check.postgresql_objects(script),
            backup_check.postgresql_objects(_run(dump, again, "pg_dump")),
        ]


def revision_of_backup(path: str | Path) -> str:
    """The schema revision stored in a cmkit backup (SQLite file or pg_dump archive); CMError if it is none."""
    p = Path(path)
    with open(p, "rb") as f:
        head = f.read(16)
    if head.startswith(b"SQLite format 3"):
        try:
            with contextlib.closing(sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)) as conn:
                ok = conn.execute("PRAGMA quick_check").fetchone()
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError as exc:
            raise CMError(f"{p} is not a cmkit backup: {exc}") from None
        if ok != ("ok",):
            raise CMError(
                f"{p} is damaged (SQLite's check says: {ok[0] if ok else 'nothing'}); use another backup"
            )
    elif head.startswith(b"PGDMP"):
        script = _run(
            [pg_tool("pg_restore"), "--data-only", "--table=alembic_version", "--file=-", str(p)],
            None,
            "pg_restore",
        )
        found = re.search(r"^COPY \S*alembic_version .*?FROM stdin;\n(\S+)\n", script, re.MULTILINE)
        row = (found.group(1),) if found else None
    else:
        raise CMError(f"{p} is neither an SQLite database nor a pg_dump archive, so not a cmkit backup")
    if not row:
        raise CMError(f"{p} is not a cmkit backup: it has no schema revision (alembic_version)")
    return str(row[0])


# -- SQLite --------------------------------------------------------------------------------------------------------


def _sqlite_path(url: URL, must_exist: bool = False) -> str:
    path = url.database
    if not path or path == ":memory:":
        raise CMError("an in-memory SQLite database has nothing to back up or restore into; use a file")
    if must_exist and not Path(path).is_file():
        raise CMError(f"no cmkit database at {path}")
    return path


def _sqlite_backup(source: str, partial: Path) -> None:
    """Copy a consistent snapshot of `source` (others may go on reading and writing) into `partial`."""
    with (
        contextlib.closing(sqlite3.connect(source, timeout=30)) as src,
        contextlib.closing(sqlite3.connect(partial)) as dst,
    ):
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it


def _sqlite_restore(source: Path, target: str) -> None:
    """Replace the content of `target` by the backup's, in one write transaction of the target file."""
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    try:
        with (
            contextlib.closing(sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)) as src,
            contextlib.closing(sqlite3.connect(target, timeout=30)) as dst,
        ):
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as exc:
        if is_disk_full(exc):
            raise DiskFull(
                f"the disk holding {target} is full: nothing was restored, the database is as it was; "
                "free space on that disk, then restore again"
            ) from None
        raise CMError(f"restoring into {target} failed, it is as it was: {exc}") from None


@contextlib.contextmanager
def _partial_file(target: Path) -> Iterator[Path]:
    """A temporary file beside `target` that becomes `target` only when the block succeeds."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    partial = Path(name)
    partial.unlink()
    try:
        yield partial
        os.replace(partial, target)
    finally:
        for leftover in ("", "-journal", "-wal", "-shm"):  # SQLite's files beside a failed copy too
            Path(f"{partial}{leftover}").unlink(missing_ok=True)


def _tables(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())


def _cmkit_tables() -> set[str]:
    return {*Base.metadata.tables, "alembic_version"}


# -- PostgreSQL ------------------------------------------------------------------------------------------------------


def pg_tool(name: str) -> str:
    """The newest `name` (pg_dump, pg_restore, psql) found in $CMKIT_PG_BIN, on PATH, or where PostgreSQL
    installs it; a pg_dump older than the server refuses to dump, so the newest is the safest choice."""
    if os.environ.get("CMKIT_PG_BIN"):
        candidates = [str(Path(os.environ["CMKIT_PG_BIN"]) / name)]
    else:
        candidates = [p for p in [shutil.which(name)] if p]
        candidates += [str(Path(d) / name) for pattern in TOOL_DIRS for d in glob.glob(pattern)]
    found = [(_major(c), c) for c in dict.fromkeys(candidates) if os.access(c, os.X_OK)]
    found = [f for f in found if f[0] >= 0]
    if not found:
        raise CMError(
            f"{name} not found (looked on PATH and in {', '.join(TOOL_DIRS)}); install the PostgreSQL "
            "client programs, or set CMKIT_PG_BIN to the folder that holds them"
        )
    return max(found)[1]


@functools.lru_cache(maxsize=32)
def _major(program: str) -> int:
    try:
        out = subprocess.run(
            [program, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return -1
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(match.group(1)) if match else -1


def _libpq_env(url: URL) -> dict[str, str]:
    """The connection of `url` as libpq environment variables (the password never on a command line)."""
    env = dict(os.environ)
    parts = {
        "PGHOST": url.host,
        "PGPORT": url.port,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
    }
    for key, option in (("PGHOST", "host"), ("PGSSLMODE", "sslmode"), ("PGPORT", "port")):
        value = url.query.get(option)
        if value:
            parts[key] = value if isinstance(value, str) else value[0]
    env.update({k: str(v) for k, v in parts.items() if v not in (None, "")})
    return env


def _run(args: list[str], url: URL | None, what: str, stdin_path: Path | None = None) -> str:
    env = _libpq_env(url) if url is not None else dict(os.environ)
    with open(stdin_path, "rb") if stdin_path else contextlib.nullcontext() as stdin:
        done = subprocess.run(args, env=env, stdin=stdin, capture_output=True, check=False)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise CMError(f"{what} failed: {' '.join(message[-3:]) or f'exit status {done.returncode}'}")
    return done.stdout.decode(errors="replace")


def _pg_restore(source: Path, url: URL, replaced: list[str]) -> None:
    """Restore the archive into the database of `url`: its objects (after dropping `replaced` tables and the
    archive's own objects) are created by one psql transaction, which leaves the target as it was if it fails."""
    with tempfile.TemporaryDirectory(prefix="cmkit-restore-") as tmp:
        script = Path(tmp) / "restore.sql"
        options = ["--clean", "--if-exists"] if replaced else []
        _run(
            [
                pg_tool("pg_restore"),
                "--no-owner",
                "--no-privileges",
                *options,
                f"--file={script}",
                str(source),
            ],
            None,
            "pg_restore",
        )
        drops = "".join(f'DROP TABLE IF EXISTS "{t}" CASCADE;' for t in sorted(replaced))
        args = [pg_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"]
        args += (["-c", drops] if drops else []) + ["-f", str(script)]
        _run(args, url, "restore")
