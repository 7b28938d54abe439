"""Export of a table (a search result, a plan) to CSV or XLSX, safe to open in a spreadsheet.

A cell whose text begins with `=`, `+`, `-`, `@`, a tab or a carriage return would be taken for a formula
by Excel or LibreOffice (CSV injection). Such cells are written as text: in XLSX as a string cell (the
value unchanged), in CSV with a leading apostrophe, the usual mark for "text" in a spreadsheet.
Numbers (a negative amount) are numbers, not text, and stay as they are.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import pandas as pd

from cmkit.domain.formulas import TRIGGERS
from cmkit.errors import ValidationError

#: what a formula begins with (OWASP's list for CSV injection): on export every such text is written as
#: text, even a phone number, where an import refuses only what would run (cmkit.domain.formulas)
FORMULA_START = (*TRIGGERS, "\t", "\r")
FORMATS = (".csv", ".xlsx")


def formula_like(value: Any) -> bool:
    """Whether `value` is text a spreadsheet would take for a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_START)


def _text_frame(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with formula-like text cells behind an apostrophe (for CSV)."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(lambda v: "'" + v if formula_like(v) else v)
    return out


def _xlsx_cell(value: Any) -> Any:
    """A DataFrame cell as openpyxl takes it: NA as empty, timestamps without time zone (Excel has none)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return value.item()  # numpy scalars
    if isinstance(value, list | tuple | dict | set):
        return str(value)
    return value


def _write_xlsx(df: pd.DataFrame, path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=False)
    sheet = book.active
    assert sheet is not None
    sheet.title = "export"
    sheet.append([str(c) for c in df.columns])
    for row_number, row in enumerate(df.itertuples(index=False, name=None), start=2):
        sheet.append([_xlsx_cell(v) for v in row])
        for col_number, value in enumerate(row, start=1):
            if formula_like(value):  # openpyxl made it a formula: make it the text it is
                cell = sheet.cell(row=row_number, column=col_number)
                cell.value = value
                cell.data_type = "s"
                cell.quotePrefix = True
    book.save(path)


def export(df: pd.DataFrame, path: str | Path) -> Path:
    """Write `df` (without its index) to `path`: `.csv` (UTF-8) or `.xlsx`; returns the path.

    Formula-like text cells are written as text (see the module). Refuses another file type and an
    object that is not a DataFrame (ValidationError naming `path` or `df`)."""
    if not isinstance(df, pd.DataFrame):
        raise ValidationError("df", f"export takes a DataFrame, got {type(df).__name__}")
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ValidationError("path", f"export writes {' or '.join(FORMATS)} files, got {out.name!r}")
    if suffix == ".csv":
        _text_frame(df).to_csv(
            out, index=False, encoding="utf-8", lineterminator="\r\n"
        )  # RFC 4180: CR and LF in a cell quoted
    else:
        _write_xlsx(df, out)
    return out
