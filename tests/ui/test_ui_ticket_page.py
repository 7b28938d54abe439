"""The ticket page: its customers (deactivated ones in italics) and protocol (R16), every button, each
refusal shown next to the action that met it (and on the status line), checked in the database."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import MakeTicket
from ui_helpers import shown

from cmkit import CustomerManager
from cmkit.ui import CustomerPage, TicketPage
from cmkit.ui.ticket import ticket_id_of


def _customers(cm: CustomerManager, ticket_id: int) -> tuple[int, tuple[int, ...]]:
    t = cm.ticket(ticket_id)
    return t.main_customer_id, t.additional_customer_ids


def test_r16_page_shows_ticket_customers_and_protocol(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    anna, bert = world["anna"], world["bert"]
    t = make_ticket(anna, bert, subject="Drucker <b>kaputt</b>")
    page = TicketPage(cm, t.id)
    assert t.number in page.header.value and "helpdesk" in page.header.value and "open" in page.header.value
    assert "Drucker &lt;b&gt;kaputt&lt;/b&gt;" in page.header.value  # customer data is escaped
    rows = page.customers.frame
    assert list(zip(rows["role"], rows["id"], strict=True)) == [("main", anna.id), ("additional", bert.id)]
    protocol = page.protocol.frame
    assert set(protocol["action"]) == {"created", "customer added"}
    assert "Bert Öztürk" in page.protocol.browser_html()
    assert page.chosen.value == anna.id and shown(page.close_button) and not shown(page.reopen_button)


def test_open_by_number_and_refusals_of_the_number(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    t = make_ticket(world["anna"])
    page = TicketPage(cm)
    assert not shown(page.body)
    page.number.value = t.number
    page.open_button.click()
    assert page.ticket is not None and page.ticket.id == t.id and shown(page.body)
    page.number.value = "printer"
    page.open_button.click()
    assert page.status.kind == "error" and page.status.message.startswith("number:")
    page.number.value = "#999"
    page.open_button.click()
    assert page.status.kind == "error" and "does not exist" in page.status.message
    assert [ticket_id_of(x) for x in ("T0000042", "42", "#42", "t42")] == [42] * 4
    with pytest.raises(Exception, match="number"):
        ticket_id_of("T-42")


def test_r15_add_customer_and_its_refusals_next_to_the_button(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    anna, carl, bert = world["anna"], world["carl"], world["bert"]
    t = make_ticket(anna)
    page = TicketPage(cm, t.id)
    page.add_button.click()  # nobody chosen
    assert page.add_result.kind == "error" and page.add_result.message.startswith("customer:")
    page.add_picker.text.value = "Zand"
    assert carl.id in set(page.add_picker.found["id"])
    page.add_picker.suggestions.value = carl.id
    page.add_button.click()
    assert page.add_result.kind == "ok" and "Carl Zander (#" in page.add_result.message
    assert page.status.kind == "ok" and _customers(cm, t.id) == (anna.id, (carl.id,))
    assert "Carl Zander" in page.customers.browser_html() and "customer added" in set(
        page.protocol.frame["action"]
    )
    cm.deactivate(bert.id)
    page.add_picker.found = page.add_picker.found.iloc[0:0]
    page.add_picker.value = bert.id  # as if chosen: the facade refuses it
    page.add_button.click()
    assert page.add_result.kind == "error" and page.add_result.message.startswith("R15:")
    assert page.status.message == page.add_result.message
    assert _customers(cm, t.id) == (anna.id, (carl.id,))


def test_r15_remove_and_make_main_for_the_chosen_customer(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    anna, bert, carl = world["anna"], world["bert"], world["carl"]
    t = make_ticket(anna, bert, carl)
    page = TicketPage(cm, t.id)
    assert not shown(page.buttons["remove"]) and not shown(page.buttons["make_main"])  # anna is main
    page.chosen.value = bert.id
    assert shown(page.buttons["remove"]) and shown(page.buttons["make_main"])
    page.buttons["remove"].click()
    assert page.customer_result.kind == "ok" and "Bert Öztürk (#" in page.customer_result.message
    assert _customers(cm, t.id) == (anna.id, (carl.id,))
    page.chosen.value = carl.id
    page.buttons["make_main"].click()
    assert page.customer_result.kind == "ok" and _customers(cm, t.id) == (carl.id, ())
    p = cm.protocol(t.id)
    changed = p[p["action"] == "main_changed"]
    assert list(zip(changed["old_customer_name"], changed["new_customer_name"], strict=True)) == [
        ("Anna Müller", "Carl Zander")
    ]


def test_r17_change_main_customer_and_its_refusals(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    anna, carl, pete, acme = world["anna"], world["carl"], world["pete"], world["acme"]
    t = make_ticket(anna)
    page = TicketPage(cm, t.id)
    page.main_picker.pick(pete.id)  # partners: the helpdesk is not their queue
    page.main_button.click()
    assert page.main_result.kind == "error" and page.main_result.message.startswith("R14:")
    assert "helpdesk" in page.main_result.message and _customers(cm, t.id) == (anna.id, ())
    page.main_picker.pick(acme.id)  # retail takes tickets for contacts only
    page.main_button.click()
    assert page.main_result.kind == "error" and "contacts only" in page.main_result.message
    page.main_picker.pick(anna.id)
    page.main_button.click()
    assert page.main_result.kind == "error" and "already is the main customer" in page.main_result.message
    page.main_picker.pick(carl.id)
    page.main_button.click()
    assert page.main_result.kind == "ok" and _customers(cm, t.id) == (carl.id, ())
    assert page.main_picker.value is None


def test_r20_close_reopen_and_deactivate_from_a_closed_ticket(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    anna, bert = world["anna"], world["bert"]
    t = make_ticket(anna, bert)
    page = TicketPage(cm, t.id)
    page.chosen.value = bert.id
    page.buttons["deactivate"].click()  # the ticket is open: R18 refuses, next to the button
    assert page.customer_result.kind == "error" and "R18" in page.customer_result.message
    assert cm.customer(bert.id).active
    page.close_button.click()
    assert page.state_result.kind == "ok" and cm.ticket(t.id).state == "closed"
    assert shown(page.reopen_button) and not shown(page.close_button)
    page.chosen.value = bert.id
    page.buttons["deactivate"].click()
    form = page.lifecycle_area.children[0]
    assert form.confirm.pending
    form.confirm.yes.click()
    assert not cm.customer(bert.id).active and page.customer_result.kind == "ok"
    assert bert.id in page.customers.italic_ids()  # deactivated customers in italics
    assert shown(page.buttons["reactivate"]) and not shown(page.buttons["deactivate"])
    page.reopen_button.click()  # R20: not while a customer is deactivated
    assert page.state_result.kind == "error" and page.state_result.message.startswith("R20:")
    assert cm.ticket(t.id).state == "closed"
    page.chosen.value = bert.id
    page.buttons["reactivate"].click()
    page.lifecycle_area.children[0].confirm.yes.click()
    assert cm.customer(bert.id).active
    page.reopen_button.click()
    assert page.state_result.kind == "ok" and cm.ticket(t.id).state == "open"
    assert {"closed", "reopened"} <= set(page.protocol.frame["action"])


def test_open_and_edit_a_customer_from_the_ticket(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    anna, bert = world["anna"], world["bert"]
    t = make_ticket(anna, bert)
    page = TicketPage(cm, t.id)
    page.buttons["open"].click()
    assert isinstance(page.customer_page, CustomerPage) and page.customer_page.customer.id == anna.id
    page.chosen.value = bert.id
    page.buttons["edit"].click()
    cp = page.customer_page
    assert cp.customer.id == bert.id and cp.mode == "edit"
    cp.inputs.inputs["email"].value = "bert@acme.example"
    cp.save_button.click()
    assert cp.status.kind == "ok" and cm.customer(bert.id).fields["email"] == "bert@acme.example"
    opened: list[int] = []
    elsewhere = TicketPage(cm, t.id, on_customer=opened.append)
    elsewhere.buttons["open"].click()
    assert opened == [anna.id] and elsewhere.customer_page is None


def test_customer_page_opens_its_tickets(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    t = make_ticket(world["anna"])
    page = TicketPage(cm, t.id)
    page.buttons["open"].click()
    cp = page.customer_page
    assert shown(cp.open_ticket)
    other = make_ticket(world["anna"], subject="Second")
    cp.refresh()
    cp.open_ticket.value = other.id
    assert page.ticket is not None and page.ticket.id == other.id
