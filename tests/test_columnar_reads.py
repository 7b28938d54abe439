"""SQLite's columnar reading of a plan (cmkit.db.columnar): the same frame as reading row by row, whatever
the values (NULLs, the separator, NUL characters, any text), or no frame at all and the rows are read."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any, cast

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from cmkit.db import columnar, repo

META = sa.MetaData()
ROWS = sa.Table(
    "rows",
    META,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("n", sa.Integer, nullable=True),
    sa.Column("word", sa.String(50), nullable=False),
    sa.Column("text", sa.Text, nullable=True),
    sa.Column("flag", sa.Boolean, nullable=True),
    sa.Column("sure", sa.Boolean, nullable=False),
)
PLAIN = sa.select(
    ROWS.c.id, ROWS.c.n, ROWS.c.word, ROWS.c.text, ROWS.c.flag, ROWS.c.sure, sa.literal(7).label("seven")
)


@pytest.fixture
def session() -> Iterator[Session]:
    engine = sa.create_engine("sqlite://")
    META.create_all(engine)
    with Session(engine) as s:
        yield s
    engine.dispose()


def _fill(session: Session, rows: list[dict[str, Any]]) -> None:
    session.execute(ROWS.delete())
    if rows:
        session.execute(ROWS.insert(), [{"id": i + 1, **r} for i, r in enumerate(rows)])


def _by_rows(session: Session, stmt: Any) -> pd.DataFrame:
    """The frame read row by row (an ordered select is never read by columns)."""
    return repo.frame_of(session, stmt.order_by(ROWS.c.id))


row = st.fixed_dictionaries(
    {
        # (the row reader types a column holding NULL through floats: exact to 2**53)
        "n": st.none() | st.integers(min_value=-(2**53), max_value=2**53),
        "word": st.text(max_size=8),
        "text": st.none() | st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
        "flag": st.none() | st.booleans(),
        "sure": st.booleans(),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, max_size=12))
def test_frame_of_reads_the_same_frame_by_columns_as_by_rows(
    session: Session, rows: list[dict[str, Any]]
) -> None:
    _fill(session, rows)
    by_columns = repo.frame_of(session, PLAIN).sort_values("id", ignore_index=True)
    by_rows = _by_rows(session, PLAIN)
    pd.testing.assert_frame_equal(by_columns, by_rows)


def test_columns_are_read_in_one_statement_with_their_types(session: Session) -> None:
    _fill(session, [{"n": None, "word": "Müller", "text": None, "flag": None, "sure": True}] * 3)
    frame = columnar.sqlite_columns(session, PLAIN)
    assert frame is not None
    assert frame["n"].dtype == "Int64" and frame["n"].isna().all()
    assert frame["word"].tolist() == ["Müller"] * 3
    assert frame["text"].isna().all() and frame["flag"].isna().all()
    assert frame["sure"].dtype == bool and frame["seven"].tolist() == [7, 7, 7]


@pytest.mark.parametrize(("column", "value"), [("word", "a\x1fb"), ("n", "zwölf")])
def test_a_value_the_columns_cannot_carry_leaves_it_to_the_rows(
    session: Session, column: str, value: str
) -> None:
    _fill(session, [{"n": 1, "word": "x", "text": "t", "flag": True, "sure": False}])
    session.execute(ROWS.update().values({column: value}))
    assert columnar.sqlite_columns(session, PLAIN) is None


def test_an_ordered_select_and_other_types_are_read_by_rows(session: Session) -> None:
    _fill(session, [{"n": 1, "word": "x", "text": "t", "flag": True, "sure": False}])
    assert columnar.sqlite_columns(session, PLAIN.order_by(ROWS.c.id)) is None
    assert columnar.sqlite_columns(session, sa.select(ROWS.c.id, sa.func.now())) is None
    _fill(session, [])
    assert columnar.sqlite_columns(session, PLAIN) is None  # no rows: the row reader types the empty frame


def test_columns_longer_than_sqlite_allows_are_read_by_rows(session: Session) -> None:
    raw = cast(sqlite3.Connection, session.connection().connection.driver_connection)
    _fill(session, [{"n": i, "word": "w" * 40, "text": None, "flag": None, "sure": True} for i in range(5)])
    raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 100)  # each row fits, the five joined do not
    assert columnar.sqlite_columns(session, PLAIN) is None
    assert repo.frame_of(session, PLAIN)["word"].tolist() == ["w" * 40] * 5
