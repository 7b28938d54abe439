"""The task notebooks stay thin (a handful of cells: import, connect, build, display). That they are
committed without outputs is tested for every notebook in tests/test_notebooks_committed.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("0[1-9]-*.ipynb"))


def test_the_task_notebooks_exist() -> None:
    names = [p.name for p in NOTEBOOKS]
    for task in ("find-customers", "customer-page", "transfer-tickets", "deactivate-reactivate-delete"):
        assert any(task in n for n in names), task


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_thin(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert len(code) <= 6, "a task notebook builds a form; the logic belongs in cmkit.ui"
    assert all(len("".join(c["source"]).splitlines()) <= 3 for c in code)
    assert any("cmkit.connect()" in "".join(c["source"]) for c in code), (
        "connect via $CMKIT_URL or the default"
    )
