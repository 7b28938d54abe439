"""Customer activities (R13): registry, configuration per group, permission, deactivated customers, built-ins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from detail_samples import reconfigure
from hypothesis import given
from hypothesis import strategies as st

import cmkit
from cmkit import CustomerManager, NotFound, PermissionDenied, PreconditionFailed, ValidationError
from cmkit.services.activities import REGISTRY
from cmkit.services.builtin_activities import _fold


@pytest.fixture
def registry() -> Iterator[None]:
    """Activities registered by a test are gone afterwards."""
    saved = dict(REGISTRY)
    yield
    REGISTRY.clear()
    REGISTRY.update(saved)


def with_address_fields(config: dict) -> None:
    config["groups"]["retail"]["contact_fields"].update(street={"type": "text"}, city={"type": "text"})


def test_r13_offered_activities_depend_on_kind_group_and_configuration(cm: CustomerManager, world) -> None:
    assert cm.activities(world["anna"].id) == ["export_vcard", "create_followup_ticket"]  # contact activities
    assert cm.activities(world["acme"].id) == ["copy_company_address"]  # retail companies take no tickets
    assert cm.activities(world["pete"].id) == []  # nothing configured for partners
    assert cm.activities(world["priv"].id) == []


def test_r13_activity_refused_without_permission(cm: CustomerManager, world, as_user, snapshot) -> None:
    rita, alice = as_user("rita"), as_user("alice")
    assert rita.activities(world["anna"].id) == []
    before = snapshot()
    with pytest.raises(
        PermissionDenied, match=r"R13: user 'rita' lacks the 'activities' permission on group 'retail'"
    ):
        rita.run_activity(world["anna"].id, "export_vcard")
    with pytest.raises(PermissionDenied, match="R13"):
        rita.run_activity(world["anna"].id, "create_followup_ticket", queue="helpdesk")
    assert snapshot() == before  # no ticket, no audit entry
    assert alice.run_activity(world["anna"].id, "export_vcard").startswith("BEGIN:VCARD")


def test_r13_activity_runs_on_deactivated_customer(cm: CustomerManager, world, as_user) -> None:
    bert = world["bert"]
    cm.deactivate(bert.id)
    alice = as_user("alice")
    assert alice.activities(bert.id) == ["export_vcard"]  # a follow-up ticket cannot be made for it (R20)
    card = alice.run_activity(bert.id, "export_vcard")
    assert "FN:Bert Öztürk" in card
    entry = cm.history(customer_id=bert.id).iloc[-1]
    assert (entry["user"], entry["action"]) == ("alice", "run_activity")
    assert entry["after"]["activity"] == "export_vcard"
    with pytest.raises(PreconditionFailed, match="R20: cannot create a ticket for deactivated"):
        cm.run_activity(bert.id, "create_followup_ticket", queue="helpdesk")
    cm.deactivate(world["zeta"].id)
    with pytest.raises(PreconditionFailed, match="R13: group 'retail' has no address field shared"):
        cm.run_activity(world["zeta"].id, "copy_company_address")  # runs, and says what is missing


def test_r13_activity_not_offered_is_refused(cm: CustomerManager, world, snapshot) -> None:
    before = snapshot()
    with pytest.raises(
        PreconditionFailed, match=r"R13: activity 'export_vcard' is not offered for group 'partners'"
    ):
        cm.run_activity(world["pete"].id, "export_vcard")
    with pytest.raises(
        PreconditionFailed, match=r"R13: 'export_vcard' is a contact activity; it does not run on company"
    ):
        cm.run_activity(world["acme"].id, "export_vcard")
    with pytest.raises(PreconditionFailed, match=r"R13: 'copy_company_address' is a company activity"):
        cm.run_activity(world["anna"].id, "copy_company_address")
    with pytest.raises(PreconditionFailed, match=r"R13: activity 'nope' is not offered"):
        cm.run_activity(world["anna"].id, "nope")
    with pytest.raises(ValidationError, match="does not take these parameters"):
        cm.run_activity(world["anna"].id, "export_vcard", colour="red")
    assert snapshot() == before


def test_r13_registered_activity_is_offered_once_configured(
    cm: CustomerManager, world, db_url, registry
) -> None:
    @cmkit.activity("count_contacts", kinds="company")
    def count_contacts(
        cm: CustomerManager, customer: cmkit.Customer, include_deactivated: bool = False
    ) -> int:
        """How many contacts the company has."""
        return len(cm.contacts(customer.id, include_deactivated=include_deactivated))

    assert "count_contacts" not in cm.activities(world["acme"].id)  # registered, not configured
    reconfigure(db_url, lambda c: c["activities"].update(retail=["count_contacts", "ghost"]))
    assert cm.activities(world["acme"].id) == ["count_contacts"]
    assert cm.activities(world["anna"].id) == []
    assert cm.run_activity(world["acme"].id, "count_contacts", include_deactivated=True) == 2
    entry = cm.history(customer_id=world["acme"].id).iloc[-1]
    assert entry["after"] == {
        "activity": "count_contacts",
        "params": {"include_deactivated": True},
        "result": 2,
    }
    with pytest.raises(NotFound, match="R13: activity 'ghost' is configured but not registered"):
        cm.run_activity(world["acme"].id, "ghost")


def test_r13_activity_registration_is_checked() -> None:
    with pytest.raises(ValidationError, match="kinds"):
        cmkit.activity("x", kinds=("customer",))
    with pytest.raises(ValidationError, match="name"):
        cmkit.activity("no spaces")


def test_r13_export_vcard(cm: CustomerManager, world) -> None:
    cm.edit(world["anna"].id, phone="+49 221 555", first_name="Anna; Maria")
    card = cm.run_activity(world["anna"].id, "export_vcard")
    lines = card.split("\r\n")
    assert lines[:2] == ["BEGIN:VCARD", "VERSION:3.0"] and lines[-2:] == ["END:VCARD", ""]
    assert "N:Müller;Anna\\; Maria;;;" in lines
    assert "FN:Anna\\; Maria Müller" in lines
    assert "ORG:Acme GmbH" in lines
    assert "EMAIL;TYPE=INTERNET:anna@acme.example" in lines
    assert "TEL;TYPE=WORK,VOICE:+49 221 555" in lines
    assert "ADR;TYPE=WORK:;;Hauptstraße 1;Köln;;;" in lines  # the company's address
    assert all(len(line.encode()) <= 75 for line in lines)


@given(st.text(min_size=0, max_size=300))
def test_r13_vcard_lines_fold_to_75_octets_and_unfold_back(value: str) -> None:
    folded = _fold("NOTE:" + value)
    assert all(len(line.encode()) <= 75 for line in folded)
    assert all(line.startswith(" ") for line in folded[1:])
    assert folded[0] + "".join(line[1:] for line in folded[1:]) == "NOTE:" + value


def test_r13_copy_company_address(cm: CustomerManager, world, db_url, as_user) -> None:
    reconfigure(db_url, with_address_fields)
    acme, anna, bert = world["acme"], world["anna"], world["bert"]
    cm.edit(bert.id, city="Bonn")
    cm.deactivate(bert.id)
    preview = cm.run_activity(acme.id, "copy_company_address", dry_run=True)
    assert not preview.applied and preview.changes["id"].tolist() == [anna.id]
    assert cm.customer(anna.id).fields.get("city") is None  # the dry run changed nothing
    done = as_user("alice").run_activity(acme.id, "copy_company_address")
    assert done.applied and done.changes["id"].tolist() == [anna.id]
    moved = cm.customer(anna.id)
    assert (moved["street"], moved["city"], moved.version) == ("Hauptstraße 1", "Köln", anna.version + 1)
    assert cm.customer(bert.id)["city"] == "Bonn"  # deactivated contacts only when asked
    edit = cm.history(customer_id=anna.id)
    assert edit[edit["action"] == "edit"].iloc[-1]["after"] == {"street": "Hauptstraße 1", "city": "Köln"}
    cm.run_activity(acme.id, "copy_company_address", include_deactivated=True, overwrite=False)
    assert cm.customer(bert.id)["city"] == "Bonn" and cm.customer(bert.id)["street"] == "Hauptstraße 1"
    with pytest.raises(
        ValidationError, match=r"group 'retail', not 'tier', 'seats' \(shared fields: city, street, phone\)"
    ):
        cm.run_activity(acme.id, "copy_company_address", fields=["city", "tier", "seats"])


def test_r13_copy_company_address_needs_write_permission(cm: CustomerManager, world, db_url) -> None:
    def reader_with_activities(config: dict) -> None:
        with_address_fields(config)
        config["roles"]["doer"] = {"read": ["retail"], "activities": ["retail"]}
        config["users"]["dora"] = ["doer"]

    reconfigure(db_url, reader_with_activities)
    dora = cmkit.connect(db_url, user="dora")
    assert dora.activities(world["acme"].id) == []
    with pytest.raises(PreconditionFailed, match="R5: user 'dora' lacks the 'write' permission"):
        dora.run_activity(world["acme"].id, "copy_company_address")


def test_r13_create_followup_ticket(cm: CustomerManager, world) -> None:
    anna = world["anna"].id
    with pytest.raises(
        ValidationError, match="R14: group 'retail' has the queues billing, helpdesk; pass queue="
    ):
        cm.run_activity(anna, "create_followup_ticket")
    first = cm.run_activity(anna, "create_followup_ticket", queue="billing")
    assert (first.queue, first.subject, first.main_customer_id) == ("billing", "Follow-up: Anna Müller", anna)
    cm.close_ticket(first.id)
    second = cm.run_activity(anna, "create_followup_ticket", additional=[world["bert"].id])
    assert (
        second.queue == "billing" and second.subject == f"Follow-up to {first.number}: Follow-up: Anna Müller"
    )
    assert second.additional_customer_ids == (world["bert"].id,)
    third = cm.run_activity(anna, "create_followup_ticket", queue="helpdesk")
    assert third.subject == f"Follow-up to {second.number}: Follow-up: Anna Müller"
    entry = cm.history(customer_id=anna).iloc[-1]
    assert entry["action"] == "run_activity" and entry["after"]["result"] == {
        "ticket_id": third.id,
        "number": third.number,
    }
