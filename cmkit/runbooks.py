"""Runbooks: the cleanup notebooks in notebooks/runbooks/, listed and run with papermill.

A run executes the notebook with the given parameters and stores the executed notebook under `runs/`
with a timestamped name: that file is the record of the run (the plan it showed, what it applied, any
error). The run's id goes to the kernel as $CMKIT_RUN_ID, so every audit and protocol entry the run
writes carries it: `cm.history(run_id=...)` shows what the run changed.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmkit.errors import CMError, ValidationError

RUNS_DIR = Path("runs")
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Runbook:
    name: str
    path: Path
    title: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class RunResult:
    """One run: its id, the executed notebook, and the error if a cell failed (None when it succeeded)."""

    run_id: str
    name: str
    output: Path
    parameters: dict[str, Any]
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def dry_run(self) -> bool:
        return bool(self.parameters.get("dry_run", True))


def runbook_dir(directory: str | Path | None = None) -> Path:
    """Where the runbooks are: `directory`, else $CMKIT_RUNBOOKS, else ./notebooks/runbooks, else the
    notebooks/runbooks folder next to the cmkit package (a source checkout)."""
    candidates = [
        directory,
        os.environ.get("CMKIT_RUNBOOKS"),
        Path("notebooks") / "runbooks",
        _PACKAGE_ROOT / "notebooks" / "runbooks",
    ]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    raise CMError(
        "no runbook folder found; run from the cmkit checkout, or set CMKIT_RUNBOOKS to notebooks/runbooks"
    )


def _describe(path: Path) -> Runbook:
    nb = json.loads(path.read_text(encoding="utf-8"))
    title, parameters = path.stem, {}
    for cell in nb.get("cells", []):
        source = "".join(cell.get("source", []))
        if cell["cell_type"] == "markdown" and title == path.stem and source.lstrip().startswith("#"):
            title = source.lstrip().splitlines()[0].lstrip("# ").strip()
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            for node in ast.parse(source).body:
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                    try:
                        parameters[node.targets[0].id] = ast.literal_eval(node.value)
                    except ValueError:
                        parameters[node.targets[0].id] = ast.unparse(node.value)
    return Runbook(path.stem, path, title, parameters)


def list_runbooks(directory: str | Path | None = None) -> list[Runbook]:
    """The runbooks, by name: each notebook's title (its first heading) and parameters with defaults."""
    return [_describe(p) for p in sorted(runbook_dir(directory).glob("*.ipynb"))]


def find_runbook(name: str, directory: str | Path | None = None) -> Runbook:
    books = {b.name: b for b in list_runbooks(directory)}
    if name not in books:
        raise ValidationError("name", f"no runbook {name!r}; the runbooks are: {', '.join(books) or 'none'}")
    return books[name]


def parse_value(text: str) -> Any:
    """A parameter given on the command line: true/false, none, a Python literal (a number, a quoted text, a
    list such as [12, 15]), else the text as it is."""
    low = text.strip().lower()
    if low in ("true", "yes"):
        return True
    if low in ("false", "no"):
        return False
    if low in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return text


def new_run_id(name: str, now: dt.datetime | None = None) -> str:
    """A timestamped, unique run id, e.g. 20260301T101500Z-merge-duplicates-3f9a1c."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{name}-{secrets.token_hex(3)}"


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_runbook(
    name: str,
    parameters: Mapping[str, Any] | None = None,
    *,
    url: str | None = None,
    runs_dir: str | Path = RUNS_DIR,
    directory: str | Path | None = None,
    progress: bool = False,
) -> RunResult:
    """Execute runbook `name` with papermill and keep the executed notebook as the run's record.

    Refuses parameters the runbook does not have (ValidationError). A failing cell does not raise: the
    result's `error` says what failed and the record shows where.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    book = find_runbook(name, directory)
    params = dict(parameters or {})
    unknown = sorted(set(params) - set(book.parameters))
    if unknown:
        raise ValidationError(
            "parameters",
            f"runbook {name!r} has no parameter {', '.join(unknown)}; "
            f"its parameters: {', '.join(book.parameters)}",
        )
    if url is not None:
        params["url"] = url
    params.setdefault("dry_run", book.parameters.get("dry_run", True))
    run_id = new_run_id(name)
    out_dir = Path(runs_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{run_id}.ipynb"
    env = {"CMKIT_RUN_ID": run_id}
    error = None
    with _environment(env):
        try:
            pm.execute_notebook(
                str(book.path),
                str(output),
                parameters=params,
                progress_bar=progress,
                cwd=os.getcwd(),
                kernel_name="python3",
                extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
            )  # no transport notices
        except PapermillExecutionError as exc:
            error = f"{exc.ename}: {exc.evalue}"
    return RunResult(run_id, name, output, params, error)
