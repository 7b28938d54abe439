"""The search form: suggestions as you type (R26), quick search (R27), detail search with include
deactivated (R28), results in italics for deactivated customers, opening a result's page."""

from __future__ import annotations

from typing import Any

from helpers import MakeTicket
from ui_helpers import shown

from cmkit import CustomerManager
from cmkit.ui import CustomerPage, SearchForm

XSS = "<img src=x onerror=alert(1)>"


def test_r26_suggestions_as_you_type_and_choosing_opens_the_page(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    form = SearchForm(cm)
    form.find.text.value = "muel"
    assert world["anna"].id in set(form.find.found["id"])
    assert shown(form.find.suggestions)
    labels = [label for label, _ in form.find.suggestions.options]
    assert any("Anna Müller" in label for label in labels)
    form.find.suggestions.value = world["anna"].id  # choose the suggestion
    assert isinstance(form.page, CustomerPage) and form.page.customer.id == world["anna"].id


def test_r26_deactivated_customers_are_not_suggested(cm: CustomerManager, world: dict[str, Any]) -> None:
    cm.deactivate(world["carl"].id)
    form = SearchForm(cm)
    form.find.text.value = "Zand"
    assert world["carl"].id not in set(form.find.found["id"])
    assert "no matching customer" in form.find.chosen.value


def test_r27_quick_search_finds_customers_and_tickets(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    t = make_ticket(world["anna"], subject="Drucker druckt nicht")
    form = SearchForm(cm)
    form.find.text.value = "Drucker"
    form.search_button.click()
    assert form.status.kind == "ok" and form.mode == "quick"
    assert t.number in set(form.ticket_results["number"]) and shown(form.tickets)
    form.find.text.value = "Müller"
    form.search_button.click()
    assert world["anna"].id in set(form.results["id"])
    assert "Anna Müller" in form.table.browser_html()


def test_r28_include_deactivated_shows_them_in_italics(cm: CustomerManager, world: dict[str, Any]) -> None:
    carl = world["carl"]
    cm.deactivate(carl.id)
    form = SearchForm(cm)
    form.find.text.value = "Zander"
    form.search_button.click()
    assert carl.id not in set(form.results["id"])
    form.include_deactivated.value = True  # ticking it searches again
    assert form.mode == "detail" and carl.id in set(form.results["id"])
    assert form.table.italic_ids() == [carl.id]
    assert "deactivated" in form.status.message
    form.include_deactivated.value = False
    assert carl.id not in set(form.results["id"])


def test_r28_detail_search_by_group_kind_and_field(cm: CustomerManager, world: dict[str, Any]) -> None:
    form = SearchForm(cm)
    form.group.value = "retail"
    form.kind.value = "company"
    form.detail_button.click()
    assert set(form.results["name"]) == {"Acme GmbH", "Zeta AG"}
    form.fields[0].value = "city"
    form.values[0].value = "köln"
    form.detail_button.click()
    assert list(form.results["name"]) == ["Acme GmbH"]
    form.values[0].value = "W*"
    form.detail_button.click()
    assert list(form.results["name"]) == ["Zeta AG"]
    form.clear_button.click()
    assert form.group.value == "" and form.fields[0].value == ""


def test_r28_detail_search_by_company(cm: CustomerManager, world: dict[str, Any]) -> None:
    form = SearchForm(cm)
    form.company.pick(world["acme"].id)
    form.detail_button.click()
    assert set(form.results["name"]) == {"Anna Müller", "Bert Öztürk"}


def test_choosing_a_result_opens_its_page(cm: CustomerManager, world: dict[str, Any]) -> None:
    form = SearchForm(cm)
    form.group.value = "retail"
    form.detail_button.click()
    assert shown(form.open_result)
    form.open_result.value = world["zeta"].id
    assert form.page is not None and form.page.customer.id == world["zeta"].id
    form.open_result.value = world["acme"].id  # the same page shows the next one
    assert form.page.customer.id == world["acme"].id and len(form.page_area.children) == 2


def test_search_results_escape_customer_data(cm: CustomerManager, world: dict[str, Any]) -> None:
    cm.create_contact("private", first_name="Eve", last_name=XSS)
    form = SearchForm(cm)
    form.group.value = "private"
    form.detail_button.click()
    out = form.table.browser_html()
    assert "<img" not in out and "&lt;img src=x onerror=alert(1)&gt;" in out
    form.find.text.value = "Eve"
    # option labels are plain text: the list shows them as textContent, never as HTML
    assert any(XSS in label for label, _ in form.find.suggestions.options)


def test_empty_search_says_what_to_do(cm: CustomerManager, world: dict[str, Any]) -> None:
    form = SearchForm(cm)
    form.search_button.click()
    assert form.status.kind == "info" and "type some text" in form.status.message


def test_r28_picker_with_deactivated_finds_them(cm: CustomerManager, world: dict[str, Any]) -> None:
    from cmkit.ui import LifecycleForm

    cm.deactivate(world["carl"].id)
    form = LifecycleForm(cm)
    form.picker.text.value = "Zand"
    assert world["carl"].id in set(form.picker.found["id"])
    form.picker.suggestions.value = world["carl"].id
    assert form.action.value == "reactivate" and form.confirm.pending
