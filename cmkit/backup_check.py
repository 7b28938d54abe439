"""What a restore checks before it replaces anything: the backup's schema is exactly what cmkit's
migrations build (no extra trigger that swallows audit entries, no changed function that grants what it
should not), and, with $CMKIT_BACKUP_KEY set, the keyed checksum written beside the backup.

The reference is built by running the migrations up to the backup's revision in a scratch database of the
same kind (a temporary SQLite file; on PostgreSQL a scratch database on the same server), and both sides'
schema objects are compared by kind, name and normalised definition: SQLite's tables, indexes, triggers
and views (sqlite_master); PostgreSQL's every object of a schema-only dump (tables, columns, constraints,
indexes, triggers, views, functions, policies, row security, extensions, sequences), without owners and
privileges, which a restore does not take over.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL

from cmkit.db import migrate
from cmkit.db.engine import make_engine
from cmkit.errors import CMError

KEY_VARIABLE = "CMKIT_BACKUP_KEY"
CHECKSUM_SUFFIX = ".hmac"
SHOWN = 8  # objects named in a refusal
Objects = dict[tuple[str, str], str]  # (kind, name) -> normalised definition


# -- the keyed checksum ---------------------------------------------------------------------------------------------
def checksum_path(backup: Path) -> Path:
    return backup.with_name(backup.name + CHECKSUM_SUFFIX)


def _key() -> bytes | None:
    key = os.environ.get(KEY_VARIABLE, "")
    return key.encode() if key else None


def _digest(path: Path, key: bytes) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            mac.update(block)
    return mac.hexdigest()


def write_checksum(backup: Path, partial: Path) -> Path | None:
    """With $CMKIT_BACKUP_KEY set, write the HMAC-SHA256 of `partial` (to become `backup`) beside `backup`."""
    key = _key()
    if key is None:
        checksum_path(backup).unlink(missing_ok=True)  # an old one would not match the new backup
        return None
    target = checksum_path(backup)
    target.write_text(f"hmac-sha256 {_digest(partial, key)}\n", encoding="ascii")
    return target


def check_checksum(backup: Path) -> None:
    """With $CMKIT_BACKUP_KEY set, refuse a backup whose keyed checksum is missing or does not match:
    it was changed after `cmkit backup` wrote it, or written with another key."""
    key = _key()
    if key is None:
        return
    path = checksum_path(backup)
    if not path.is_file():
        raise CMError(
            f"{backup} has no keyed checksum ({path.name}) and {KEY_VARIABLE} is set: a backup written with "
            "the key has one beside it; restore only a backup you made, or unset the key to restore anyway"
        )
    found = path.read_text(encoding="ascii", errors="replace").split()
    if (
        len(found) != 2
        or found[0] != "hmac-sha256"
        or not hmac.compare_digest(found[1], _digest(backup, key))
    ):
        raise CMError(
            f"{backup} does not match its keyed checksum ({path.name}): it was changed after the backup was "
            f"written, or written with another {KEY_VARIABLE}; nothing was restored"
        )


# -- the schema ------------------------------------------------------------------------------------------------------
def _squeeze(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


def sqlite_objects(path: Path) -> Objects:
    """The schema objects of an SQLite file: (kind, name) -> definition (SQLite's own tables left out)."""
    with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    return {
        (kind, name): f"on {table}: {_squeeze(sql or '')}"
        for kind, name, table, sql in rows
        if not name.startswith("sqlite_")
    }


_HEADER = re.compile(r"^-- Name: (.*?); Type: (.*?); Schema: .*?; Owner: .*$", re.MULTILINE)


def postgresql_objects(script: str) -> Objects:
    """The objects of a schema-only dump script: (type, name) -> the statements that make it."""
    out: Objects = {}
    marks = list(_HEADER.finditer(script))
    for mark, end in zip(marks, [m.start() for m in marks[1:]] + [len(script)], strict=True):
        body = "\n".join(
            line
            for line in script[mark.end() : end].splitlines()
            if not line.startswith("--") and not line.startswith("\\")
        )
        out[(mark.group(2), mark.group(1))] = _squeeze(body)
    return out


def differences(found: Objects, expected: list[Objects]) -> list[str]:
    """The objects that are extra, changed or missing in `found`, each named with its kind. `expected`:
    the reference, in each of the forms the database may write it."""
    keys = expected[0].keys()
    extra = [f"extra {k.lower()} {n}" for k, n in sorted(found.keys() - keys)]
    changed = [
        f"changed {k.lower()} {n}"
        for k, n in sorted(found.keys() & keys)
        if all(found[(k, n)] != form.get((k, n)) for form in expected)
    ]
    missing = [f"missing {k.lower()} {n}" for k, n in sorted(keys - found.keys())]
    return extra + changed + missing


def refuse_foreign_schema(source: Path, found: Objects, expected: list[Objects], revision: str) -> None:
    """CMError naming the objects in which the backup differs from what the migrations build."""
    problems = differences(found, expected)
    if problems:
        shown = "; ".join(problems[:SHOWN]) + (
            f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
        )
        raise CMError(
            f"{source} is refused: its schema is not the one cmkit's migrations build at revision {revision} "
            f"({shown}). Someone changed the database or the file; nothing was restored. Restore an earlier "
            "backup, or remove those objects from the original database and back it up again"
        )


def sqlite_reference(revision: str) -> Objects:
    """The schema objects the migrations build up to `revision`, in a temporary SQLite file."""
    with tempfile.TemporaryDirectory(prefix="cmkit-reference-") as tmp:
        path = Path(tmp) / "reference.db"
        engine = make_engine(f"sqlite:///{path}")
        try:
            migrate.upgrade(engine, revision)
        finally:
            engine.dispose()
        return sqlite_objects(path)


@contextlib.contextmanager
def scratch_postgresql(url: URL) -> Iterator[URL]:
    """A new, empty database on the server of `url`, dropped at the end."""
    name = f"cmkit_reference_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.DBAPIError as exc:
        admin.dispose()
        raise CMError(
            "checking the backup's schema needs a scratch database to build the reference in, and "
            f"creating one failed ({str(exc.orig).strip()}); give the restoring login CREATEDB"
        ) from None
    try:
        yield url.set(database=name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
