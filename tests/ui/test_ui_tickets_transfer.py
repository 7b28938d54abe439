"""Create ticket (R14) and Transfer data (R17) forms: every button path, checked in the database."""

from __future__ import annotations

from typing import Any

from helpers import MakeTicket
from ui_helpers import shown

from cmkit import CustomerManager
from cmkit.ui import CreateTicketForm, CustomerPage, TransferForm

# -- create ticket --------------------------------------------------------------------------------------------


def test_r14_create_ticket_offers_only_the_queues_of_the_group(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    form = CreateTicketForm(cm, world["anna"].id)
    assert list(form.queue.options) == ["billing", "helpdesk"]
    assert list(CreateTicketForm(cm, world["pete"].id).queue.options) == ["partnerdesk"]
    assert list(CreateTicketForm(cm, world["priv"].id).queue.options) == ["helpdesk"]


def test_create_ticket_preselects_a_queue(cm: CustomerManager, world: dict[str, Any]) -> None:
    form = CreateTicketForm(cm, world["priv"].id)
    assert form.queue.value == "helpdesk"
    form.subject.value = "Adressänderung"
    form.create_button.click()  # without touching the queue
    assert form.status.kind == "ok" and cm.ticket(form.ticket.id).queue == "helpdesk"


def test_r14_create_ticket_makes_the_customer_main(cm: CustomerManager, world: dict[str, Any]) -> None:
    done: list[Any] = []
    form = CreateTicketForm(cm, world["anna"].id, on_done=done.append)
    form.queue.value = "billing"
    form.subject.value = "Rechnung doppelt"
    form.create_button.click()
    assert form.status.kind == "ok" and form.ticket.number in form.status.message
    t = cm.ticket(form.ticket.id)
    assert (t.main_customer_id, t.queue, t.subject, t.state) == (
        world["anna"].id,
        "billing",
        "Rechnung doppelt",
        "open",
    )
    assert done == [form.ticket]


def test_create_ticket_refusal_is_shown_and_nothing_stored(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    form = CreateTicketForm(cm, world["anna"].id)
    form.subject.value = "   "
    form.create_button.click()
    assert form.status.kind == "error" and form.status.message.startswith("subject:")
    assert cm.tickets(world["anna"].id).empty


def test_r14_company_of_contacts_only_group_is_explained(cm: CustomerManager, world: dict[str, Any]) -> None:
    form = CreateTicketForm(cm, world["acme"].id)
    assert "R14" in form.explain.value and "contacts only" in form.explain.value
    assert form.create_button.disabled and form.queue.disabled


def test_r20_deactivated_customer_is_explained(cm: CustomerManager, world: dict[str, Any]) -> None:
    cm.deactivate(world["carl"].id)
    form = CreateTicketForm(cm, world["carl"].id)
    assert "R20" in form.explain.value and form.create_button.disabled


def test_create_ticket_from_the_page_updates_its_tickets(cm: CustomerManager, world: dict[str, Any]) -> None:
    page = CustomerPage(cm, world["anna"].id)
    page.buttons["create_ticket"].click()
    form = page.form
    assert isinstance(form, CreateTicketForm)
    form.queue.value = "helpdesk"
    form.subject.value = "Drucker druckt nicht"
    form.create_button.click()
    assert page.form is None and page.status.kind == "ok" and "created" in page.status.message
    assert list(page.tickets.frame["subject"]) == ["Drucker druckt nicht"]


# -- transfer -----------------------------------------------------------------------------------------------


def test_r17_transfer_preview_then_transfer_open_tickets(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    anna, bert = world["anna"], world["bert"]
    open_t = make_ticket(anna)
    closed_t = make_ticket(anna, closed=True)
    before = cm.frame("tickets")
    done: list[Any] = []
    form = TransferForm(cm, anna.id, on_done=done.append)
    assert not shown(form.source) and "Anna Müller" in form.source_label.value
    assert form.only_open.value is True and form.go.disabled
    form.target.pick(bert.id)
    assert list(form.table.frame["number"]) == [open_t.number]  # the dry run: only the open ticket
    assert not form.go.disabled
    assert cm.frame("tickets").equals(before)  # the preview changed nothing
    form.only_open.value = False
    assert set(form.table.frame["number"]) == {open_t.number, closed_t.number}
    form.only_open.value = True
    form.go.click()
    assert form.status.kind == "ok" and open_t.number in form.status.message
    assert cm.ticket(open_t.id).main_customer_id == bert.id
    assert cm.ticket(closed_t.id).main_customer_id == anna.id
    assert len(done) == 1 and done[0].applied
    assert list(cm.protocol(open_t.id)["action"]) == ["created", "transferred"]


def test_r17_transfer_all_tickets_when_unticked(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    anna, bert = world["anna"], world["bert"]
    tickets = [make_ticket(anna), make_ticket(anna, closed=True)]
    form = TransferForm(cm, anna.id, only_open=False)
    form.target.pick(bert.id)
    form.go.click()
    assert [cm.ticket(t.id).main_customer_id for t in tickets] == [bert.id, bert.id]


def test_r17_deactivated_target_is_refused_in_the_preview(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    anna, carl = world["anna"], world["carl"]
    t = make_ticket(anna)
    cm.deactivate(carl.id)
    form = TransferForm(cm, anna.id)
    form.target.pick(carl.id)
    assert "R17" in form.problems.value and form.go.disabled
    assert form.status.kind == "error"
    form.go.click()  # even when clicked anyway: nothing moves
    assert cm.ticket(t.id).main_customer_id == anna.id


def test_r17_nothing_to_transfer_is_said(cm: CustomerManager, world: dict[str, Any]) -> None:
    form = TransferForm(cm, world["anna"].id)
    form.target.pick(world["bert"].id)
    assert form.go.disabled and "no ticket to transfer" in form.status.message


def test_r25_transfer_without_permission_is_explained(
    world: dict[str, Any], make_ticket: MakeTicket, as_user: Any
) -> None:
    t = make_ticket(world["anna"])
    form = TransferForm(as_user("alice"), world["anna"].id)
    form.target.pick(world["bert"].id)
    assert form.status.kind == "error" and form.status.message.startswith("R25")
    assert as_user("admin").ticket(t.id).main_customer_id == world["anna"].id


def test_transfer_form_alone_chooses_the_source(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    anna, bert = world["anna"], world["bert"]
    t = make_ticket(anna)
    form = TransferForm(cm)
    assert shown(form.source)
    form.source.pick(anna.id)
    form.target.pick(bert.id)
    assert list(form.table.frame["number"]) == [t.number]
    form.go.click()
    assert cm.ticket(t.id).main_customer_id == bert.id


def test_r17_transfer_from_the_customer_page(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    anna, bert = world["anna"], world["bert"]
    t = make_ticket(anna)
    page = CustomerPage(cm, anna.id)
    page.buttons["transfer"].click()
    assert isinstance(page.form, TransferForm) and page.form.source_id == anna.id
    page.form.target.text.value = "Bert"  # typed: the suggestions offer Bert
    assert bert.id in set(page.form.target.found["id"]) and anna.id not in set(page.form.target.found["id"])
    page.form.target.suggestions.value = bert.id
    page.form.go.click()
    assert page.form is None and "transferred" in page.status.message
    assert page.tickets.frame.empty and cm.ticket(t.id).main_customer_id == bert.id


def test_close_button_leaves_the_form_without_acting(
    cm: CustomerManager, world: dict[str, Any], snapshot: Any
) -> None:
    before = snapshot()
    page = CustomerPage(cm, world["anna"].id)
    page.buttons["deactivate"].click()
    assert page.form is not None and len(page.action_area.children) == 2
    page.close_button.click()
    assert page.form is None and page.action_area.children == ()
    assert snapshot() == before


def test_r17_preview_says_in_words_whether_the_target_is_on_the_ticket(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    anna, bert = world["anna"], world["bert"]
    make_ticket(bert, anna)  # anna is an additional customer of bert's ticket
    form = TransferForm(cm, bert.id)
    form.target.pick(anna.id)
    assert list(form.table.frame["target_already_on_ticket"]) == [True]  # the frame keeps the data
    head, body = form.table.browser_html().split("</thead>")
    assert "target already on the ticket" in head and "target_already_on_ticket" not in head
    assert "yes: it stays there once" in body and ">True<" not in body
