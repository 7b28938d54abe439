"""Search results as frames (cmkit.services.search_frames.fast_frame): times come out as UTC, whichever form the
database gave them in."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from cmkit.services.search_frames import TICKET_COLUMNS, fast_frame


def ticket(created_at: object) -> tuple[object, ...]:
    return (7, "T0000007", "Drucker", "helpdesk", "open", 3, "Anna Müller", created_at)


@pytest.mark.parametrize(
    "stored",
    [
        ["2026-11-29 09:10:32.569400", "2026-11-29 10:00:00"],  # SQLite, as cmkit stores them
        ["2026-11-29 09:10:32.569400+00:00", "2026-11-29 10:00:00Z"],  # written around cmkit, with a zone
        ["2026-11-29 11:10:32.569400+02:00", "2026-11-29 05:00:00-05:00"],  # another zone
        [  # PostgreSQL's datetimes
            dt.datetime(2026, 11, 29, 9, 10, 32, 569400, tzinfo=dt.UTC),
            dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        ],
    ],
)
def test_ticket_times_are_utc_in_every_stored_form(stored: list[object]) -> None:
    frame = fast_frame(TICKET_COLUMNS, [ticket(v) for v in stored])
    assert str(frame["created_at"].dtype) == "datetime64[us, UTC]"
    assert list(frame["created_at"]) == [
        pd.Timestamp("2026-11-29 09:10:32.569400", tz="UTC"),
        pd.Timestamp("2026-11-29 10:00:00", tz="UTC"),
    ]


def test_no_tickets_is_an_empty_typed_frame() -> None:
    frame = fast_frame(TICKET_COLUMNS, [])
    assert frame.empty and list(frame.columns) == [name for name, _kind in TICKET_COLUMNS]
