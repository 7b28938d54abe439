"""The customer page: header and actions, data fields in view and edit mode, company or contacts, tickets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from helpers import MakeTicket
from ui_helpers import shown

from cmkit import CustomerManager
from cmkit.ui import CustomerPage


def test_page_shows_the_customer_in_view_mode(cm: CustomerManager, world: dict[str, Any]) -> None:
    page = CustomerPage(cm, world["anna"].id)
    assert "Anna Müller" in page.header.value and "retail" in page.header.value
    assert "anna@acme.example" in page.view.value
    assert page.mode == "view" and shown(page.view_box) and not shown(page.edit_box)
    assert "cmkit-view" in page.view_box._dom_classes and "cmkit-edit" in page.edit_box._dom_classes
    assert "Acme GmbH" in page.relation.value and shown(page.open_company)
    assert page.status.kind != "error"


def test_r5_edit_and_save_stores_the_change(cm: CustomerManager, world: dict[str, Any]) -> None:
    anna = world["anna"]
    page = CustomerPage(cm, anna.id)
    page.buttons["edit"].click()
    assert page.mode == "edit" and shown(page.edit_box) and not shown(page.view_box)
    assert page.inputs.inputs["email"].value == "anna@acme.example"
    page.inputs.inputs["email"].value = "anna.neu@acme.example"
    page.inputs.inputs["tier"].value = "gold"
    page.save_button.click()
    assert page.status.kind == "ok", page.status.message
    stored = cm.customer(anna.id)
    assert stored.fields["email"] == "anna.neu@acme.example" and stored.fields["tier"] == "gold"
    assert stored.version == anna.version + 1
    assert page.mode == "view" and "anna.neu@acme.example" in page.view.value
    history = cm.history(customer_id=anna.id)
    assert history["action"].iloc[-1] == "edit"


def test_r4_validation_error_shown_at_the_field_and_nothing_stored(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    anna = world["anna"]
    page = CustomerPage(cm, anna.id)
    page.buttons["edit"].click()
    page.inputs.inputs["email"].value = "not-an-address"
    page.inputs.inputs["first_name"].value = "Annabelle"
    page.save_button.click()
    assert page.status.kind == "error" and "email" in page.status.message
    assert page.inputs.error_fields == ["email"]
    assert "not an e-mail address" in page.inputs.errors["email"].value
    assert page.mode == "edit"
    assert cm.customer(anna.id) == anna


def test_r4_required_field_cleared_is_refused_at_the_field(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    page = CustomerPage(cm, world["anna"].id)
    page.buttons["edit"].click()
    page.inputs.inputs["last_name"].value = "  "
    page.save_button.click()
    assert page.inputs.error_fields == ["last_name"] and "required" in page.inputs.errors["last_name"].value
    assert cm.customer(world["anna"].id).fields["last_name"] == "Müller"


def test_r5_stale_edit_says_someone_else_changed_it(
    cm: CustomerManager, world: dict[str, Any], as_user: Callable[[str], CustomerManager]
) -> None:
    anna = world["anna"]
    page = CustomerPage(cm, anna.id)
    page.buttons["edit"].click()
    as_user("alice").edit(anna.id, first_name="Anne")  # another admin saves first
    page.inputs.inputs["email"].value = "mine@acme.example"
    page.save_button.click()
    assert page.status.kind == "error" and "someone else changed" in page.status.message
    assert shown(page.reload_button)
    stored = cm.customer(anna.id)
    assert stored.fields["first_name"] == "Anne" and stored.fields["email"] == "anna@acme.example"
    page.reload_button.click()  # load the stored data, reapply, save
    assert page.inputs.inputs["first_name"].value == "Anne"
    page.inputs.inputs["email"].value = "mine@acme.example"
    page.save_button.click()
    assert page.status.kind == "ok" and cm.customer(anna.id).fields == {
        **stored.fields,
        "email": "mine@acme.example",
    }


def test_cancel_leaves_the_data_as_it_was(cm: CustomerManager, world: dict[str, Any]) -> None:
    page = CustomerPage(cm, world["anna"].id)
    page.buttons["edit"].click()
    page.inputs.inputs["email"].value = "other@acme.example"
    page.cancel_button.click()
    assert page.mode == "view" and "nothing was saved" in page.status.message
    assert cm.customer(world["anna"].id) == world["anna"]


def test_save_without_changes_writes_nothing(cm: CustomerManager, world: dict[str, Any]) -> None:
    page = CustomerPage(cm, world["anna"].id)
    page.buttons["edit"].click()
    page.save_button.click()
    assert (
        page.status.message == "nothing changed"
        and cm.customer(world["anna"].id).version == world["anna"].version
    )


def test_r6_deactivated_customer_can_be_edited_and_is_shown_as_such(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    carl = world["carl"]
    cm.deactivate(carl.id)
    page = CustomerPage(cm, carl.id)
    assert "deactivated" in page.header.value and "<i>Carl Zander</i>" in page.header.value
    assert shown(page.buttons["reactivate"]) and not shown(page.buttons["deactivate"])
    assert page.buttons["create_ticket"].disabled and "R20" in page.buttons["create_ticket"].tooltip
    page.buttons["edit"].click()
    page.inputs.inputs["first_name"].value = "Carlo"
    page.save_button.click()
    assert cm.customer(carl.id).fields["first_name"] == "Carlo"


def test_company_page_lists_contacts_with_deactivated_in_italics(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    cm.deactivate(world["bert"].id)
    page = CustomerPage(cm, world["acme"].id)
    assert set(page.contacts.frame["name"]) == {"Anna Müller", "Bert Öztürk"}
    assert page.contacts.italic_ids() == [world["bert"].id]  # Anna's row is upright
    assert not shown(page.buttons["delete"]) and not shown(page.buttons["change_company"])
    page.open_contact.value = world["anna"].id  # choosing a contact opens its page
    assert page.customer.id == world["anna"].id and "Anna Müller" in page.header.value
    page.open_company.click()
    assert page.customer.id == world["acme"].id


def test_tickets_table_open_and_closed(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    anna, carl = world["anna"], world["carl"]
    open_t = make_ticket(anna, subject="Open one")
    closed_t = make_ticket(carl, anna, closed=True, subject="Closed one")
    page = CustomerPage(cm, anna.id)
    assert list(page.tickets.frame["number"]) == [open_t.number]
    page.ticket_state.value = "closed"
    assert list(page.tickets.frame["number"]) == [closed_t.number]
    assert list(page.tickets.frame["role"]) == ["additional"]
    page.ticket_state.value = None
    assert set(page.tickets.frame["number"]) == {open_t.number, closed_t.number}


def test_actions_follow_permissions(world: dict[str, Any], as_user: Callable[[str], CustomerManager]) -> None:
    rita = as_user("rita")  # reader of retail
    page = CustomerPage(rita, world["anna"].id)
    for key in ("edit", "change_company", "create_ticket", "transfer", "deactivate", "delete"):
        assert page.buttons[key].disabled, key
        assert page.buttons[key].tooltip.startswith(("R5", "R25")), key
    assert not page.buttons["print"].disabled
    alice = CustomerPage(as_user("alice"), world["anna"].id)  # agent: writes retail, no lifecycle rights
    assert not alice.buttons["edit"].disabled and not alice.buttons["create_ticket"].disabled
    assert alice.buttons["deactivate"].disabled and "R25" in alice.buttons["deactivate"].tooltip


def test_r14_create_ticket_unavailable_for_retail_company(cm: CustomerManager, world: dict[str, Any]) -> None:
    page = CustomerPage(cm, world["acme"].id)
    assert page.buttons["create_ticket"].disabled and page.buttons["create_ticket"].tooltip.startswith("R14")
    partner = CustomerPage(cm, world["part"].id)  # partners take tickets for companies
    assert not partner.buttons["create_ticket"].disabled


def test_one_level_contact_has_no_company(cm: CustomerManager, world: dict[str, Any]) -> None:
    page = CustomerPage(cm, world["priv"].id)
    assert "no company" in page.relation.value and not shown(page.buttons["change_company"])
    assert shown(page.buttons["delete"])


def test_print_offers_pdf_and_html(cm: CustomerManager, world: dict[str, Any]) -> None:
    page = CustomerPage(cm, world["anna"].id)
    page.buttons["print"].click()
    assert page.status.kind == "ok", page.status.message
    box = page.print_box
    assert box is not None and box.pdf is not None and box.pdf.startswith(b"%PDF")
    assert box.html is not None and "Anna Müller" in box.html
    assert (
        'download="customer-' in box.links.value and ".pdf" in box.links.value and ".html" in box.links.value
    )


def test_page_of_a_deleted_customer_says_so(cm: CustomerManager, world: dict[str, Any]) -> None:
    page = CustomerPage(cm, world["priv"].id)
    cm.delete(world["priv"].id)
    page.refresh()
    assert "does not exist" in page.header.value and not shown(page.buttons["edit"])
