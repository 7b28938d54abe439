"""deactivate_many (all or none) and move_contacts (R7, all or none), with dry runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers import Snapshot

from cmkit import CustomerManager, NotFound, PermissionDenied, PreconditionFailed, ValidationError


def test_r19_deactivate_many_takes_companies_contacts_along(cm: CustomerManager, world) -> None:
    acme, zeta, priv = world["acme"], world["zeta"], world["priv"]
    out = cm.deactivate_many([acme.id, priv.id, zeta.id])
    assert out.applied and out.problems == []
    expected = {acme.id, world["anna"].id, world["bert"].id, priv.id, zeta.id, world["carl"].id}
    assert set(out.changes["id"]) == expected
    assert out.changes.set_index("id").loc[world["anna"].id, "requested"] == False  # noqa: E712
    assert all(not cm.customer(i).active for i in expected)
    assert cm.customer(world["part"].id).active
    assert sorted(cm.history().query("action == 'deactivate'")["customer_id"]) == sorted(expected)
    assert cm.check_invariants().empty


def test_r18_deactivate_many_all_or_none(cm: CustomerManager, world, snapshot: Snapshot) -> None:
    t1 = cm.create_ticket(world["bert"].id, "helpdesk", "Open one")
    t2 = cm.create_ticket(world["priv"].id, "helpdesk", "Open two", additional=[])
    before = snapshot()
    with pytest.raises(PreconditionFailed) as info:
        cm.deactivate_many([world["acme"].id, world["zeta"].id, world["priv"].id])
    assert snapshot() == before
    problems = info.value.problems
    assert len(problems) == 2
    assert problems[0].startswith("R18: cannot deactivate company 'Acme GmbH'") and t1.number in problems[0]
    assert (
        problems[1].startswith("R18: cannot deactivate contact 'Petra Privat'") and t2.number in problems[1]
    )
    assert set(info.value.blocking["number"]) == {t1.number, t2.number}
    plan = cm.deactivate_many([world["acme"].id, world["zeta"].id, world["priv"].id], dry_run=True)
    assert plan.problems == problems and snapshot() == before
    blocked = plan.changes.set_index("id")["blocked_by"]
    assert blocked[world["acme"].id] == t1.number and blocked[world["bert"].id] == t1.number
    assert blocked[world["zeta"].id] == "" and blocked[world["priv"].id] == t2.number
    # the allowed ones alone go through
    assert cm.deactivate_many([world["zeta"].id]).applied


def test_deactivate_many_skips_deactivated_and_refuses_unknown(
    cm: CustomerManager, world, snapshot: Snapshot
) -> None:
    cm.deactivate(world["carl"].id)
    assert cm.deactivate_many([world["carl"].id]).changes.empty
    before = snapshot()
    with pytest.raises(NotFound, match="#999"):
        cm.deactivate_many([world["bert"].id, 999])
    with pytest.raises(PermissionDenied):
        cm.__class__(cm.engine, "alice").deactivate_many([world["bert"].id])
    assert snapshot() == before


def _moves(tmp_path: Path, rows: list[tuple[object, object]], name: str = "moves.csv") -> Path:
    path = tmp_path / name
    frame = pd.DataFrame(rows, columns=["contact_id", "company_id"])
    if name.endswith(".xlsx"):
        frame.to_excel(path, index=False)
    else:
        frame.to_csv(path, index=False, sep=";")
    return path


def test_r18_deactivate_unblocked_leaves_the_blocked_active_and_deactivates_the_rest(
    cm: CustomerManager, world, snapshot: Snapshot
) -> None:
    t1 = cm.create_ticket(world["bert"].id, "helpdesk", "Open one")
    asked = [world["acme"].id, world["zeta"].id, world["priv"].id, world["anna"].id]
    before = snapshot()
    plan = cm.deactivate_unblocked(asked, dry_run=True)
    assert snapshot() == before and plan.problems == [] and not plan.applied
    rows = plan.changes.set_index("id")
    assert rows["change"].to_dict() == {
        world["acme"].id: "blocked",  # Bert, its contact, is on an open ticket (R18)
        world["zeta"].id: "deactivate",
        world["anna"].id: "deactivate",  # asked for herself: she goes alone
        world["carl"].id: "deactivate",  # with Zeta (R19)
        world["priv"].id: "deactivate",
    }
    assert rows.loc[world["acme"].id, "blocked_by"] == t1.number
    assert bool(rows.loc[world["carl"].id, "requested"]) is False
    assert plan.blocking["number"].tolist() == [t1.number]
    done = cm.deactivate_unblocked(asked)
    assert done.applied
    assert [
        k for k in ("acme", "zeta", "anna", "bert", "carl", "priv") if cm.customer(world[k].id).active
    ] == [
        "acme",
        "bert",
    ]
    assert cm.check_invariants().empty
    assert cm.deactivate_unblocked([world["acme"].id], dry_run=True).changes["change"].tolist() == ["blocked"]


def test_r7_move_contacts_from_a_file(cm: CustomerManager, world, tmp_path: Path) -> None:
    anna, bert, zeta, acme = world["anna"], world["bert"], world["zeta"], world["acme"]
    path = _moves(tmp_path, [(anna.id, zeta.id), (bert.id, acme.id)], "moves.xlsx")
    out = cm.move_contacts(path)
    assert out.applied
    assert out.changes[["id", "from_company_id", "company_id"]].values.tolist() == [
        [anna.id, acme.id, zeta.id]
    ]
    assert cm.customer(anna.id).company_id == zeta.id and cm.customer(bert.id).company_id == acme.id
    assert cm.history(customer_id=anna.id).iloc[-1][["action", "before", "after"]].tolist() == [
        "change_company",
        {"company_id": acme.id},
        {"company_id": zeta.id},
    ]


def test_r7_move_contacts_reports_every_problem_by_row(
    cm: CustomerManager, world, tmp_path: Path, snapshot: Snapshot
) -> None:
    anna, bert, carl, zeta, part = world["anna"], world["bert"], world["carl"], world["zeta"], world["part"]
    cm.deactivate(carl.id)
    path = _moves(
        tmp_path,
        [
            (anna.id, zeta.id),
            (bert.id, part.id),
            (carl.id, world["acme"].id),
            (999, zeta.id),
            ("x", zeta.id),
            (anna.id, world["acme"].id),
        ],
    )
    before = snapshot()
    with pytest.raises(PreconditionFailed) as info:
        cm.move_contacts(path)
    assert snapshot() == before
    text = "\n".join(info.value.problems)
    assert "row 3: R3:" in text and "group 'partners'" in text  # another group's company
    assert "row 4: R7:" in text and "deactivated" in text
    assert "row 5: contact #999 does not exist" in text
    assert "row 6: contact_id and company_id must be whole numbers" in text
    assert f"row 2: contact #{anna.id} is listed more than once" in text
    assert f"row 7: contact #{anna.id} is listed more than once" in text
    dry = cm.move_contacts(path, dry_run=True)
    assert dry.problems == info.value.problems and snapshot() == before


def test_move_contacts_needs_the_columns(cm: CustomerManager, world) -> None:
    with pytest.raises(ValidationError, match="contact_id and company_id"):
        cm.move_contacts(pd.DataFrame({"contact": [1]}))
