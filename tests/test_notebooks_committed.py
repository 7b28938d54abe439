"""Notebooks are committed without outputs: a notebook that was run shows customer data, which must not
reach the repository. What git holds is checked (the index), not the working copy, which keeps its outputs
when the nbstripout filter of `make hooks` strips them on commit."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers import committed

ROOT = Path(__file__).resolve().parents[1]


def _tracked_notebooks() -> list[Path]:
    try:
        found = subprocess.run(
            ["git", "ls-files", "-z", "--", "*.ipynb"], cwd=ROOT, capture_output=True, check=True, timeout=30
        )
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: the files themselves
        return sorted(ROOT.glob("notebooks/**/*.ipynb"))
    return sorted(ROOT / name for name in found.stdout.decode().split("\0") if name)


NOTEBOOKS = _tracked_notebooks()


def outputs_kept(text: str) -> list[str]:
    """The ids (or positions) of the code cells of a notebook's text that keep outputs or counts."""
    cells = json.loads(text)["cells"]
    return [
        str(cell.get("id", pos))
        for pos, cell in enumerate(cells)
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]


def test_the_notebooks_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in NOTEBOOKS}
    assert "notebooks/00-getting-started.ipynb" in names
    assert any(n.startswith("notebooks/runbooks/") for n in names)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_committed_notebook_has_no_outputs(path: Path) -> None:
    kept = outputs_kept(committed(path))
    assert not kept, f"cells {kept} keep outputs: run `make hooks` once, then `make format` and commit again"


def test_outputs_kept_finds_a_run_cell() -> None:
    run = {"cells": [{"cell_type": "code", "id": "a1", "execution_count": 3, "outputs": [{"text": "Anna"}]}]}
    clean = {"cells": [{"cell_type": "code", "id": "a1", "execution_count": None, "outputs": []}]}
    assert outputs_kept(json.dumps(run)) == ["a1"] and outputs_kept(json.dumps(clean)) == []
