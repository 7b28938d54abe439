"""Search results as DataFrames: typed columns built from the driver's rows without per-cell type
inference (search results are small and asked for often: pandas' generic constructor would cost more
than the query). The columns are the fields of the hits (CustomerHit, TicketHit) the statements return."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, get_type_hints

import numpy as np
import pandas as pd

from cmkit.db.search_queries import CustomerHit, TicketHit

#: the kind of a frame column by its field's type: "int" (never empty), "bool", "time"; others "obj"
KIND_OF_TYPE: dict[Any, str] = {int: "int", bool: "bool", dt.datetime | str: "time"}


def columns_of(hit: type[CustomerHit | TicketHit]) -> tuple[tuple[str, str], ...]:
    """(column, kind) for the fields of the result rows `hit`, the kind given by each field's type."""
    types = get_type_hints(hit)
    return tuple((name, KIND_OF_TYPE.get(types[name], "obj")) for name in hit._fields)


#: (column, kind) of search results; customers show their group's name and no `data`
CUSTOMER_COLUMNS = tuple(
    ("group", "obj") if name == "group_id" else (name, kind)
    for name, kind in columns_of(CustomerHit)
    if name != "data"
)
TICKET_COLUMNS = columns_of(TicketHit)


def fast_frame(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """A DataFrame of `rows` with typed columns, built without per-cell type inference (search results
    are small and asked for often: pandas' generic constructor would cost more than the query)."""
    return frame_of_columns(columns, list(zip(*rows, strict=True)) if rows else [()] * len(columns))


def frame_of_columns(columns: Sequence[tuple[str, str]], values: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """fast_frame of the column `values`, one sequence per column."""
    arrays: list[Any] = []
    for (_name, kind), col in zip(columns, values, strict=True):
        if kind == "int":
            arrays.append(np.array(col, dtype=np.int64))
        elif kind == "bool":
            arrays.append(np.array([bool(v) for v in col], dtype=bool))
        elif kind == "time":
            arrays.append(_utc_times(col))
        else:
            arr = np.empty(len(col), dtype=object)
            arr[:] = col
            arrays.append(arr)
    build = getattr(pd.DataFrame, "_from_arrays", None)
    if build is not None:
        frame: pd.DataFrame = build(
            arrays,
            columns=_index(tuple(columns)),
            index=pd.RangeIndex(len(arrays[0])),
            verify_integrity=False,
        )
        return frame
    names = [name for name, _kind in columns]  # pragma: no cover - other pandas versions
    return pd.DataFrame(dict(zip(names, arrays, strict=True)))  # pragma: no cover


def _utc_times(col: Sequence[Any]) -> Any:
    """The times of a column as UTC. SQLite's texts as cmkit stores them (UTC, no zone) are parsed by
    numpy (50 of them: 11 us, against 75 us by pandas' ISO 8601 parser); others (PostgreSQL's datetimes,
    a text with a zone written around cmkit) by pandas."""
    try:
        joined = "".join(col)
    except TypeError:  # not all texts
        joined = ""
    if joined and joined.count("-") == 2 * len(col) and "+" not in joined and "Z" not in joined:
        try:
            return pd.DatetimeIndex(np.array(col, dtype="datetime64[us]"), tz="UTC").array
        except ValueError:
            pass
    return pd.to_datetime(pd.Series(col, dtype=object), utc=True, format="ISO8601").array


@lru_cache(maxsize=64)
def _index(columns: tuple[tuple[str, str], ...]) -> pd.Index:
    return pd.Index([name for name, _kind in columns])
