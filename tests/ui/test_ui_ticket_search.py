"""Finding tickets in the forms: the ticket search form (R28 criteria for tickets), ticket suggestions in
the search box (R26), quick-search ticket rows with their customer opening the ticket page (R27), and
every cut list saying "first N of M" with a way to more."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import MakeTicket
from ui_helpers import shown

from cmkit import CustomerManager
from cmkit.ui import CustomerPage, SearchForm, TicketPage, TicketSearchForm, ticket_search
from cmkit.ui import search as search_ui
from cmkit.ui.listing import cut_note


@pytest.fixture
def desk(cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket) -> dict[str, Any]:
    """Anna's open printer ticket, Bert's closed laptop ticket (Bert deactivated), Pete's partner ticket."""
    printer = make_ticket(world["anna"], subject="Printer jams")
    laptop = make_ticket(world["bert"], subject="Laptop slow", closed=True)
    partner = make_ticket(world["pete"], subject="Contract renewal")
    cm.deactivate(world["bert"].id)
    return {**world, "printer": printer, "laptop": laptop, "partner": partner}


def test_r28_ticket_search_by_each_criterion(cm: CustomerManager, desk: dict[str, Any]) -> None:
    form = TicketSearchForm(cm)
    form.search_button.click()  # no criterion
    assert form.status.kind == "error" and form.status.message.startswith("criteria:")
    form.customer_name.value = "mül"
    form.search_button.click()
    assert list(form.results["id"]) == [desk["printer"].id] and form.status.kind == "ok"
    assert "Anna Müller" in form.table.browser_html()  # the customer column
    form.customer_name.value = ""
    form.subject.value = "laptop"
    form.search_button.click()
    assert list(form.results["id"]) == [desk["laptop"].id]
    form.subject.value = ""
    form.number.value = desk["partner"].number
    form.search_button.click()
    assert list(form.results["id"]) == [desk["partner"].id]
    form.number.value = ""
    form.queue.value = "partnerdesk"
    form.search_button.click()
    assert list(form.results["id"]) == [desk["partner"].id]
    form.queue.value = ""
    form.state.value = "closed"
    form.search_button.click()
    assert list(form.results["id"]) == [desk["laptop"].id]


def test_r28_ticket_search_include_deactivated_and_errors_clear_results(
    cm: CustomerManager, desk: dict[str, Any]
) -> None:
    form = TicketSearchForm(cm)
    form.customer_name.value = "Öztürk"
    form.search_button.click()
    assert list(form.results["id"]) == [desk["laptop"].id]  # a deactivated customer's closed ticket
    form.include_deactivated.value = False
    form.search_button.click()
    assert form.results.empty and form.table.frame.empty
    form.include_deactivated.value = True
    form.search_button.click()
    assert len(form.results) == 1
    form.number.value = "not a number"
    form.search_button.click()
    assert form.status.kind == "error" and form.status.message.startswith("number:")
    assert form.results.empty  # no stale results under an error


def test_ticket_search_result_opens_the_ticket_page(cm: CustomerManager, desk: dict[str, Any]) -> None:
    form = TicketSearchForm(cm)
    form.customer_name.value = "anna"
    form.search_button.click()
    assert shown(form.open_result)
    form.open_result.value = desk["printer"].id
    assert isinstance(form.page, TicketPage) and form.page.ticket.id == desk["printer"].id


def test_first_n_of_m_in_ticket_search(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ticket_search, "PAGE", 2)
    for n in range(3):
        make_ticket(world["anna"], subject=f"Issue {n}")
    form = TicketSearchForm(cm)
    form.customer_name.value = "anna"
    form.search_button.click()
    assert len(form.results) == 2 and shown(form.more)
    assert "first 2 of more than 2 tickets" in form.more.note.value
    form.more.button.click()
    assert len(form.results) == 3 and not shown(form.more)


def test_cut_note_says_first_n_of_m() -> None:
    assert cut_note(50, 120, "tickets") == "first 50 of 120 tickets"
    assert cut_note(50, None, "tickets") == "first 50 of more than 50 tickets"
    assert cut_note(50, 50) == "" and cut_note(3, 3) == ""


def test_r27_quick_search_ticket_rows_show_the_customer_and_open_the_ticket(
    cm: CustomerManager, desk: dict[str, Any]
) -> None:
    form = SearchForm(cm)
    form.find.text.value = "printer"
    form.search_button.click()
    assert list(form.ticket_results["id"]) == [desk["printer"].id]
    assert "Anna Müller" in form.tickets.browser_html()  # the customer column is shown
    form.open_ticket.value = desk["printer"].id
    assert isinstance(form.ticket_page, TicketPage) and form.ticket_page.ticket.id == desk["printer"].id
    assert form.page_area.children[1] is form.ticket_page
    form.ticket_page.buttons["open"].click()  # the customer column's customer opens its page
    assert isinstance(form.page, CustomerPage) and form.page.customer.id == desk["anna"].id


def test_r27_quick_search_lists_are_cut_with_first_n_and_more(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_ui, "QUICK_LIMIT", 2)
    for n in range(3):
        make_ticket(world["anna"], subject=f"Printer {n}")
    form = SearchForm(cm)
    form.find.text.value = "printer"
    form.search_button.click()
    assert len(form.ticket_results) == 2 and shown(form.more_tickets)
    assert "first 2 of more than 2 tickets" in form.more_tickets.note.value
    assert not shown(form.more_customers)
    form.more_tickets.button.click()
    assert len(form.ticket_results) == 3 and not shown(form.more_tickets)


def test_r26_search_box_suggests_tickets_too_each_opening_its_page(
    cm: CustomerManager, desk: dict[str, Any]
) -> None:
    form = SearchForm(cm)
    form.find.text.value = "oezt"  # Bert Öztürk is deactivated: no customer, but his closed ticket
    assert form.find.found.empty
    assert list(form.ticket_suggestions.found["id"]) == [desk["laptop"].id]
    assert shown(form.ticket_suggestions)
    form.ticket_suggestions.list.value = desk["laptop"].id
    assert isinstance(form.ticket_page, TicketPage) and form.ticket_page.ticket.id == desk["laptop"].id
    form.find.text.value = "mül"  # both kinds: the customer and her ticket
    assert desk["anna"].id in set(form.find.found["id"])
    assert list(form.ticket_suggestions.found["id"]) == [desk["printer"].id]
    form.find.text.value = ""
    assert not shown(form.ticket_suggestions)


def test_r28_detail_search_results_are_cut_with_first_n_and_more(
    cm: CustomerManager, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_ui, "DETAIL_LIMIT", 2)
    form = SearchForm(cm)
    form.group.value = "retail"
    form.kind.value = "contact"
    form.detail_button.click()
    assert len(form.results) == 2 and shown(form.more_customers)
    assert "first 2 of more than 2 customers" in form.more_customers.note.value
    form.more_customers.button.click()
    assert len(form.results) == 3 and not shown(form.more_customers)  # anna, bert, carl
    assert form.mode == "detail"
