"""Who the database says is connected (R31): the login, and whether it owns the cmkit schema.

PostgreSQL: the login is `session_user` (it stays the login under SET ROLE and in SECURITY DEFINER code);
it owns the schema when it owns the `customers` table (a superuser counts as the owner: it bypasses every
check anyway). SQLite: one file is one person's: the login is $CMKIT_USER, else $JUPYTERHUB_USER, else the
operating-system user, and it "owns" the database when the file is that OS user's own.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url


@dataclass(frozen=True)
class Login:
    name: str
    is_owner: bool


def _sqlite_login(engine: Engine) -> Login:
    name = os.environ.get("CMKIT_USER") or os.environ.get("JUPYTERHUB_USER") or getpass.getuser()
    path = make_url(str(engine.url)).database
    if not path or path == ":memory:" or not Path(path).exists():
        return Login(name, True)
    getuid = getattr(os, "getuid", None)
    return Login(name, getuid is None or Path(path).stat().st_uid == getuid())


def login_of(engine: Engine) -> Login:
    """The connected login and whether it owns the schema."""
    if engine.dialect.name == "sqlite":
        return _sqlite_login(engine)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT session_user::text, "
                "coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = session_user), false) "
                "OR session_user::text = (SELECT pg_get_userbyid(c.relowner)::text FROM pg_class c "
                "WHERE c.oid = to_regclass('customers'))"
            )
        ).one()
    return Login(str(row[0]), bool(row[1]))
