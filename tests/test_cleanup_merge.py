"""merge: any number of duplicates into one survivor, in one transaction, with one trail of protocol and audit."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import MakeTicket, Snapshot

from cmkit import CustomerManager, NotFound, PermissionDenied, PreconditionFailed, ValidationError
from cmkit.services import transfer


@pytest.fixture
def dups(cm: CustomerManager, world, make_ticket: MakeTicket) -> dict[str, Any]:
    """Anna Müller (survivor) and three records of her: two share a ticket, one has comments and an attachment."""
    acme = world["acme"]
    anna = world["anna"]
    d1 = cm.create_contact(
        "retail", company=acme.id, first_name="Anna", last_name="Mueller", phone="+49 221 555"
    )
    d2 = cm.create_contact(
        "retail",
        company=world["zeta"].id,
        first_name="Ana",
        last_name="Müller",
        tier="gold",
        email="other@acme.example",
    )
    d3 = cm.create_contact("retail", company=acme.id, last_name="Müller", birthday="1980-02-03")
    shared = make_ticket(d1, d2, subject="Shared ticket")
    own = make_ticket(anna, d3, subject="Anna's own")
    closed = make_ticket(d2, closed=True, queue="billing", subject="Old invoice")
    back = make_ticket(world["bert"], d3, subject="Bert asks")
    comment = cm.add_comment(d2.id, "Prefers e-mail")
    attachment = cm.add_attachments(d3.id, {"contract.txt": b"signed"})[0]
    return {
        "anna": anna,
        "bert": world["bert"],
        "d1": d1,
        "d2": d2,
        "d3": d3,
        "shared": shared,
        "own": own,
        "closed": closed,
        "back": back,
        "comment": comment,
        "attachment": attachment,
    }


def _customers_of(cm: CustomerManager, ticket_id: int) -> tuple[int, tuple[int, ...]]:
    t = cm.ticket(ticket_id)
    return t.main_customer_id, t.additional_customer_ids


def test_merge_three_duplicates_two_sharing_a_ticket(cm: CustomerManager, dups) -> None:
    anna, d1, d2, d3 = dups["anna"], dups["d1"], dups["d2"], dups["d3"]
    out = cm.merge(anna.id, [d1.id, d2.id, d3.id])
    assert out.applied and out.problems == []
    # tickets of every state and both roles are the survivor's; the shared ticket names her once
    assert _customers_of(cm, dups["shared"].id) == (anna.id, ())
    assert _customers_of(cm, dups["own"].id) == (anna.id, ())
    assert _customers_of(cm, dups["closed"].id) == (anna.id, ())
    assert _customers_of(cm, dups["back"].id) == (dups["bert"].id, (anna.id,))
    assert set(cm.tickets(anna.id)["id"]) == {dups[k].id for k in ("shared", "own", "closed", "back")}
    # comments and attachments moved
    assert list(cm.comments(anna.id)["id"]) == [dups["comment"]]
    assert list(cm.attachments(anna.id)["id"]) == [dups["attachment"]]
    assert cm.attachment_data(dups["attachment"]) == b"signed"
    # empty fields filled from the duplicates, the first duplicate first; her own values kept
    fields = dict(cm.customer(anna.id).fields)
    assert fields == {
        "first_name": "Anna",
        "last_name": "Müller",
        "email": "anna@acme.example",
        "phone": "+49 221 555",
        "tier": "gold",
        "birthday": "1980-02-03",
    }
    # the duplicate contacts are gone
    for d in (d1, d2, d3):
        with pytest.raises(NotFound):
            cm.customer(d.id)
    assert cm.check_invariants().empty


def test_merge_protocol_says_merged_with_old_and_new_names(cm: CustomerManager, dups) -> None:
    anna, d1, d2 = dups["anna"], dups["d1"], dups["d2"]
    cm.merge(anna.id, [d1.id, d2.id, dups["d3"].id])
    merged = cm.protocol(dups["shared"].id).query("action == 'merged'")
    assert [
        (r.role, r.old_customer_id, r.old_customer_name, r.new_customer_id, r.new_customer_name)
        for r in merged.itertuples()
    ] == [
        ("main", d1.id, "Anna Mueller", anna.id, "Anna Müller"),
        ("additional", d2.id, "Ana Müller", anna.id, "Anna Müller"),
    ]
    assert cm.protocol(dups["closed"].id)["action"].tolist()[-1] == "merged"


def test_merge_audit_names_survivor_duplicates_and_fields(cm: CustomerManager, dups) -> None:
    anna, ids = dups["anna"], [dups["d1"].id, dups["d2"].id, dups["d3"].id]
    start = len(cm.history())
    cm.merge(anna.id, ids)
    log = cm.history().iloc[start:]
    merge = log[log["action"] == "merge"].iloc[0]
    assert merge["customer_id"] == anna.id
    assert merge["after"]["duplicates"] == [
        {"id": ids[0], "name": "Anna Mueller"},
        {"id": ids[1], "name": "Ana Müller"},
        {"id": ids[2], "name": "Müller"},
    ]
    assert merge["after"]["fields"] == {"phone": "+49 221 555", "tier": "gold", "birthday": "1980-02-03"}
    assert (merge["after"]["tickets"], merge["after"]["comments"], merge["after"]["attachments"]) == (4, 1, 1)
    per_dup = log[log["action"] == "merged"]
    assert per_dup["customer_id"].tolist() == ids
    assert all(a == {"merged_into": anna.id, "then": "deleted"} for a in per_dup["after"])
    assert per_dup.iloc[1]["before"]["fields"] == {
        "first_name": "Ana",
        "last_name": "Müller",
        "tier": "gold",
        "email": "other@acme.example",
    }


def test_merge_dry_run_returns_the_plan_and_changes_nothing(
    cm: CustomerManager, dups, snapshot: Snapshot
) -> None:
    before = snapshot()
    out = cm.merge(dups["anna"].id, [dups["d1"].id, dups["d2"].id, dups["d3"].id], dry_run=True)
    assert snapshot() == before
    assert not out.applied and out.problems == []
    plan = out.changes
    tickets = plan[plan["entity"] == "ticket"]
    shared = tickets[tickets["id"] == dups["shared"].id]
    assert shared["change"].tolist() == [
        "main customer replaced",
        "additional customer dropped (survivor already on it)",
    ]
    assert sorted(plan.loc[plan["change"] == "delete", "id"]) == sorted(
        d.id for d in (dups["d1"], dups["d2"], dups["d3"])
    )
    assert plan.loc[plan["entity"] == "comment", "id"].tolist() == [dups["comment"]]
    assert plan.loc[plan["entity"] == "attachment", "id"].tolist() == [dups["attachment"]]
    assert "tier = 'gold'" in plan.loc[plan["change"] == "fill fields", "detail"].iloc[0]


def test_merge_refused_part_way_leaves_nothing_changed(
    cm: CustomerManager, dups, world, snapshot: Snapshot
) -> None:
    """The third duplicate is of another group: the first two are not merged either (R30)."""
    before = snapshot()
    with pytest.raises(PreconditionFailed) as info:
        cm.merge(dups["anna"].id, [dups["d1"].id, dups["d2"].id, world["priv"].id])
    assert snapshot() == before
    assert len(info.value.problems) == 1 and info.value.problems[0].startswith("R1:")
    assert "private" in info.value.problems[0]


def test_merge_failing_while_applying_rolls_everything_back(
    cm: CustomerManager, dups, snapshot: Snapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the duplicates' tickets moved (before their comments and records) undoes the moves
    too: one transaction."""
    real = transfer.move_tickets
    moved: list[Any] = []

    def flaky(work: Any, sources: Any, dst: Any, states: Any, **kw: Any) -> Any:
        moved.append(real(work, sources, dst, states, **kw))
        raise RuntimeError("disk full")

    monkeypatch.setattr(transfer, "move_tickets", flaky)
    before = snapshot()
    with pytest.raises(RuntimeError):
        cm.merge(dups["anna"].id, [dups["d1"].id, dups["d2"].id, dups["d3"].id])
    assert sorted(moved[0]) == sorted([dups["d1"].id, dups["d2"].id, dups["d3"].id])
    assert snapshot() == before


def test_r17_merge_refused_into_deactivated_survivor(cm: CustomerManager, world, snapshot: Snapshot) -> None:
    carl = world["carl"]
    twin = cm.create_contact("retail", company=world["zeta"].id, first_name="Carl", last_name="Zander")
    cm.deactivate(carl.id)
    before = snapshot()
    with pytest.raises(PreconditionFailed, match="R17: survivor"):
        cm.merge(carl.id, [twin.id])
    assert snapshot() == before
    assert cm.merge(carl.id, [twin.id], dry_run=True).problems[0].startswith("R17")


def test_merge_refuses_the_survivor_among_the_duplicates_and_an_empty_list(
    cm: CustomerManager, world
) -> None:
    with pytest.raises(PreconditionFailed, match="R1: .* is the survivor"):
        cm.merge(world["anna"].id, [world["anna"].id])
    with pytest.raises(ValidationError, match="duplicate_ids"):
        cm.merge(world["anna"].id, [])
    with pytest.raises(PreconditionFailed, match="R1"):
        cm.merge(world["acme"].id, [world["anna"].id])  # a contact is not a duplicate of a company


def test_merge_of_deactivated_duplicate_with_closed_tickets(
    cm: CustomerManager, world, make_ticket: MakeTicket
) -> None:
    anna = world["anna"]
    old = cm.create_contact("retail", company=world["acme"].id, first_name="Anna", last_name="Müller")
    t = make_ticket(old, closed=True, subject="Long ago")
    cm.deactivate(old.id)
    cm.merge(anna.id, [old.id])
    assert cm.ticket(t.id).main_customer_id == anna.id
    with pytest.raises(NotFound):
        cm.customer(old.id)


def test_merge_companies_moves_contacts_and_deactivates_the_duplicate(cm: CustomerManager, world) -> None:
    acme = world["acme"]
    twin = cm.create_company("retail", name="ACME GmbH", street="Hauptstraße 1", phone="+49 221 1")
    dana = cm.create_contact("retail", company=twin.id, first_name="Dana", last_name="Dorn")
    gone = cm.create_contact("retail", company=twin.id, first_name="Olaf", last_name="Old")
    cm.deactivate(gone.id)
    cm.add_comment(twin.id, "Main office")
    out = cm.merge(acme.id, [twin.id])
    assert out.changes.query("change == 'change company'")["id"].tolist() == [dana.id]
    assert cm.customer(dana.id).company_id == acme.id
    assert cm.customer(gone.id).company_id == twin.id  # a deactivated contact does not move (R20)
    assert not cm.customer(twin.id).active
    assert cm.customer(acme.id).fields["phone"] == "+49 221 1"
    assert cm.comments(acme.id)["text"].tolist() == ["Main office"]
    assert cm.history(customer_id=dana.id)["action"].tolist()[-1] == "change_company"
    assert cm.check_invariants().empty


def test_merge_partner_companies_hands_over_company_tickets(cm: CustomerManager, world) -> None:
    part = world["part"]
    twin = cm.create_company("partners", name="Partner S.E.")
    t = cm.create_ticket(twin.id, "partnerdesk", "For the company")
    cm.merge(part.id, [twin.id])
    assert cm.ticket(t.id).main_customer_id == part.id


def test_r25_merge_needs_transfer_and_delete_permissions(as_user, world, dups, snapshot: Snapshot) -> None:
    before = snapshot()
    with pytest.raises(PermissionDenied, match="transfer"):
        as_user("alice").merge(dups["anna"].id, [dups["d1"].id])
    assert snapshot() == before
    assert as_user("lena").merge(dups["anna"].id, [dups["d1"].id]).applied


@pytest.fixture
def clusters(cm: CustomerManager, world) -> dict[str, Any]:
    """Two clusters of duplicates: Anna Müller twice in retail, Petra Privat twice in private."""
    anna_twin = cm.create_contact(
        "retail", company=world["acme"].id, first_name="Anna", last_name="Mueller", email="anna@acme.example"
    )
    cm.create_ticket(world["anna"].id, "helpdesk", "Anna's")  # more tickets: Anna survives
    petra_twin = cm.create_contact(
        "private", first_name="Petra", last_name="Privat", email="petra@example.org"
    )
    ticket = cm.create_ticket(petra_twin.id, "helpdesk", "Petra's twin's")
    return {**world, "anna_twin": anna_twin, "petra_twin": petra_twin, "ticket": ticket}


def test_merge_duplicates_merges_each_cluster_it_may_and_says_why_not_for_the_rest(
    as_user, cm: CustomerManager, clusters: dict[str, Any], snapshot: Snapshot
) -> None:
    lena = as_user("lena")  # may transfer and delete in retail only
    before = snapshot()
    plan = lena.merge_duplicates(dry_run=True)
    assert snapshot() == before and not plan.applied
    status = plan.clusters.set_index("survivor_id")["status"]
    anna_cluster = int(plan.clusters.set_index("survivor_id").loc[clusters["anna"].id, "id"])
    assert status[clusters["anna"].id] == "ok"
    assert status[clusters["petra_twin"].id].startswith("R25: user 'lena' lacks the 'transfer' permission")
    assert plan.merged == [anna_cluster] and len(plan.problems) == 1
    assert set(plan.changes["cluster"]) == {anna_cluster}
    assert ("customer", clusters["anna_twin"].id) in set(
        zip(plan.changes["entity"], plan.changes["id"], strict=True)
    )
    done = lena.merge_duplicates()
    assert done.applied and done.merged == [anna_cluster]
    assert done.clusters.set_index("survivor_id")["status"][clusters["anna"].id] == "merged"
    assert cm.frame("customers").query("name == 'Anna Mueller'").empty
    assert cm.ticket(clusters["ticket"].id).main_customer_id == clusters["petra_twin"].id  # left as it was
    assert cm.history(user="lena")["action"].tolist() == ["merged", "merge"]


def test_merge_duplicates_only_the_chosen_clusters(cm: CustomerManager, clusters: dict[str, Any]) -> None:
    plan = cm.merge_duplicates(dry_run=True)
    assert len(plan.merged) == 2
    petra = int(plan.clusters.set_index("survivor_id").loc[clusters["petra_twin"].id, "id"])
    done = cm.merge_duplicates(clusters=[petra])
    assert done.merged == [petra] and done.clusters["id"].tolist() == [petra]
    assert cm.ticket(clusters["ticket"].id).main_customer_id == clusters["petra_twin"].id
    assert cm.frame("customers").query("name == 'Petra Privat'")["active"].tolist() == [True]
    assert len(cm.find_duplicates()) == 1  # Anna's pair is still there
    for bad in ([99999], [True], ["x"]):
        with pytest.raises(ValidationError, match="clusters"):
            cm.merge_duplicates(clusters=bad)


def test_merge_duplicates_of_a_cluster_without_an_active_record_changes_nothing(
    cm: CustomerManager, clusters: dict[str, Any], snapshot: Snapshot
) -> None:
    cm.deactivate(clusters["priv"].id)
    cm.close_ticket(clusters["ticket"].id)
    cm.deactivate(clusters["petra_twin"].id)
    cm.merge_duplicates(clusters=None, group="retail")  # Anna's cluster only
    before = snapshot()
    done = cm.merge_duplicates()
    assert snapshot() == before and done.merged == [] and done.changes.empty
    assert done.problems[0].endswith("no active record: reactivate one to merge into it")
