"""The task notebooks stay thin (a handful of cells: import, connect, build, display). That they are
committed without outputs is tested for every notebook in tests/test_notebooks_committed.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import cmkit
from cmkit.db.engine import dispose_engines
from cmkit.demo import DEMO_CONFIG

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


ROOT = Path(__file__).resolve().parents[2]
GETTING_STARTED = ROOT / "notebooks" / "00-getting-started.ipynb"


def test_make_lab_roots_lab_at_the_project_and_opens_getting_started() -> None:
    """`make lab`: the runbook records in runs/ are reachable next to notebooks/, and Lab opens on 00."""
    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    plan = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    command = plan[plan.index("jupyter lab") :].replace("\\\n", " ")
    assert f"--ServerApp.root_dir={ROOT} " in command and "--notebook-dir" not in command
    url = re.search(r"--LabApp.default_url=/lab/tree/(\S+)", command)
    assert url is not None and (ROOT / url.group(1)) == GETTING_STARTED and GETTING_STARTED.exists()
    assert "mkdir -p runs" in plan


def test_getting_started_runs_twice_and_leaves_the_database_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Notebook 00 walks through on a scratch database of its own: running it again works, and the
    database it connects to gets no 'Getting Started GmbH'."""
    papermill = pytest.importorskip("papermill")
    url = f"sqlite:///{tmp_path / 'cmkit.db'}"
    cmkit.init(url, DEMO_CONFIG)
    cm = cmkit.connect(url)
    cm.create_company("retail", name="Vorhanden GmbH")
    before = cm.frame("customers")
    monkeypatch.setenv("CMKIT_URL", url)
    for run in range(2):
        papermill.execute_notebook(
            str(GETTING_STARTED), str(tmp_path / f"run{run}.ipynb"), cwd=str(tmp_path), progress_bar=False
        )
    after = cmkit.connect(url).frame("customers")
    assert list(after["name"]) == list(before["name"]) == ["Vorhanden GmbH"]
    dispose_engines()
