"""Runbooks: the cleanup notebooks in notebooks/runbooks/, listed and run with papermill, and the few
calls every runbook opens and closes with.

A run executes the notebook with the given parameters and stores the executed notebook under `runs/`
with a timestamped name: that file is the record of the run (the plan it showed, what it applied, any
error). The run's id reaches the notebook as the injected parameter `run_id` (so the record shows it)
and the kernel as $CMKIT_RUN_ID; `start(url, dry_run=..., run_id=run_id)` connects with it, so every
audit and protocol entry the run writes carries it, and `finish(cm)` shows them (`cm.history(run_id=...)`).

Parameters reach the notebook as Python source written by papermill, so only plain values are accepted
(`check_parameter`): None, True/False, numbers, texts, and lists or dicts of those. papermill writes
anything else (a tuple, a set, bytes) into the code unquoted, which would run text given on the command
line as code.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from cmkit.errors import CMError, ValidationError
from cmkit.services import revert
from cmkit.values import ClusterMerges, Outcome

if TYPE_CHECKING:
    from cmkit.facade import CustomerManager

RUNS_DIR = Path("runs")
#: next to a record runs/ID.ipynb, its dry run's plans: runs/ID.plan.json (R34)
PLAN_SUFFIX = ".plan.json"
PLAN_ENV = "CMKIT_PLAN_FILE"
PLANS_FORMAT = "cmkit-runbook-plans-1"
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
#: Parameters the runner sets for each run; a caller cannot give them.
RESERVED = frozenset({"run_id"})
#: How deeply lists and dicts may nest in a parameter value.
MAX_DEPTH = 10
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


@dataclass(frozen=True)
class Runbook:
    name: str
    path: Path
    title: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class RunResult:
    """One run: its id, the executed notebook, and the error if a cell failed (None when it succeeded).
    `plan`: the file next to the record that keeps the plan(s) a dry run made (R34), if it kept any."""

    run_id: str
    name: str
    output: Path
    parameters: dict[str, Any]
    error: str | None = None
    plan: Path | None = None

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


def _plain(name: str, value: Any, depth: int = 0) -> None:
    """Refuse (ValidationError naming the parameter) anything but None, bool, int, finite float, str, and
    lists or dicts with text keys of those. Exact types: a subclass could change how it is written out."""
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return
    if kind is float:
        if not math.isfinite(value):
            raise ValidationError(name, f"{value!r} is not a number a runbook can take; give a finite number")
        return
    if kind in (list, dict) and depth >= MAX_DEPTH:
        raise ValidationError(name, f"lists and dicts nest at most {MAX_DEPTH} deep in a runbook parameter")
    if kind is list:
        for item in value:
            _plain(name, item, depth + 1)
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise ValidationError(
                    name,
                    f"a {type(key).__name__} cannot be a runbook parameter's dict key; keys are texts, "
                    "e.g. {'a': 1}",
                )
            _plain(name, item, depth + 1)
        return
    raise ValidationError(
        name,
        f"a {kind.__name__} cannot be a runbook parameter; give None, true/false, a number, a text, "
        "or a list [...] or dict {...} of those",
    )


def check_parameter(name: str, value: Any) -> Any:
    """`value`, if it can reach the notebook as a plain literal; else ValidationError naming `name`.

    Accepted: None, True/False, int, finite float, str, and lists or dicts (text keys) of those, nested
    at most MAX_DEPTH deep. papermill writes each value into the notebook as Python source and quotes
    other types (tuple, set, bytes, objects) without escaping them, so their text would run as code.
    As a second guard, the source papermill writes must read back (as a literal) as the same value.
    """
    from papermill.translators import PythonTranslator

    _plain(name, value)
    try:
        same = ast.literal_eval(PythonTranslator.translate(value)) == value
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        same = False
    if not same:
        raise ValidationError(name, "cannot be handed to the notebook as a plain value; give a simpler one")
    return value


def parse_value(text: str, name: str = "value") -> Any:
    """A parameter `name` given on the command line: true/false, none, a Python literal (a number, a quoted
    text, a list such as [12, 15], a dict), else the text as it is.

    Refuses (ValidationError naming `name`) a literal that is no plain value: a tuple, set, bytes,
    complex number, or a list or dict holding one (see check_parameter)."""
    low = text.strip().lower()
    if low in ("true", "yes"):
        return True
    if low in ("false", "no"):
        return False
    if low in ("none", "null"):
        return None
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text
    return check_parameter(name, value)


def new_run_id(name: str, now: dt.datetime | None = None) -> str:
    """A timestamped, unique run id, e.g. 20260301T101500Z-merge-duplicates-3f9a1c."""
    return revert.new_run_id(name, now)


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


def plan_file(record: str | Path) -> Path:
    """Where the plan of the run recorded in `record` (runs/ID.ipynb) is kept: runs/ID.plan.json."""
    path = Path(record)
    return path.with_name(path.name.removesuffix(".ipynb") + PLAN_SUFFIX)


def run_runbook(
    name: str,
    parameters: Mapping[str, Any] | None = None,
    *,
    url: str | None = None,
    runs_dir: str | Path = RUNS_DIR,
    directory: str | Path | None = None,
    progress: bool = False,
    plan_only: bool = False,
    applies: str | None = None,
) -> RunResult:
    """Execute runbook `name` with papermill and keep the executed notebook as the run's record.

    `plan_only` makes it a dry run. A dry run keeps the plans it makes (`keep_plan`) in runs/ID.plan.json
    next to the record, to review and then apply exactly (`apply_record`, R34). The record opens with a
    cell that names the run, its parameters and its plan file (or, `applies`, the plan it applies).

    Refuses (ValidationError, nothing run) parameters the runbook does not have, `run_id` (the runner
    sets it), a `dry_run` that is not True or False, and values that are not plain (check_parameter).
    A failing cell does not raise: the result's `error` says what failed and the record shows where.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    book = find_runbook(name, directory)
    params = dict(parameters or {})
    reserved = sorted(set(params) & RESERVED)
    if reserved:
        raise ValidationError(
            reserved[0],
            "is set by the runner for each run (see the record's injected parameters); leave it out",
        )
    unknown = [str(key) for key in params if key not in book.parameters]
    if unknown:
        raise ValidationError(
            "parameters",
            f"runbook {name!r} has no parameter {', '.join(unknown)}; "
            f"its parameters: {', '.join(p for p in book.parameters if p not in RESERVED)}",
        )
    if url is not None:
        params["url"] = url
    if plan_only:
        if params.get("dry_run", True) is not True:
            raise ValidationError("dry_run", "a plan-only run is a dry run; leave dry_run out")
        params["dry_run"] = True
    params.setdefault("dry_run", book.parameters.get("dry_run", True))
    params = {key: check_parameter(key, value) for key, value in params.items()}
    if not isinstance(params["dry_run"], bool):
        raise ValidationError("dry_run", f"must be true or false, got {params['dry_run']!r}")
    run_id = new_run_id(name)
    out_dir = Path(runs_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{run_id}.ipynb"
    kept = plan_file(output).resolve()
    error = None
    env = {"CMKIT_RUN_ID": run_id, PLAN_ENV: str(kept) if params["dry_run"] else ""}
    with _environment(env):
        try:
            pm.execute_notebook(
                str(book.path),
                str(output),
                parameters={**params, "run_id": run_id},
                progress_bar=progress,
                cwd=os.getcwd(),
                kernel_name="python3",
                extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
            )  # no transport notices
        except PapermillExecutionError as exc:
            error = f"{exc.ename}: {exc.evalue}"
    plan = plan_file(output) if kept.is_file() else None
    _head_record(output, run_id, name, params, plan, applies)
    return RunResult(run_id, name, output, params, error, plan)


def _head_record(
    output: Path, run_id: str, name: str, params: Mapping[str, Any], plan: Path | None, applies: str | None
) -> None:
    """Open the record with a cell that names the run, its parameters and its plan."""
    if not output.is_file():  # pragma: no cover - papermill writes it before the first cell runs
        return
    nb = json.loads(output.read_text(encoding="utf-8"))
    lines = [
        f"**Record of run `{run_id}`** of runbook `{name}`, "
        + ("a dry run" if params.get("dry_run", True) else "applying"),
        "",
        "| parameter | value |",
        "| --- | --- |",
        *(f"| {k} | `{v!r}` |" for k, v in params.items() if k != "url"),
    ]
    if plan is not None:
        ids = ", ".join(f"`{p.plan_id}`" for p in load_plans(plan))
        lines += ["", f"Plan kept in `{plan.name}` next to this record: {ids or 'no plan'}."]
        lines += [f"Apply exactly it with `cmkit runbook apply {output.name}`."]
    if applies is not None:
        lines += ["", f"Applies the plan reviewed in record `{applies}`."]
    cell = {"cell_type": "markdown", "id": f"record-{run_id[-6:]}", "metadata": {"tags": ["record"]}}
    cell["source"] = "\n".join(lines)
    nb["cells"].insert(0, cell)
    output.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def load_plans(path: str | Path) -> list[Outcome]:
    """The plans kept in a plan file (runs/ID.plan.json), in the order they were made."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("format") != PLANS_FORMAT:
        raise ValidationError("plan", f"{Path(path).name} is not a runbook's plan file")
    return [Outcome.from_dict(p) for p in data["plans"]]


def keep_plan(plan: Outcome | ClusterMerges | None) -> Path | None:
    """Keep a dry run's plan(s) in the run's plan file next to its record (R34), for `cmkit runbook apply`.

    A ClusterMerges keeps the plan of every cluster that would be merged. Outside `cmkit runbook run`
    (no plan file given) nothing is written. Returns the file, or None."""
    target = os.environ.get(PLAN_ENV)
    plans = [] if plan is None else list(plan.plans) if isinstance(plan, ClusterMerges) else [plan]
    plans = [p for p in plans if p.plan_id and not p.applied]
    if not target:
        print(f"{len(plans)} plan(s) made; kept only when run with `cmkit runbook run`")
        return None
    path = Path(target)
    existing = load_plans(path) if path.is_file() else []
    everything = [*existing, *plans]
    body = {
        "format": PLANS_FORMAT,
        "run_id": os.environ.get("CMKIT_RUN_ID"),
        "plans": [p.to_dict() for p in everything],
    }
    path.write_text(json.dumps(body, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for p in plans:
        print(
            f"plan {p.plan_id} ({p.operation}, {len(p.changes)} change(s), fingerprint {p.fingerprint[:12] if p.fingerprint else ''}) kept in {path.name}"
        )
    return path


def apply_plans(cm: CustomerManager, plans: Iterable[Outcome], *, dry_run: bool = False) -> pd.DataFrame:
    """Apply each plan exactly (R34), each in its own transaction, in order; one that no longer holds is
    refused and changes nothing, and the others still go ahead. Returns one row per plan: plan_id,
    operation, changes, status ("applied", "still holds" for a dry run, or the refusal) and the rows
    that differ (`changed`)."""
    from cmkit.errors import PreconditionFailed

    rows = []
    for plan in plans:
        status, changed = "applied", ""
        try:
            done = cm.apply(plan, dry_run=dry_run)
            if dry_run:
                status = "; ".join(done.problems) or "still holds"
                if done.changed is not None and len(done.changed):
                    changed = done.changed.to_string(index=False)
        except PreconditionFailed as exc:
            status = "; ".join(exc.problems)
            changed = exc.changed.to_string(index=False) if len(exc.changed) else ""
        rows.append([plan.plan_id, plan.operation, len(plan.changes), status, changed])
        print(f"plan {plan.plan_id} ({plan.operation}): {status}")
        if changed:
            print(changed)
    return pd.DataFrame(rows, columns=["plan_id", "operation", "changes", "status", "changed"])


def apply_record(
    record: str | Path,
    *,
    url: str | None = None,
    runs_dir: str | Path | None = None,
    directory: str | Path | None = None,
    progress: bool = False,
) -> RunResult:
    """Apply exactly the plan kept with the dry run recorded in `record` (R34), by running the apply-plan
    runbook: its record names the plan file and the plans it applied, and each plan is refused (and
    changes nothing) if a row it read has changed since. Refuses a record without a kept plan."""
    path = Path(record)
    plan = plan_file(path)
    if not plan.is_file():
        raise ValidationError(
            "record",
            f"no plan kept next to {path.name} (looked for {plan.name}); run the runbook with --plan-only first",
        )
    return run_runbook(
        "apply-plan",
        {"plan": str(plan.resolve()), "dry_run": False},
        url=url,
        runs_dir=runs_dir if runs_dir is not None else path.parent,
        directory=directory,
        progress=progress,
        applies=path.name,
    )


# -- what the runbooks call ------------------------------------------------------------------------------


class Plan(Protocol):
    """What `show_plan` shows: an Outcome, or anything else with these."""

    @property
    def applied(self) -> bool: ...
    @property
    def changes(self) -> pd.DataFrame: ...
    @property
    def problems(self) -> list[str]: ...


def start(url: str | None = None, *, dry_run: bool = True, run_id: str | None = None) -> CustomerManager:
    """The opening cell of every runbook: connect, and say who works on which database and whether this
    is a dry run.

    `run_id` is the one `cmkit runbook run` injects; without it $CMKIT_RUN_ID, else a new id for this
    interactive run. The connection writes it into every audit and protocol entry (R29), so `finish`
    can show what the run changed. Refuses a `dry_run` that is not True or False and a malformed run
    id (ValidationError), before connecting.
    """
    from cmkit.connection import connect

    if not isinstance(dry_run, bool):
        raise ValidationError("dry_run", f"must be True or False, got {dry_run!r}")
    run_id = run_id or os.environ.get("CMKIT_RUN_ID") or new_run_id("interactive")
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise ValidationError(
            "run_id", f"must be up to 64 letters, digits and . _ : - (e.g. from new_run_id), got {run_id!r}"
        )
    cm = connect(url, run_id=run_id)
    print(f"{cm!r}, run {run_id}:", "DRY RUN, nothing will change" if dry_run else "APPLYING the plan")
    return cm


def show_plan(plan: Plan, *by: str) -> pd.DataFrame:
    """Print what a plan (a dry run's Outcome) or an applied operation says: how many records it lists,
    counted by the columns `by`, and its problems. Returns its changes, for the notebook to show."""
    changes = plan.changes
    print(f"{'applied; it lists' if plan.applied else 'the plan lists'} {len(changes)} record(s)")
    if by and len(changes):
        counts = changes.groupby(list(by)).size().rename("changes")
        print(counts.to_frame().to_string())
    if plan.problems:
        print(f"{len(plan.problems)} problem(s):")
        for problem in plan.problems:
            print(" -", problem)
    return changes


def finish(cm: CustomerManager) -> pd.DataFrame:
    """The closing cell of every runbook: what this run changed, from the audit log (R29) by the run id
    `start` gave the connection. Prints the entries counted by action and the audit chain's head (R33: the
    record keeps it, and `cmkit verify --anchor HEAD` shows later that the past still holds it); returns
    the entries as a table (its `attrs["audit_head"]` is the head)."""
    if cm.run_id is None:
        raise CMError(
            "this connection has no run id; open the runbook's connection with cmkit.runbooks.start()"
        )
    changed = cm.history(run_id=cm.run_id)
    if changed.empty:
        print(f"run {cm.run_id}: nothing changed (no audit entries)")
    else:
        counts = changed.groupby("action", sort=False).size()
        listed = ", ".join(f"{n} {action}" for action, n in counts.items())
        print(f"run {cm.run_id}: {len(changed)} audit entries ({listed})")
    head = cm.audit_head()
    print(
        f"audit chain head: {head}\n(check later that the past still holds it: cmkit verify --anchor {head})"
    )
    changed.attrs["audit_head"] = head
    return changed


def record_text(record: str | Path) -> list[str]:
    """The lines of text a record (an executed runbook) shows in its cells' outputs."""
    lines: list[str] = []
    for cell in json.loads(Path(record).read_text(encoding="utf-8"))["cells"]:
        for out in cell.get("outputs", []):
            text = "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
            lines += text.splitlines()
    return lines


def conflicts(plan: Outcome | None) -> pd.DataFrame:
    """The steps of a revert's plan that conflict (R35): changed since, or irreversible; empty without one."""
    if plan is None or "conflict" not in plan.changes.columns:
        return pd.DataFrame(columns=["audit_id", "action", "entity", "id", "change", "detail", "conflict"])
    return plan.changes[plan.changes["conflict"] != ""].reset_index(drop=True)


def read_ids(path: str | Path | None = None, ids: Iterable[Any] = ()) -> list[int]:
    """Customer ids for a runbook: `ids`, then those of the column id (or customer_id) of the CSV or XLSX
    file `path` (no file when it is empty or None), in order, without repeats.

    Refuses (ValidationError) a file without such a column, and ids that are not whole numbers, naming
    the file's row as a spreadsheet numbers it (the first data row is row 2)."""
    from cmkit.services.importing import read_table

    found: dict[int, None] = {}
    for i, value in enumerate(ids):
        found[_whole(value, "ids", f"item {i + 1}")] = None
    if path:
        table = read_table(path, "path")
        column = next((c for c in ("id", "customer_id") if c in table.columns), None)
        if column is None:
            raise ValidationError(
                "path",
                f"{Path(path).name} needs a column id (or customer_id); it has: {', '.join(table.columns)}",
            )
        for row, value in enumerate(table[column], start=2):
            if value is not None:
                found[_whole(value, "path", f"row {row}, {column}")] = None
    return list(found)


def _whole(value: Any, field: str, where: str) -> int:
    """`value` (an int, a whole float from a spreadsheet, or a text of digits) as an int."""
    if isinstance(value, bool):
        raise ValidationError(field, f"{where}: {value!r} is not a customer id")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,18}", value.strip()):
        return int(value.strip())
    raise ValidationError(field, f"{where}: {value!r} is not a customer id (a whole number)")
