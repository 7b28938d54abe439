"""Opening a database: `init` creates or upgrades one, `connect` opens it as one admin."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from cmkit.db import config_store, identity, migrate, trust, uow
from cmkit.db.engine import engine_for, resolve_url
from cmkit.domain.config import ADMIN, load_config
from cmkit.errors import CMError
from cmkit.facade import CustomerManager


def init(url: str | None = None, config: str | Path | Mapping[str, Any] | None = None) -> str:
    """Create or upgrade the schema and store `config` (a TOML path or a dict); idempotent, loses no data.

    A configuration that is invalid, or that would strand data (a group with customers removed or given
    another model, a queue with tickets removed), is refused with a ConfigError naming the key, and the
    stored configuration stays as it was. Returns the database URL.
    """
    parsed = load_config(config) if config is not None else None
    engine = engine_for(url)
    migrate.upgrade(engine)

    owner = identity.login_of(engine)
    if not owner.is_owner:
        raise CMError(
            f"R32: only the owner of the cmkit schema initialises it; login {owner.name!r} is not the owner"
        )

    def store(work: uow.UnitOfWork) -> None:
        first = config_store.revision(work.session) == 0
        if parsed is not None or first:
            config_store.replace(work, parsed or load_config({}))
        if engine.dialect.name == "postgresql":
            conn = work.session.connection()
            if trust.can_manage_roles(conn):
                trust.sync(conn, config_store.load(work.session))
            else:
                warnings.warn(
                    f"login {owner.name!r} may not create roles (CREATEROLE): the configured users get no "
                    "PostgreSQL logins; only the owner can work with this database",
                    stacklevel=2,
                )

    uow.run(engine, ADMIN, store, write=True, login=owner.name, finalize_pending=False)
    return resolve_url(url)


def connect(url: str | None = None, user: str | None = None, *, run_id: str | None = None) -> CustomerManager:
    """Open the database at `url` (default: $CMKIT_URL, else data/cmkit.db) as who the database says
    (R31: the PostgreSQL login, `admin` for the owner; on SQLite $CMKIT_USER, $JUPYTERHUB_USER or the OS
    user). Naming another `user` needs the `impersonate` permission.

    `run_id` (default: $CMKIT_RUN_ID) goes into every audit and protocol entry the connection writes:
    a runbook run's, see cmkit.runbooks.start.

    Refuses a database that does not exist or whose schema is older than this cmkit (run init first).
    """
    resolved = resolve_url(url)
    if resolved.startswith("sqlite"):
        path = make_url(resolved).database
        if path and path != ":memory:" and not Path(path).exists():
            raise CMError(
                f"no cmkit database at {path}; create one with `cmkit demo` (or `make lab`), "
                "or with cmkit.init(url, config)"
            )
    engine = engine_for(resolved)
    current, head = migrate.current_revision(engine), migrate.head_revision()
    if current != head:
        raise CMError(
            f"the database at {engine.url.render_as_string(hide_password=True)} has schema revision "
            f"{current}, this cmkit needs {head}; run cmkit.init(url) (or `cmkit init`) to create or upgrade it"
        )
    return CustomerManager(engine, user, run_id=run_id)
