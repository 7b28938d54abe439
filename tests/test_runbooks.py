"""The runbooks in notebooks/runbooks, executed by papermill on a small database: dry run, then apply;
the calls they open and close with (cmkit.runbooks); the parameters that reach them.

A dry run must leave every table as it was; the applied run must have done its work, tagged with its run id.
Each runbook's own test starts a kernel twice and is marked `heavy` (left out of `make test-fast`, run by
`make test`); the fast run keeps one runbook through the CLI and one that fails.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from helpers import MakeTicket, Snapshot

import cmkit
from cmkit import CMError, CustomerManager, Outcome, ValidationError
from cmkit.cli import main
from cmkit.db.engine import engine_for
from cmkit.db.schema import CustomerRow, TicketRow
from cmkit.runbooks import (
    RunResult,
    apply_record,
    check_parameter,
    finish,
    list_runbooks,
    load_plans,
    parse_value,
    plan_file,
    read_ids,
    run_runbook,
    show_plan,
    start,
)

RUNBOOKS = Path(__file__).resolve().parent.parent / "notebooks" / "runbooks"


def _injected(path: Path) -> dict[str, Any]:
    """The parameters papermill injected into the executed notebook, as the record shows them."""
    (cell,) = [
        c
        for c in json.loads(path.read_text())["cells"]
        if "injected-parameters" in c["metadata"].get("tags", [])
    ]
    return {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse("".join(cell["source"])).body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }


def _run(name: str, db_url: str, tmp_path: Path, **params: Any) -> RunResult:
    result = run_runbook(name, params, url=db_url, runs_dir=tmp_path / "runs", directory=RUNBOOKS)
    assert result.ok, f"{name} failed: {result.error}; see {result.output}"
    assert result.output.is_file() and result.output.parent == tmp_path / "runs"
    injected = _injected(result.output)
    assert injected["run_id"] == result.run_id and injected["dry_run"] is params["dry_run"]
    assert f"run {result.run_id}:" in _outputs(result.output)  # start() says it, and so does finish()
    head = re.search(r"audit chain head: ([0-9a-f]{64})", _outputs(result.output))
    assert head, "the record keeps the audit chain's head (R33)"
    assert cmkit.connect(db_url).verify_audit(anchor=head.group(1)).ok
    return result


def _dry_then_apply(name: str, db_url: str, tmp_path: Path, snapshot: Snapshot, **params: Any) -> RunResult:
    before = snapshot()
    _run(name, db_url, tmp_path, dry_run=True, **params)
    assert snapshot() == before, f"the dry run of {name} changed the database"
    return _run(name, db_url, tmp_path, dry_run=False, **params)


def _outputs(path: Path) -> str:
    """All text the executed notebook shows."""
    out = []
    for cell in json.loads(path.read_text())["cells"]:
        for o in cell.get("outputs", []):
            out.append("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")))
    return "\n".join(out)


def test_every_runbook_has_parameters_with_a_dry_run_default() -> None:
    books = {b.name: b for b in list_runbooks(RUNBOOKS)}
    assert set(books) == {
        "audit-data-quality",
        "merge-duplicates",
        "deactivate-dormant",
        "move-contacts",
        "anonymise-customers",
        "import-customers",
        "apply-plan",
        "revert-run",
    }
    for book in books.values():
        assert book.parameters["dry_run"] is True and book.parameters["url"] is None, book.name
        assert book.parameters["run_id"] is None, book.name
        cells = json.loads(book.path.read_text())[
            "cells"
        ]  # committed without outputs: test_notebooks_committed
        assert sum("parameters" in c["metadata"].get("tags", []) for c in cells) == 1


def test_runbooks_are_thin_they_open_with_start_and_close_with_finish() -> None:
    for book in list_runbooks(RUNBOOKS):
        code = [
            "".join(c["source"])
            for c in json.loads(book.path.read_text())["cells"]
            if c["cell_type"] == "code" and "parameters" not in c["metadata"].get("tags", [])
        ]
        assert (
            code[0]
            == "from cmkit import runbooks\n\ncm = runbooks.start(url, dry_run=dry_run, run_id=run_id)"
        )
        assert code[-1].endswith("runbooks.finish(cm)"), book.name
        text = "\n".join(code)
        for internal in ("cmkit.services", "cmkit.db", "import pandas", "pd.", "sqlalchemy", "CMKIT_RUN_ID"):
            assert internal not in text, f"{book.name} uses {internal}: call the library instead"


def test_parse_value() -> None:
    texts = ("true", "False", "none", "12", "0.5", "[1, 2]", "retail", "{'a': [1, None]}", "'x\"y'", "a b")
    assert [parse_value(v) for v in texts] == [
        True,
        False,
        None,
        12,
        0.5,
        [1, 2],
        "retail",
        {"a": [1, None]},
        'x"y',
        "a b",
    ]
    with pytest.raises(ValidationError, match="days: inf is not a number a runbook can take"):
        parse_value("1e999", "days")


def test_check_parameter_accepts_plain_values_nested_not_too_deep() -> None:
    value = {"ids": [1, 2.5, None, True, "x"], "more": {"deep": []}}
    assert check_parameter("p", value) == value
    deep: list[Any] = []
    for _ in range(12):
        deep = [deep]
    with pytest.raises(ValidationError, match="nest at most"):
        check_parameter("p", deep)
    with pytest.raises(ValidationError, match="finite"):
        check_parameter("days", float("nan"))
    with pytest.raises(ValidationError, match="days: cannot be handed to the notebook as a plain value"):
        check_parameter("days", 10**5000)  # too long to write out as a literal


def test_run_runbook_refuses_a_run_id_and_a_dry_run_that_is_no_bool(tmp_path: Path) -> None:
    for params, field in (({"run_id": "mine"}, "run_id"), ({"dry_run": "maybe"}, "dry_run")):
        with pytest.raises(ValidationError) as info:
            run_runbook("merge-duplicates", params, runs_dir=tmp_path / "runs", directory=RUNBOOKS)
        assert info.value.field == field
    assert not (tmp_path / "runs").exists()


def test_start_connects_with_the_run_id_and_says_where_and_whether_dry(
    cm: CustomerManager,
    world,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CMKIT_RUN_ID", raising=False)
    run = start(db_url, dry_run=False, run_id="20260301T101500Z-test-abc123")
    assert run.run_id == "20260301T101500Z-test-abc123" and run.user == "admin"
    banner = capsys.readouterr().out
    assert banner.startswith("<cmkit ") and "run 20260301T101500Z-test-abc123: APPLYING the plan" in banner
    assert "-interactive-" in str(start(db_url).run_id) and "DRY RUN" in capsys.readouterr().out
    monkeypatch.setenv("CMKIT_RUN_ID", "from-the-runner")
    assert start(db_url).run_id == "from-the-runner"
    for bad in ({"dry_run": "yes"}, {"dry_run": 1}, {"run_id": "two words"}, {"run_id": "x" * 65}):
        with pytest.raises(ValidationError) as info:
            start(db_url, **bad)  # type: ignore[arg-type]
        assert info.value.field in bad


def test_finish_shows_what_the_run_changed_by_its_run_id(
    cm: CustomerManager, world, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run = start(db_url, run_id="run-1")
    assert finish(run).empty and "run run-1: nothing changed" in capsys.readouterr().out
    run.deactivate(world["carl"].id)
    ticket = run.create_ticket(world["anna"].id, "helpdesk", "From the run")
    cm.edit(world["priv"].id, first_name="Other")  # another connection: not the run's
    changed = finish(run)
    assert changed["action"].tolist() == ["deactivate", "create_ticket"]
    assert set(changed["run_id"]) == {"run-1"}
    out = capsys.readouterr().out
    assert "run run-1: 2 audit entries (1 deactivate, 1 create_ticket)" in out
    assert f"audit chain head: {changed.attrs['audit_head']}" in out
    assert cm.verify_audit(anchor=changed.attrs["audit_head"]).ok  # test_r33: the record anchors the chain
    assert cm.protocol(ticket.id)[["action", "run_id"]].values.tolist() == [["created", "run-1"]]
    with pytest.raises(CMError, match="no run id"):
        finish(cm)


def test_show_plan_prints_counts_and_problems(capsys: pytest.CaptureFixture[str]) -> None:
    changes = pd.DataFrame({"id": [1, 2, 3], "change": ["deactivate", "deactivate", "blocked"]})
    assert show_plan(Outcome(False, changes, ["R18: cannot"]), "change") is changes
    out = capsys.readouterr().out
    assert out.startswith("the plan lists 3 record(s)\n") and "deactivate        2" in out
    assert "1 problem(s):\n - R18: cannot" in out
    show_plan(Outcome(True, changes.iloc[0:0]))
    assert capsys.readouterr().out == "applied; it lists 0 record(s)\n"


def test_read_ids_from_a_list_and_a_csv_or_xlsx_file(tmp_path: Path) -> None:
    assert read_ids("", [3, "4"]) == [3, 4] and read_ids(None) == []
    csv = tmp_path / "ids.csv"
    csv.write_text("customer_id;note\n7;a\n\n8;b\n7;again\n", encoding="utf-8")
    assert read_ids(csv, [8, 1]) == [8, 1, 7]
    xlsx = tmp_path / "ids.xlsx"
    pd.DataFrame({"id": [12, 15], "name": ["a", "b"]}).to_excel(xlsx, index=False)
    assert read_ids(str(xlsx)) == [12, 15]
    bad = tmp_path / "bad.csv"
    bad.write_text("id\n1\n1.5\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"path: row 3, id: '1.5' is not a customer id"):
        read_ids(bad)
    bad.write_text("number\n1\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="needs a column id"):
        read_ids(bad)
    with pytest.raises(ValidationError, match="ids: item 1"):
        read_ids("", [True])


@pytest.mark.heavy
def test_merge_duplicates(
    cm: CustomerManager, world, db_url: str, tmp_path: Path, snapshot: Snapshot
) -> None:
    anna = world["anna"]
    twin = cm.create_contact(
        "retail", company=world["acme"].id, first_name="Anna", last_name="Mueller", email="anna@acme.example"
    )
    t = cm.create_ticket(twin.id, "helpdesk", "From the twin")
    cm.close_ticket(
        cm.create_ticket(anna.id, "helpdesk", "Anna's").id
    )  # as many tickets: the older one survives
    result = _dry_then_apply("merge-duplicates", db_url, tmp_path, snapshot)
    assert cm.ticket(t.id).main_customer_id == anna.id
    assert cm.frame("customers").query("name.str.contains('Mueller')").empty
    log = cm.history(run_id=result.run_id)
    assert log["action"].tolist() == ["merged", "merge"]
    assert cm.protocol(t.id).iloc[-1][["action", "run_id"]].tolist() == ["merged", result.run_id]
    assert "merged 1 cluster(s)" in _outputs(result.output)


@pytest.mark.heavy
def test_audit_data_quality(
    cm: CustomerManager, world, db_url: str, tmp_path: Path, snapshot: Snapshot
) -> None:
    zeta, carl = world["zeta"], world["carl"]
    busy = cm.create_contact("retail", company=zeta.id, last_name="Busy")
    cm.create_ticket(busy.id, "helpdesk", "Still open")
    with engine_for(db_url).begin() as conn:  # a deactivated company with active contacts (R19)
        conn.execute(sa.update(CustomerRow).where(CustomerRow.id == zeta.id).values(active=False))
    result = _dry_then_apply("audit-data-quality", db_url, tmp_path, snapshot)
    assert not cm.customer(carl.id).active and cm.customer(busy.id).active
    assert cm.check_invariants()[["rule", "id"]].values.tolist() == [["R19", busy.id]]
    assert "applied; it lists 2 record(s)" in _outputs(result.output)
    assert cm.history(run_id=result.run_id)["customer_id"].tolist() == [carl.id]


@pytest.mark.heavy
def test_deactivate_dormant(
    cm: CustomerManager, world, make_ticket: MakeTicket, db_url: str, tmp_path: Path, snapshot: Snapshot
) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=800)
    closed = make_ticket(world["priv"], closed=True, subject="Long ago")
    stuck = make_ticket(world["bert"], subject="Open for ages")
    recent = make_ticket(world["carl"], subject="Recent")
    with engine_for(db_url).begin() as conn:
        conn.execute(sa.update(CustomerRow).values(created_at=old))
        conn.execute(
            sa.update(TicketRow)
            .where(TicketRow.id.in_([closed.id, stuck.id]))
            .values(created_at=old, closed_at=sa.case((TicketRow.state == "closed", old), else_=None))
        )
    result = _dry_then_apply("deactivate-dormant", db_url, tmp_path, snapshot, days=365)
    state = {
        k: cm.customer(world[k].id).active
        for k in ("acme", "anna", "bert", "zeta", "carl", "priv", "part", "pete")
    }
    # dormant: anna, priv, partners (no tickets); bert is dormant but blocked by its open ticket, so is acme;
    # zeta and carl are busy
    assert state == {
        "acme": True,
        "anna": False,
        "bert": True,
        "zeta": True,
        "carl": True,
        "priv": False,
        "part": False,
        "pete": False,
    }
    assert recent.number not in _outputs(result.output) and stuck.number in _outputs(result.output)
    assert set(cm.history(run_id=result.run_id)["customer_id"]) == {
        world[k].id for k in ("anna", "priv", "part", "pete")
    }


@pytest.mark.heavy
def test_move_contacts(cm: CustomerManager, world, db_url: str, tmp_path: Path, snapshot: Snapshot) -> None:
    path = tmp_path / "moves.csv"
    pd.DataFrame(
        {
            "contact_id": [world["anna"].id, world["carl"].id],
            "company_id": [world["zeta"].id, world["acme"].id],
        }
    ).to_csv(path, index=False)
    result = _dry_then_apply("move-contacts", db_url, tmp_path, snapshot, path=str(path))
    assert cm.customer(world["anna"].id).company_id == world["zeta"].id
    assert cm.customer(world["carl"].id).company_id == world["acme"].id
    assert len(cm.history(run_id=result.run_id)) == 2


@pytest.mark.heavy
def test_anonymise_customers(
    cm: CustomerManager, world, make_ticket: MakeTicket, db_url: str, tmp_path: Path, snapshot: Snapshot
) -> None:
    t = make_ticket(world["priv"], closed=True, subject="Keep me")
    result = _dry_then_apply("anonymise-customers", db_url, tmp_path, snapshot, ids=[world["priv"].id])
    c = cm.customer(world["priv"].id)
    assert (c.name, c.active) == ("anonymised", False)
    assert cm.ticket(t.id).main_customer_id == c.id
    assert cm.history(run_id=result.run_id)["action"].tolist()[-1] == "anonymise"


@pytest.mark.heavy
def test_import_customers(
    cm: CustomerManager, world, db_url: str, tmp_path: Path, snapshot: Snapshot
) -> None:
    path = tmp_path / "new.csv"
    path.write_text("first_name;last_name;email\nNina;Neu;nina@example.org\nOtto;Ohm;\n", encoding="utf-8")
    result = _dry_then_apply("import-customers", db_url, tmp_path, snapshot, path=str(path), group="private")
    names = set(cm.frame("customers", group="private")["name"])
    assert {"Nina Neu", "Otto Ohm"} <= names
    assert cm.history(run_id=result.run_id)["action"].tolist() == ["create", "create", "import_customers"]


def test_a_failing_runbook_is_reported_and_changes_nothing(
    cm: CustomerManager, world, db_url: str, tmp_path: Path, snapshot: Snapshot
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("last_name,email\nGood,good@example.org\n,bad\n", encoding="utf-8")
    before = snapshot()
    result = run_runbook(
        "import-customers",
        {"path": str(path), "dry_run": False},
        url=db_url,
        runs_dir=tmp_path / "runs",
        directory=RUNBOOKS,
    )
    assert not result.ok and result.error and result.error.startswith("PreconditionFailed")
    assert "row 3, last_name" in result.error and result.output.is_file()
    assert snapshot() == before


def test_cli_runbook_run_dry_run_then_apply(
    cm: CustomerManager,
    world,
    db_url: str,
    tmp_path: Path,
    snapshot: Snapshot,
    capsys: pytest.CaptureFixture[str],
) -> None:
    twin = cm.create_contact("private", first_name="Petra", last_name="Privat", email="petra@example.org")
    args = [
        "runbook",
        "run",
        "merge-duplicates",
        "--url",
        db_url,
        "--runs",
        str(tmp_path / "runs"),
        "--dir",
        str(RUNBOOKS),
        "--quiet",
    ]
    before = snapshot()
    assert main([*args, "-p", "dry_run", "true"]) == 0
    assert snapshot() == before
    record = sorted((tmp_path / "runs").glob("*-merge-duplicates-*.ipynb"))
    assert len(record) == 1 and "Petra Privat" in _outputs(record[0])
    assert main([*args, "-p", "dry_run", "false", "-p", "group", "private"]) == 0
    run_id = capsys.readouterr().out.strip().splitlines()[-1].split("'")[1]
    merged = cm.history(run_id=run_id)
    assert merged.query("action == 'merged'")["customer_id"].tolist() == [twin.id]
    assert main([*args, "-p", "no_such_parameter", "1"]) == 2
    assert main([*args, "-p", "min_score", "'high'"]) == 1  # fails inside the notebook: exit code 1
    assert "failed" in capsys.readouterr().err


def test_cli_runbook_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbook", "list", "--dir", str(RUNBOOKS)]) == 0
    out = capsys.readouterr().out
    assert "merge-duplicates" in out and "Merge duplicates" in out and "dry_run=True" in out
    assert "run_id" not in out  # the runner sets it


# -- hostile parameters: papermill writes parameter values into the notebook as code -----------------------

#: The security probe's payload: a tuple, which papermill used to write into the code unquoted.
COMMAND = 'x"+str(__import__("os").system("id > pwned.txt"))+"'
HOSTILE = {
    "tuple": f"({COMMAND!r},)",
    "set": f"{{{COMMAND!r}}}",
    "bytes": f"b{COMMAND!r}",
    "tuple_in_a_list": f"[({COMMAND!r},)]",
    "tuple_as_a_dict_value": f"{{'a': ({COMMAND!r},)}}",
    "tuple_as_a_dict_key": f"{{({COMMAND!r},): 1}}",
}


def _cli_run(tmp_path: Path, *params: str) -> int:
    return main(
        [
            "runbook",
            "run",
            "deactivate-dormant",
            "--url",
            f"sqlite:///{tmp_path / 'none.db'}",
            "--runs",
            str(tmp_path / "runs"),
            "--dir",
            str(RUNBOOKS),
            "--quiet",
            *params,
        ]
    )


def test_hostile_runbook_parameters_payload_is_the_probes() -> None:
    assert HOSTILE["tuple"] == '(\'x"+str(__import__("os").system("id > pwned.txt"))+"\',)'


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_runbook_parameters_from_the_command_line_are_refused_and_run_nothing(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code = _cli_run(tmp_path, "-p", "group", HOSTILE[kind])
    assert not (tmp_path / "pwned.txt").exists(), "the parameter ran as code"
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("cmkit: group: ") and "cannot be a runbook parameter" in err
    assert not list(tmp_path.glob("runs/*.ipynb")), "nothing may run"


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_runbook_parameters_are_refused_by_parse_value(kind: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_value(HOSTILE[kind], "group")
    assert info.value.field == "group"


class _FormatsAsCode(int):
    """An int that papermill would write out through its __format__."""

    def __format__(self, spec: str) -> str:
        return '__import__("os").system("id > pwned.txt")'


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("group", (COMMAND,)),
        ("group", {COMMAND}),
        ("group", COMMAND.encode()),
        ("group", [(COMMAND,)]),
        ("group", {(COMMAND,): 1}),
        ("days", _FormatsAsCode(5)),
        ("days", float("inf")),
    ],
    ids=["tuple", "set", "bytes", "tuple_in_a_list", "tuple_as_a_dict_key", "int_subclass", "infinity"],
)
def test_hostile_runbook_parameters_from_python_are_refused_and_run_nothing(
    name: str, value: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    error = None
    try:
        run_runbook(
            "deactivate-dormant",
            {name: value},
            url=f"sqlite:///{tmp_path / 'none.db'}",
            runs_dir=tmp_path / "runs",
            directory=RUNBOOKS,
        )
    except ValidationError as exc:
        error = exc
    assert not (tmp_path / "pwned.txt").exists(), "the parameter ran as code"
    assert error is not None and error.field == name, "the value must be refused, naming the parameter"
    assert not list(tmp_path.glob("runs/*.ipynb")), "nothing may run"


def test_hostile_runbook_parameters_as_text_reach_the_notebook_verbatim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _cli_run(tmp_path, "-p", "group", COMMAND) == 1  # fails inside: no database there
    assert not (tmp_path / "pwned.txt").exists()
    (record,) = tmp_path.glob("runs/*.ipynb")
    (cell,) = [
        c
        for c in json.loads(record.read_text())["cells"]
        if "injected-parameters" in c["metadata"].get("tags", [])
    ]
    values = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse("".join(cell["source"])).body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    assert values["group"] == COMMAND


def _record_head(path: Path) -> str:
    cell = json.loads(path.read_text())["cells"][0]
    assert "record" in cell["metadata"].get("tags", [])
    return "".join(cell["source"])


def test_r34_runbook_plan_only_keeps_the_plan_and_apply_record_applies_exactly_it(
    cm: CustomerManager,
    world,
    db_url: str,
    tmp_path: Path,
    snapshot: Snapshot,
    capsys: pytest.CaptureFixture[str],
) -> None:
    twin = cm.create_contact("private", first_name="Petra", last_name="Privat", email="petra@example.org")
    t = cm.create_ticket(twin.id, "helpdesk", "From the twin")
    runs = tmp_path / "runs"
    common = ["--url", db_url, "--dir", str(RUNBOOKS), "--quiet"]
    plan_only = [
        "runbook",
        "run",
        "merge-duplicates",
        "-p",
        "group",
        "private",
        "--plan-only",
        "--runs",
        str(runs),
    ]
    before = snapshot()
    assert main([*plan_only, *common]) == 0
    assert snapshot() == before
    (record,) = sorted(runs.glob("*-merge-duplicates-*.ipynb"))
    kept = record.with_name(record.name.replace(".ipynb", ".plan.json"))
    plans = json.loads(kept.read_text())["plans"]
    assert len(plans) == 1 and plans[0]["operation"] == "merge"
    head = _record_head(record)
    assert record.stem in head and "| group | `'private'` |" in head and plans[0]["plan_id"] in head
    # another admin writes on the duplicate meanwhile: the kept plan no longer holds and applies nothing
    priv = world["priv"]  # the duplicate: the twin has more tickets and survives
    note = cm.add_comment(priv.id, "written after the review")
    before = snapshot()
    assert main(["runbook", "apply", str(record), *common]) == 1
    assert snapshot()["customers"] == before["customers"]
    assert "R34" in capsys.readouterr().err
    assert main([*plan_only, *common]) == 0  # a new plan, reviewed: it moves the comment too
    second = max(runs.glob("*-merge-duplicates-*.ipynb"))
    plan_id = json.loads(plan_file(second).read_text())["plans"][0]["plan_id"]
    assert main(["runbook", "apply", str(second), *common]) == 0
    applied = max(runs.glob("*-apply-plan-*.ipynb"))
    assert second.name in _record_head(applied) and plan_id in _outputs(applied)
    assert cm.ticket(t.id).main_customer_id == twin.id and cm.comments(twin.id)["id"].tolist() == [note]
    log = cm.history(run_id=applied.stem)
    assert log["action"].tolist() == ["merged", "merge", "apply_plan"]
    assert log.iloc[-1]["after"]["plan_id"] == plan_id


def test_r35_revert_run_runbook_shows_the_plan_and_conflicts_then_applies_it(
    cm: CustomerManager, world, db_url: str, tmp_path: Path, snapshot: Snapshot
) -> None:
    anna, carl = world["anna"], world["carl"]
    t = cm.create_ticket(anna.id, "helpdesk", "moved by the run")
    run = cmkit.connect(db_url, run_id="run-to-revert")
    run.transfer_tickets(anna.id, carl.id)
    run.edit(carl.id, email="carl@zeta.example")
    cm.edit(carl.id, email="later@zeta.example")  # later work: a conflict
    before = snapshot()
    result = run_runbook(
        "revert-run",
        {"revert_run": "run-to-revert"},
        url=db_url,
        runs_dir=tmp_path / "runs",
        directory=RUNBOOKS,
        plan_only=True,
    )
    assert result.ok, result.error
    assert snapshot() == before and result.plan is not None
    text = _outputs(result.output)
    assert "1 conflict(s)" in text and "later@zeta.example" in text and "main customer back to" in text
    assert "run-to-revert" in _record_head(result.output)
    [plan] = load_plans(result.plan)
    assert plan.operation == "revert" and len(plan.problems) == 1
    refused = apply_record(result.output, url=db_url, directory=RUNBOOKS)
    assert refused.ok and "R35" in _outputs(refused.output)  # the conflict refuses the kept plan
    assert cm.ticket(t.id).main_customer_id == carl.id
    skipping = run_runbook(
        "revert-run",
        {"revert_run": "run-to-revert", "skip_conflicts": True},
        url=db_url,
        runs_dir=tmp_path / "runs",
        directory=RUNBOOKS,
        plan_only=True,
    )
    done = apply_record(skipping.output, url=db_url, directory=RUNBOOKS)
    assert done.ok and "applied" in _outputs(done.output)
    assert cm.ticket(t.id).main_customer_id == anna.id
    assert cm.customer(carl.id).fields["email"] == "later@zeta.example"
    assert cm.protocol(t.id)["action"].tolist()[-2:] == ["transferred", "reverted"]
