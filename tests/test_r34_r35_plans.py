"""R34 (apply exactly the reviewed plan) and R35 (revert a run), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import Snapshot

import cmkit
from cmkit import CustomerManager, NotFound, Outcome, PreconditionFailed, ValidationError
from cmkit.cli import main


def _tickets(cm: CustomerManager, *ids: int) -> dict[int, tuple[int, tuple[int, ...], str]]:
    """Each ticket's main customer, additional customers and state."""
    return {i: (t.main_customer_id, t.additional_customer_ids, t.state) for i in ids for t in [cm.ticket(i)]}


def _customers(cm: CustomerManager) -> pd.DataFrame:
    """Every customer as it is, without what each change renews (version, time of the last update)."""
    frame = cm.frame("customers")
    return frame.drop(columns=[c for c in ("version", "updated_at", "deactivated_at") if c in frame.columns])


# -- R34: plans ------------------------------------------------------------------------------------------
def test_r34_dry_run_is_a_plan_with_id_fingerprint_and_the_rows_it_read(cm: CustomerManager, world) -> None:
    anna, bert = world["anna"], world["bert"]
    t1 = cm.create_ticket(anna.id, "helpdesk", "one")
    t2 = cm.create_ticket(bert.id, "helpdesk", "two", additional=[anna.id])
    plan = cm.transfer_tickets(anna.id, world["carl"].id, dry_run=True)
    assert plan.plan_id and plan.plan_id.startswith("plan-") and len(plan.fingerprint or "") == 64
    assert (plan.operation, plan.made_by) == ("transfer_tickets", "admin")
    assert plan.arguments == {"source_id": anna.id, "target_id": world["carl"].id, "only_open": True}
    assert plan.reads is not None
    seen = dict(
        zip(zip(plan.reads["entity"], plan.reads["id"], strict=True), plan.reads["seen"], strict=True)
    )
    assert seen[("ticket", t1.id)] == f"open, main #{anna.id}"
    assert seen[("ticket", t2.id)] == f"open, main #{bert.id}, additional #{anna.id}"
    assert seen[("customer", anna.id)].startswith("v1, active")
    again = cm.transfer_tickets(anna.id, world["carl"].id, dry_run=True)
    assert again.fingerprint == plan.fingerprint and again.plan_id != plan.plan_id


def test_r34_plan_applied_after_another_admin_changed_a_row_is_refused_with_that_row(
    cm: CustomerManager, world, as_user: Callable[[str], CustomerManager], refused: Callable[..., Exception]
) -> None:
    anna, bert = world["anna"], world["bert"]
    t1 = cm.create_ticket(anna.id, "helpdesk", "one")
    t2 = cm.create_ticket(anna.id, "helpdesk", "two")
    plan = cm.transfer_tickets(anna.id, bert.id, dry_run=True)
    as_user("alice").close_ticket(t2.id)  # another admin, meanwhile
    err = refused(PreconditionFailed, cm.apply, plan)
    assert isinstance(err, PreconditionFailed) and err.problems[0].startswith("R34:")
    changed = err.changed
    assert changed[["entity", "id"]].values.tolist()[0] == ["ticket", t2.id]
    row = changed.iloc[0]
    assert (row["planned"], row["now"]) == (f"open, main #{anna.id}", f"closed, main #{anna.id}")
    assert _tickets(cm, t1.id)[t1.id][0] == anna.id  # nothing applied
    check = cm.apply(plan, dry_run=True)  # the same check, without applying
    assert not check.applied and check.problems[0].startswith("R34:")
    assert check.changed is not None and check.changed["id"].tolist()[0] == t2.id


def test_r34_a_new_row_in_scope_refuses_the_plan(cm: CustomerManager, world, snapshot: Snapshot) -> None:
    anna, bert = world["anna"], world["bert"]
    cm.create_ticket(anna.id, "helpdesk", "one")
    plan = cm.deactivate_many([world["zeta"].id, world["priv"].id], dry_run=True)
    late = cm.create_ticket(world["carl"].id, "helpdesk", "opened after the plan")
    before = snapshot()
    with pytest.raises(PreconditionFailed) as info:
        cm.apply(plan)
    assert snapshot() == before
    assert ["ticket", late.id] in info.value.changed[["entity", "id"]].values.tolist()
    assert cm.customer(world["zeta"].id).active and cm.customer(bert.id).active


def test_r34_unchanged_plan_applies_exactly_its_rows(cm: CustomerManager, world) -> None:
    anna, bert, carl = world["anna"], world["bert"], world["carl"]
    t1 = cm.create_ticket(anna.id, "helpdesk", "one")
    t2 = cm.create_ticket(bert.id, "helpdesk", "two", additional=[anna.id])
    other = cm.create_ticket(carl.id, "helpdesk", "not in the plan")
    plan = cm.transfer_tickets(anna.id, bert.id, dry_run=True)
    cm.edit(carl.id, email="carl@zeta.example")  # work elsewhere meanwhile: the plan still holds
    cm.close_ticket(other.id)
    done = cm.apply(plan)
    assert done.applied and done.plan_id == plan.plan_id and done.changes["id"].tolist() == [t1.id, t2.id]
    assert _tickets(cm, t1.id, t2.id, other.id) == {
        t1.id: (bert.id, (), "open"),
        t2.id: (bert.id, (), "open"),
        other.id: (carl.id, (), "closed"),
    }
    entry = cm.history().iloc[-1]
    assert entry["action"] == "apply_plan" and entry["after"]["plan_id"] == plan.plan_id
    assert entry["after"]["fingerprint"] == plan.fingerprint


def test_r34_serialised_plan_applies_from_a_new_process(
    cm: CustomerManager, world, db_url: str, tmp_path: Path
) -> None:
    anna, zeta = world["anna"], world["zeta"]
    plan = cm.deactivate(world["acme"].id, dry_run=True)  # the company and its contacts (R19)
    path = plan.save(tmp_path / "plan.json")
    assert json.loads(path.read_text())["plan_id"] == plan.plan_id
    code = (
        "import sys, cmkit; cm = cmkit.connect(sys.argv[1]); done = cm.apply(sys.argv[2]); "
        "print(done.applied, done.plan_id)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, db_url, str(path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["True", plan.plan_id]
    assert not cm.customer(world["acme"].id).active and not cm.customer(anna.id).active
    assert cm.customer(zeta.id).active
    with pytest.raises(PreconditionFailed, match="R34: only a dry run's plan"):
        cm.apply(cm.deactivate(zeta.id))  # an applied Outcome is no plan


def test_r34_a_plan_file_edited_after_review_is_refused(
    cm: CustomerManager, world, tmp_path: Path, snapshot: Snapshot
) -> None:
    plan = cm.deactivate(world["priv"].id, dry_run=True)
    data = plan.to_dict()
    data["arguments"]["id"] = world["zeta"].id  # not what was reviewed
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    before = snapshot()
    with pytest.raises(PreconditionFailed, match="does not match its fingerprint"):
        cm.apply(path)
    assert snapshot() == before
    with pytest.raises(ValidationError, match="plan"):
        cm.apply(tmp_path / "missing.json")


def test_r34_a_plan_with_problems_cannot_be_applied(cm: CustomerManager, world) -> None:
    cm.create_ticket(world["anna"].id, "helpdesk", "open")
    plan = cm.deactivate(world["anna"].id, dry_run=True)
    assert plan.problems and plan.plan_id
    with pytest.raises(PreconditionFailed, match="R34: plan .* was refused when it was made"):
        cm.apply(plan)


def _moves(world: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({"contact_id": [world["anna"].id], "company_id": [world["zeta"].id]})


OPERATIONS: dict[str, tuple[Callable[..., Outcome], Callable[..., Any], Callable[..., bool]]] = {
    # name: (make the plan, change one of its rows meanwhile, the plan's effect is there)
    "deactivate": (
        lambda cm, w: cm.deactivate(w["acme"].id, dry_run=True),
        lambda cm, w: cm.edit(w["bert"].id, email="b@acme.example"),
        lambda cm, w: not cm.customer(w["bert"].id).active,
    ),
    "reactivate": (
        lambda cm, w: (cm.deactivate(w["priv"].id), cm.reactivate(w["priv"].id, dry_run=True))[1],
        lambda cm, w: cm.edit(w["priv"].id, first_name="P."),
        lambda cm, w: cm.customer(w["priv"].id).active,
    ),
    "delete": (
        lambda cm, w: cm.delete(w["priv"].id, dry_run=True),
        lambda cm, w: cm.edit(w["priv"].id, first_name="P."),
        lambda cm, w: cm.frame("customers").query(f"id == {w['priv'].id}").empty,
    ),
    "merge": (
        lambda cm, w: cm.merge(w["anna"].id, [w["bert"].id], dry_run=True),
        lambda cm, w: cm.add_comment(w["bert"].id, "written after the plan"),
        lambda cm, w: cm.frame("customers").query(f"id == {w['bert'].id}").empty,
    ),
    "anonymise": (
        lambda cm, w: cm.anonymise(w["priv"].id, dry_run=True),
        lambda cm, w: cm.edit(w["priv"].id, email="new@example.org"),
        lambda cm, w: cm.customer(w["priv"].id).name == "anonymised",
    ),
    "deactivate_many": (
        lambda cm, w: cm.deactivate_many([w["zeta"].id, w["priv"].id], dry_run=True),
        lambda cm, w: cm.change_company(w["anna"].id, w["zeta"].id),
        lambda cm, w: not cm.customer(w["zeta"].id).active and not cm.customer(w["priv"].id).active,
    ),
    "move_contacts": (
        lambda cm, w: cm.move_contacts(_moves(w), dry_run=True),
        lambda cm, w: cm.deactivate(w["zeta"].id),
        lambda cm, w: cm.customer(w["anna"].id).company_id == w["zeta"].id,
    ),
    "import_customers": (
        lambda cm, w: cm.import_customers(
            pd.DataFrame({"last_name": ["Neu"], "company": [str(w["zeta"].id)]}), "retail", dry_run=True
        ),
        lambda cm, w: cm.deactivate(w["zeta"].id),
        lambda cm, w: "Neu" in set(cm.frame("customers")["name"]),
    ),
}


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_r34_every_operation_applies_its_plan_or_nothing(
    cm: CustomerManager, world, name: str, tmp_path: Path, snapshot: Snapshot
) -> None:
    make, meanwhile, effect = OPERATIONS[name]
    plan = make(cm, world)
    assert plan.operation == name and plan.allowed, plan.problems
    kept = Outcome.load(plan.save(tmp_path / "plan.json"))  # reviewed from a file
    assert kept.fingerprint == plan.fingerprint
    meanwhile(cm, world)
    before = snapshot()
    with pytest.raises(PreconditionFailed) as info:
        cm.apply(kept)
    assert snapshot() == before and len(info.value.changed) and not effect(cm, world)
    fresh = make(cm, world) if name != "reactivate" else cm.reactivate(world["priv"].id, dry_run=True)
    if fresh.allowed:
        done = cm.apply(Outcome.load(fresh.save(tmp_path / "fresh.json")))
        assert done.applied and effect(cm, world)


# -- R35: revert ----------------------------------------------------------------------------------------
@pytest.fixture
def merged_run(cm: CustomerManager, world, db_url: str) -> dict[str, Any]:
    """A merge-duplicates run (run id "merge-run") merging duplicate company "Acme" into "Acme GmbH": the
    duplicate is named by a ticket, has a comment and a contact, and fills the survivor's empty phone."""
    acme = world["acme"]
    dup = cm.create_company("retail", name="Acme", city="Köln", phone="+49 221 1234")
    dora = cm.create_contact("retail", company=dup.id, first_name="Dora", last_name="Dupont")
    anna, bert = world["anna"], world["bert"]
    t_dup = cm.create_ticket(anna.id, "helpdesk", "names the duplicate", additional=[dup.id])
    t_both = cm.create_ticket(bert.id, "helpdesk", "names both", additional=[dup.id, acme.id])
    t_dora = cm.create_ticket(dora.id, "helpdesk", "Dora's own")
    cm.create_ticket(anna.id, "helpdesk", "the survivor has more tickets", additional=[acme.id])
    cm.create_ticket(bert.id, "helpdesk", "and more", additional=[acme.id])
    note = cm.add_comment(dup.id, "call in the morning")
    before = _tickets(cm, t_dup.id, t_both.id, t_dora.id)
    run = cmkit.connect(db_url, run_id="merge-run")
    done = run.merge_duplicates(group="retail")
    assert done.merged, done.clusters
    assert cm.customer(acme.id).fields["phone"] == "+49 221 1234" and not cm.customer(dup.id).active
    return {
        "acme": acme,
        "dup": dup,
        "dora": dora,
        "tickets": before,
        "t_dup": t_dup,
        "comment": note,
    }


def test_r35_merge_duplicates_run_reverted_tickets_back_and_a_later_edit_is_a_conflict(
    cm: CustomerManager, merged_run: dict[str, Any], snapshot: Snapshot
) -> None:
    acme, dup, dora = merged_run["acme"], merged_run["dup"], merged_run["dora"]
    cm.edit(acme.id, phone="+49 221 9999")  # later work overwrites what the merge filled in
    plan = cm.revert(run_id="merge-run", dry_run=True)
    assert not plan.applied and plan.plan_id and plan.operation == "revert"
    conflict = plan.changes[plan.changes["conflict"] != ""]
    assert conflict[["entity", "id"]].values.tolist() == [["customer", acme.id]]
    assert "phone = '+49 221 9999'" in conflict["conflict"].iloc[0] and len(plan.problems) == 1
    before = snapshot()
    with pytest.raises(PreconditionFailed, match="R35"):
        cm.revert(run_id="merge-run")  # a conflict refuses the whole revert
    assert snapshot() == before
    done = cm.revert(run_id="merge-run", skip_conflicts=True)
    assert done.applied and done.run_id and done.run_id != "merge-run"
    assert _tickets(cm, *merged_run["tickets"]) == merged_run["tickets"]
    assert cm.customer(dup.id).active and cm.customer(dora.id).company_id == dup.id
    assert cm.comments(dup.id)["id"].tolist() == [merged_run["comment"]]
    assert cm.customer(acme.id).fields["phone"] == "+49 221 9999"  # the later edit stays
    proto = cm.protocol(merged_run["t_dup"].id)
    moves = proto[proto["action"].isin(["merged", "reverted"])]
    assert moves[["action", "old_customer_id", "new_customer_id"]].values.tolist() == [
        ["merged", dup.id, acme.id],
        ["reverted", acme.id, dup.id],
    ]
    assert moves["run_id"].tolist() == ["merge-run", done.run_id]
    assert cm.check_invariants().empty


def test_r35_a_revert_of_a_revert_restores_the_runs_result(
    cm: CustomerManager, merged_run: dict[str, Any]
) -> None:
    acme, dup = merged_run["acme"], merged_run["dup"]
    after_run = cm.frame("ticket_customers").sort_values(["ticket_id", "customer_id"]).values.tolist()
    customers_after = _customers(cm)
    first = cm.revert(run_id="merge-run")
    assert cm.customer(dup.id).active and cm.customer(acme.id).fields.get("phone") is None
    second = cm.revert(run_id=first.run_id)
    assert second.applied and not (second.changes["conflict"] != "").any()
    assert cm.frame("ticket_customers").sort_values(["ticket_id", "customer_id"]).values.tolist() == after_run
    pd.testing.assert_frame_equal(_customers(cm), customers_after)
    assert cm.comments(acme.id)["id"].tolist() == [merged_run["comment"]]


def test_r35_a_merged_contact_was_deleted_irreversibly_listed_as_a_conflict(
    cm: CustomerManager, world, db_url: str
) -> None:
    anna, bert = world["anna"], world["bert"]
    t = cm.create_ticket(bert.id, "helpdesk", "Bert's")
    run = cmkit.connect(db_url, run_id="contact-merge")
    run.merge(anna.id, [bert.id])
    plan = cm.revert(run_id="contact-merge", dry_run=True)
    conflicts = plan.changes[plan.changes["conflict"] != ""]
    assert conflicts["conflict"].str.startswith("R24:").all() and len(conflicts) == 1
    with pytest.raises(PreconditionFailed, match="R24"):
        cm.revert(run_id="contact-merge")
    cm.revert(run_id="contact-merge", skip_conflicts=True)
    assert cm.ticket(t.id).main_customer_id == anna.id  # nowhere to go back to


def test_r35_revert_one_operation_by_its_audit_id_and_field_edits(cm: CustomerManager, world) -> None:
    anna, carl = world["anna"], world["carl"]
    cm.edit(anna.id, email="first@acme.example", tier="gold")
    cm.edit(carl.id, phone="+43 1 555")
    entry = cm.history(customer_id=anna.id).iloc[-1]
    done = cm.revert(audit_id=int(entry["id"]))
    assert done.changes["change"].tolist() == ["fields back"]
    assert cm.customer(anna.id).fields.get("email") == "anna@acme.example"
    assert cm.customer(anna.id).fields.get("tier") is None
    assert cm.customer(carl.id).fields.get("phone") == "+43 1 555"  # another operation: untouched
    with pytest.raises(NotFound, match="R35"):
        cm.revert(audit_id=999_999)
    with pytest.raises(NotFound, match="R35"):
        cm.revert(run_id="no-such-run")
    with pytest.raises(ValidationError, match="either run_id"):
        cm.revert()


def test_r35_deactivation_cascade_and_transfer_reverted_and_reverted_again(
    cm: CustomerManager, world, db_url: str
) -> None:
    acme, anna, bert, carl = world["acme"], world["anna"], world["bert"], world["carl"]
    t1 = cm.create_ticket(anna.id, "helpdesk", "one", additional=[carl.id])
    t2 = cm.create_ticket(carl.id, "helpdesk", "two", additional=[anna.id])
    before = _tickets(cm, t1.id, t2.id)
    run = cmkit.connect(db_url, run_id="cleanup")
    run.transfer_tickets(anna.id, carl.id)
    run.deactivate(acme.id)
    assert not cm.customer(bert.id).active
    done = cm.revert(run_id="cleanup")
    assert all(cm.customer(c.id).active for c in (acme, anna, bert))
    assert _tickets(cm, t1.id, t2.id) == before
    again = cm.revert(run_id=done.run_id)
    assert not cm.customer(acme.id).active and not cm.customer(anna.id).active
    assert _tickets(cm, t1.id, t2.id) == {t1.id: (carl.id, (), "open"), t2.id: (carl.id, (), "open")}
    assert not (again.changes["conflict"] != "").any()


def test_r35_cli_revert_shows_the_plan_then_applies(
    cm: CustomerManager, world, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run = cmkit.connect(db_url, run_id="cli-run")
    run.edit(world["carl"].id, email="carl@zeta.example")
    assert main(["revert", "cli-run", "--url", db_url]) == 0
    out = capsys.readouterr().out
    assert "fields back" in out and "dry run: nothing changed" in out
    assert cm.customer(world["carl"].id).fields["email"] == "carl@zeta.example"
    assert main(["revert", "cli-run", "--url", db_url, "--apply"]) == 0
    assert "reverted in run" in capsys.readouterr().out
    assert cm.customer(world["carl"].id).fields.get("email") is None
