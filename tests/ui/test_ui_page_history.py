"""The customer page's history (R29: readable field changes, newest first, paged), a company's tickets
as its printout shows them (R12), and Transfer data for every contact that blocks a company (R17)."""

from __future__ import annotations

from typing import Any

from helpers import MakeTicket
from ui_helpers import shown

from cmkit import CustomerManager
from cmkit.ui import CustomerPage, LifecycleForm
from cmkit.ui.history import PAGE, changes_text, readable


def test_r29_history_shows_readable_changes_newest_first(cm: CustomerManager, world: dict[str, Any]) -> None:
    anna = world["anna"]
    cm.edit(anna.id, email="anna@new.example", tier="gold")
    cm.add_comment(anna.id, "Calls back <b>Monday</b>")
    page = CustomerPage(cm, anna.id)
    h = page.history.frame
    assert list(h["action"][:3]) == ["add comment", "edit", "create"]
    edit = h["changes"].iloc[1]
    assert "email: anna@acme.example -> anna@new.example" in edit and "tier: (empty) -> gold" in edit
    assert "{" not in edit  # field changes, not dicts
    assert h["changes"].iloc[0] == "text: Calls back <b>Monday</b>"
    assert "Calls back &lt;b&gt;Monday&lt;/b&gt;" in page.history.table.browser_html()
    assert set(h["user"]) == {"admin"} and h["when"].iloc[0].endswith("UTC")


def test_r29_history_is_paged(cm: CustomerManager, world: dict[str, Any]) -> None:
    anna = world["anna"]
    for n in range(PAGE + 4):
        cm.edit(anna.id, seats=n)
    page = CustomerPage(cm, anna.id)
    pager, table = page.history.pager, page.history.table
    assert len(table.frame) == PAGE and f"entries 1-{PAGE} of {PAGE + 5}" in pager.note.value
    assert pager.newer.disabled and not pager.older.disabled
    assert table.frame["changes"].iloc[0] == f"seats: {PAGE + 2} -> {PAGE + 3}"
    pager.older.click()
    assert len(table.frame) == 5 and pager.older.disabled and not pager.newer.disabled
    assert table.frame["action"].iloc[-1] == "create"
    pager.newer.click()
    assert len(table.frame) == PAGE


def test_changes_text_of_added_and_removed_values() -> None:
    assert changes_text(None, {"text": "hi"}) == "text: hi"
    assert changes_text({"pending": False}, {"pending": True}) == "pending: False -> True"
    assert changes_text({"fields": {"a": 1, "b": 2}}, {"fields": {"a": 1}}) == "b: 2 -> (removed)"


def test_r12_company_page_shows_the_tickets_its_printout_shows(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    acme, anna, bert = world["acme"], world["anna"], world["bert"]
    for contact in (anna, anna, bert):
        make_ticket(contact)
    opened: list[int] = []
    page = CustomerPage(cm, acme.id, on_ticket=opened.append)
    page.ticket_state.value = None
    assert "Tickets of the company</b> (0)" in page.tickets_title.value
    assert "Tickets of its contacts</b> (3)" in page.contact_tickets_title.value
    assert shown(page.contact_tickets) and "Bert Öztürk" in page.contact_tickets.browser_html()
    printed = cm.render_page(acme.id)
    assert "Tickets of the company (0)" in printed and "Tickets of its contacts (3)" in printed
    assert len(page.open_ticket.options) == 4
    page.open_ticket.value = page.open_ticket.options[1][1]
    assert opened == [page.open_ticket.options[1][1]]
    contact_page = CustomerPage(cm, anna.id)
    assert not shown(contact_page.contact_tickets) and not shown(contact_page.open_ticket)


def test_r17_transfer_all_blocking_contacts_in_one_step(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    acme, anna, bert, carl = world["acme"], world["anna"], world["bert"], world["carl"]
    t1, t2 = make_ticket(anna), make_ticket(bert)
    form = LifecycleForm(cm, acme.id, action="deactivate")
    assert form.status.kind == "error" and shown(form.transfer_button)
    form.transfer_button.click()
    transfer = form.transfer
    assert transfer is not None and transfer.sources == [anna.id, bert.id]
    assert "From all 2 of" in transfer.source_label.value
    transfer.target.pick(carl.id)
    assert sorted(transfer.table.frame["id"]) == [t1.id, t2.id] and not transfer.go.disabled
    assert cm.ticket(t1.id).main_customer_id == anna.id  # the preview is a dry run
    transfer.go.click()
    assert {cm.ticket(t.id).main_customer_id for t in (t1, t2)} == {carl.id}
    assert form.confirm.pending  # nothing blocks the company now
    form.confirm.yes.click()
    assert not cm.customer(acme.id).active


def test_readable_history_of_nothing_is_empty(cm: CustomerManager) -> None:
    assert list(readable(cm.history(customer_id=999)).columns) == [
        "id",
        "when",
        "user",
        "action",
        "what",
        "changes",
    ]
