"""A plan's rows as plain JSON values (cmkit.values.frame_to_dict): texts taken as a whole column give the
values cell by cell would, gaps included, so that a plan's fingerprint does not depend on the way."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from cmkit.values import _cell, changes_rows

GAPS = st.sampled_from([None, np.nan, pd.NA])
TEXTS = st.lists(st.one_of(st.text(max_size=8), GAPS), max_size=30)


def _by_cell(frame: pd.DataFrame) -> list[list[object]]:
    return [[_cell(v) for v in row] for row in frame.astype(object).itertuples(index=False)]


@given(TEXTS)
def test_text_columns_read_whole_as_by_cell(values: list[object]) -> None:
    for dtype in (object, "str", "string"):
        frame = pd.DataFrame({"name": pd.Series(values, dtype=dtype), "n": range(len(values))})
        assert changes_rows(frame) == _by_cell(frame)


def test_mixed_object_columns_stay_by_cell() -> None:
    """A column of texts and other values (lists, times, numbers) is read cell by cell."""
    when = pd.Timestamp("2026-11-29 12:00", tz="UTC")
    frame = pd.DataFrame({"mixed": pd.Series(["a", ["T1", "T2"], when, 3, math.nan, None], dtype=object)})
    assert changes_rows(frame) == [["a"], [["T1", "T2"]], [when.isoformat()], [3], [None], [None]]
