"""Opening a database: `init` creates or upgrades one, `connect` opens it as one admin."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from cmkit.db import config_store, migrate, uow
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

    def store(work: uow.UnitOfWork) -> None:
        first = config_store.revision(work.session) == 0
        if parsed is None and not first:
            return
        before = None if first else config_store.load(work.session).to_dict()
        after = (parsed or load_config({})).to_dict()
        if before == after:
            return
        config_store.save(work.session, parsed or load_config({}))
        work.audit("configure", "configuration", None, None, before, after)

    uow.run(engine, ADMIN, store, write=True, finalize_pending=False)
    return resolve_url(url)


def connect(url: str | None = None, user: str = ADMIN, *, run_id: str | None = None) -> CustomerManager:
    """Open the database at `url` (default: $CMKIT_URL, else data/cmkit.db) as `user`.

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
