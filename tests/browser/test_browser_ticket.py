"""The ticket notebook in JupyterLab, used as an agent would: open a ticket by its number, add an additional
customer by typing its name, read the protocol entry it wrote. Screenshots in test-artifacts/browser/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .lab_helpers import choose_suggestion, open_and_run_all, shot

pytestmark = pytest.mark.browser


def _ticket_and_newcomer(cm: Any) -> tuple[Any, Any]:
    """An open ticket of an active retail contact, and an active contact of its group with a name no other
    customer has, not yet on the ticket."""
    customers = cm.frame("customers")
    contacts = customers[
        (customers["kind"] == "contact") & customers["active"] & (customers["group"] == "retail")
    ]
    tickets = cm.frame("tickets")
    t = tickets[(tickets["state"] == "open") & tickets["main_customer_id"].isin(contacts["id"])].iloc[0]
    on_ticket = set(cm.frame("ticket_customers").query("ticket_id == @t.id")["customer_id"])
    unique = customers["name"].map(customers["name"].value_counts()) == 1
    newcomer = contacts[unique.loc[contacts.index] & ~contacts["id"].isin(on_ticket)].iloc[0]
    return t, newcomer


def test_ticket_page_add_customer_and_read_the_protocol(
    page: Any, lab: Any, cm: Any, artifacts: Path
) -> None:
    t, newcomer = _ticket_and_newcomer(cm)
    form = open_and_run_all(page, lab, "05-ticket.ipynb")
    shot(page, form, artifacts, "10-ticket-notebook-ready.png")
    form.get_by_label("Ticket", exact=True).fill(str(t["number"]))
    form.get_by_role("button", name="Open ticket").click()
    form.locator(".cmkit-header", has_text=str(t["number"])).wait_for()
    form.locator("table.dataTable tbody tr", has_text="created").first.wait_for()
    shot(page, form, artifacts, "11-ticket-page-opened.png")
    choose_suggestion(form, "Add", str(newcomer["name"]), int(newcomer["id"]))
    shot(page, form, artifacts, "12-ticket-additional-customer-chosen.png")
    form.get_by_role("button", name="Add as additional customer").click()
    result = form.locator(".cmkit-status-ok", has_text="as additional customer")
    result.first.wait_for()
    entry = form.locator("table.dataTable tbody tr", has_text="customer added").filter(
        has_text=str(newcomer["name"])
    )
    entry.wait_for()
    assert "additional" in entry.inner_text()
    row = form.locator("table.dataTable tbody tr", has=page.locator(f"td:text-is('{newcomer['id']}')"))
    assert "additional" in row.first.inner_text()  # in the customers table too
    shot(page, form, artifacts, "13-ticket-customer-added-protocol.png")
    assert int(newcomer["id"]) in cm.ticket(int(t["id"])).additional_customer_ids
    # the same customer again: the refusal (R15) is shown next to the button that met it
    choose_suggestion(form, "Add", str(newcomer["name"]), int(newcomer["id"]))
    form.get_by_role("button", name="Add as additional customer").click()
    refusal = form.locator(".cmkit-status-error", has_text="R15")
    refusal.first.wait_for()
    button_box = form.get_by_role("button", name="Add as additional customer").bounding_box()
    below = refusal.nth(1).bounding_box()  # [0] is the status line at the top, [1] the one at the button
    assert 0 <= below["y"] - button_box["y"] < 120
    shot(page, form, artifacts, "14-ticket-refusal-next-to-the-button.png")
    p = cm.protocol(int(t["id"]))
    assert p.iloc[-1]["action"] == "customer_added" and p.iloc[-1]["new_customer_name"] == newcomer["name"]
