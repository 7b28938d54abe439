"""cm.export: a table to CSV or XLSX, formula-like text written as text (CSV injection), the rest unchanged."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from cmkit import CustomerManager, ValidationError

HOSTILE = [
    "=1+1",
    "+49 221 1234",
    "-2+3",
    "@SUM(A1)",
    "\tTAB",
    "\rCR",
    "plain",
    "<img src=x onerror=alert(1)>",
]


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(1, len(HOSTILE) + 1),
            "name": HOSTILE,
            "amount": [-5, 2, 3, -1, 0, 7, 8, 9],
            "active": [True, False] * 4,
        }
    )


def test_export_xlsx_writes_formula_like_cells_as_text_unchanged(cm: CustomerManager, tmp_path: Path) -> None:
    path = cm.export(frame(), tmp_path / "out.xlsx")
    sheet = openpyxl.load_workbook(path).active
    assert sheet is not None
    cells = [sheet.cell(row=r, column=2) for r in range(2, len(HOSTILE) + 2)]
    assert [c.value for c in cells] == HOSTILE and {c.data_type for c in cells} == {"s"}
    back = pd.read_excel(path)
    assert list(back["amount"]) == [-5, 2, 3, -1, 0, 7, 8, 9]  # numbers stay numbers
    assert list(back["active"]) == [True, False] * 4


def test_export_csv_puts_an_apostrophe_before_formula_like_text(cm: CustomerManager, tmp_path: Path) -> None:
    back = pd.read_csv(cm.export(frame(), tmp_path / "out.csv"), keep_default_na=False)
    expected = [("'" + v if v[0] in "=+-@\t\r" else v) for v in HOSTILE]
    assert list(back["name"]) == expected
    assert list(back["amount"]) == [-5, 2, 3, -1, 0, 7, 8, 9]


def test_export_of_a_search_result_reads_back_equal(cm: CustomerManager, world, tmp_path: Path) -> None:
    result = cm.detail_search(include_deactivated=True)
    for name in ("r.csv", "r.xlsx"):
        path = cm.export(result, tmp_path / name)
        back = pd.read_csv(path) if name.endswith(".csv") else pd.read_excel(path)
        assert list(back["id"]) == list(result["id"]) and list(back["name"]) == list(result["name"])


def test_export_refuses_another_file_type_and_what_is_no_table(cm: CustomerManager, tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as error:
        cm.export(frame(), tmp_path / "out.json")
    assert error.value.field == "path"
    with pytest.raises(ValidationError):
        cm.export([1, 2], tmp_path / "out.csv")  # type: ignore[arg-type]
