"""Deactivate / Activate / Delete forms (R18-R25): preconditions first, confirmation, then the action."""

from __future__ import annotations

from typing import Any

from helpers import MakeTicket
from ui_helpers import shown

from cmkit import CustomerManager
from cmkit.ui import CustomerPage, LifecycleForm, TransferForm


def test_r18_deactivate_blocked_lists_the_blocking_ticket(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket, snapshot: Any
) -> None:
    anna = world["anna"]
    t = make_ticket(anna)
    before = snapshot()
    form = LifecycleForm(cm, anna.id, "deactivate")
    assert form.status.kind == "error" and "R18" in form.status.message
    assert "R18" in form.problems.value
    assert shown(form.blocking_box) and list(form.blocking.frame["number"]) == [t.number]
    assert t.number in form.blocking.browser_html()
    assert shown(form.transfer_button) and not form.confirm.pending
    assert snapshot() == before


def test_r18_blocked_then_transfer_then_deactivate(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    anna, bert = world["anna"], world["bert"]
    t = make_ticket(anna)
    done: list[Any] = []
    form = LifecycleForm(cm, anna.id, "deactivate", on_done=done.append)
    form.transfer_button.click()
    assert isinstance(form.transfer, TransferForm) and form.transfer.only_open.value is True
    form.transfer.target.pick(bert.id)
    form.transfer.go.click()
    assert cm.ticket(t.id).main_customer_id == bert.id
    assert form.transfer is None and "1 ticket(s) transferred" in form.status.message
    assert form.confirm.pending and not shown(form.blocking_box)  # the preconditions hold now: confirm
    form.confirm.yes.click()
    assert not cm.customer(anna.id).active
    assert form.status.kind == "ok" and done and done[0].applied


def test_r19_deactivate_company_asks_and_takes_contacts_along(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    acme = world["acme"]
    form = LifecycleForm(cm, acme.id)  # the action follows the state: active -> deactivate
    assert form.action.value == "deactivate"
    assert "and its 2 active contact(s)" in form.confirm.question.value
    assert set(form.plan.frame["name"]) == {"Acme GmbH", "Anna Müller", "Bert Öztürk"}
    form.confirm.yes.click()
    assert [cm.customer(c.id).active for c in (acme, world["anna"], world["bert"])] == [False, False, False]


def test_r18_company_blocked_by_a_contacts_ticket(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    t = make_ticket(world["bert"])
    form = LifecycleForm(cm, world["acme"].id, "deactivate")
    assert list(form.blocking.frame["customer_name"]) == ["Bert Öztürk"]
    form.transfer_button.click()
    assert form.transfer is not None and form.transfer.source_id == world["bert"].id
    assert cm.ticket(t.id).main_customer_id == world["bert"].id


def test_cancel_changes_nothing(cm: CustomerManager, world: dict[str, Any], snapshot: Any) -> None:
    before = snapshot()
    form = LifecycleForm(cm, world["anna"].id, "deactivate")
    form.confirm.no.click()
    assert snapshot() == before and cm.customer(world["anna"].id).active


def test_r21_reactivate_company_offers_contacts_one_by_one(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    acme, anna, bert = world["acme"], world["anna"], world["bert"]
    cm.deactivate(acme.id)
    form = LifecycleForm(cm, acme.id)
    assert form.action.value == "reactivate"
    form.confirm.yes.click()
    assert cm.customer(acme.id).active and not cm.customer(anna.id).active
    assert "stay deactivated" in form.status.message
    assert shown(form.contacts_box) and set(form.contacts.frame["name"]) == {"Anna Müller", "Bert Öztürk"}
    buttons = {b.customer_id: b for b in form.contact_buttons.children}
    buttons[anna.id].click()
    assert cm.customer(anna.id).active and not cm.customer(bert.id).active
    assert (
        list(form.contacts.frame["name"]) == ["Bert Öztürk"]
        and "1 contact(s) still deactivated" in form.status.message
    )


def test_r21_contact_of_deactivated_company_cannot_be_activated(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    cm.deactivate(world["acme"].id)
    form = LifecycleForm(cm, world["anna"].id, "reactivate")
    assert "R21" in form.problems.value and not form.confirm.pending


def test_r23_delete_blocked_by_closed_ticket_then_transfer_all(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    anna, bert = world["anna"], world["bert"]
    t = make_ticket(anna, closed=True)
    form = LifecycleForm(cm, anna.id, "delete")
    assert "R23" in form.problems.value and list(form.blocking.frame["number"]) == [t.number]
    form.transfer_button.click()
    assert form.transfer is not None and form.transfer.only_open.value is False
    form.transfer.target.pick(bert.id)
    form.transfer.go.click()
    assert "cannot be undone" in form.confirm.question.value
    form.confirm.yes.click()
    assert form.status.kind == "ok" and "deleted" in form.status.message
    assert anna.id not in set(cm.frame("customers")["id"])
    assert cm.protocol(t.id)["old_customer_name"].iloc[-1] == "Anna Müller"


def test_r22_company_cannot_be_deleted(cm: CustomerManager, world: dict[str, Any]) -> None:
    form = LifecycleForm(cm, world["acme"].id, "delete")
    assert "R22" in form.problems.value and not form.confirm.pending


def test_r25_without_permission_nothing_happens(world: dict[str, Any], as_user: Any) -> None:
    form = LifecycleForm(as_user("alice"), world["anna"].id, "deactivate")
    assert form.status.kind == "error" and form.status.message.startswith("R25")
    assert as_user("admin").customer(world["anna"].id).active


def test_lifecycle_from_the_customer_page(cm: CustomerManager, world: dict[str, Any]) -> None:
    carl = world["carl"]
    page = CustomerPage(cm, carl.id)
    page.buttons["deactivate"].click()
    assert isinstance(page.form, LifecycleForm)
    page.form.confirm.yes.click()
    assert not cm.customer(carl.id).active and page.form is None
    assert shown(page.buttons["reactivate"]) and "deactivated" in page.header.value
    page.buttons["reactivate"].click()
    page.form.confirm.yes.click()
    assert cm.customer(carl.id).active and shown(page.buttons["deactivate"])
    page.buttons["delete"].click()
    page.form.confirm.yes.click()
    assert "does not exist" in page.header.value and "deleted" in page.status.message


def test_reactivated_company_page_keeps_the_form_for_its_contacts(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    acme = world["acme"]
    cm.deactivate(acme.id)
    page = CustomerPage(cm, acme.id)
    page.buttons["reactivate"].click()
    page.form.confirm.yes.click()
    assert isinstance(page.form, LifecycleForm) and shown(page.form.contacts_box)
    for b in list(page.form.contact_buttons.children):
        b.click()
    assert page.form is None  # every contact active again: the form closes
    assert page.contacts.frame["active"].all()


def test_standalone_form_chooses_customer_and_action(cm: CustomerManager, world: dict[str, Any]) -> None:
    priv = world["priv"]
    form = LifecycleForm(cm)
    assert shown(form.picker) and shown(form.action) and "choose a customer" in form.title.value
    form.picker.text.value = "Privat"
    form.picker.suggestions.value = priv.id
    assert form.action.value == "deactivate" and form.confirm.pending
    form.action.value = "delete"  # switch the action: its own preconditions and question
    assert "cannot be undone" in form.confirm.question.value
    form.confirm.yes.click()
    assert priv.id not in set(cm.frame("customers")["id"]) and form.customer_id is None


def test_page_hides_the_action_choice(cm: CustomerManager, world: dict[str, Any]) -> None:
    page = CustomerPage(cm, world["anna"].id)
    page.buttons["delete"].click()
    assert (
        isinstance(page.form, LifecycleForm) and not shown(page.form.action) and not shown(page.form.picker)
    )
