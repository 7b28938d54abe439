"""The unit tier: cmkit.domain (rules, fields, text folding, keys, configuration, criteria, matching,
attachments) and the layering, without a database. `pytest tests/unit` takes seconds.

A test here that asks for a database (db_url, or a fixture built on it: cm, world, snapshot, ...) is
refused at collection: it belongs to the tests one folder up, which run on SQLite and PostgreSQL.
The unit tier runs first, so that `make test-fast` (pytest -x) stops within seconds when a rule breaks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cmkit.domain.config import Config, load_config

HERE = Path(__file__).parent
DATABASE_FIXTURES = {"db_url", "sqlite_template", "pg_database"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unit = [item for item in items if HERE in item.path.parents]
    for item in unit:
        used = sorted(DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ())))
        if used:
            raise pytest.UsageError(
                f"{item.nodeid} uses the database ({', '.join(used)}); the unit tier runs without one: "
                "move the test to tests/"
            )
    chosen = set(map(id, unit))
    items[:] = unit + [item for item in items if id(item) not in chosen]


@pytest.fixture(scope="session")
def config() -> Config:
    """The test configuration (tests/config_test.toml), parsed: groups retail, partners and private."""
    return load_config(HERE.parent / "config_test.toml")
