"""What only a browser shows of the forms: labels not cut, disabled buttons grey (a disabled Delete does
not look like one that works), dates typed as YYYY-MM-DD, the rules' advice naming the form's buttons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import cmkit
from cmkit.db.engine import dispose_engines

from .lab_helpers import choose_suggestion, open_and_run_all, shot

pytestmark = pytest.mark.browser

GREY = "rgb(230, 230, 230)"


@pytest.fixture
def cm(lab: Any) -> Any:
    conn = cmkit.connect(lab.db_url)
    yield conn
    dispose_engines()


def test_page_labels_fit_and_disabled_buttons_look_disabled(
    page: Any, lab: Any, cm: Any, artifacts: Path
) -> None:
    customers = cm.frame("customers", kind="contact")
    tickets = cm.frame("tickets")
    busy = tickets[tickets["state"] == "open"]["main_customer_id"]
    c = customers[customers["active"] & customers["id"].isin(busy) & (customers["group"] == "retail")].iloc[0]
    form = open_and_run_all(page, lab, "02-customer-page.ipynb")
    choose_suggestion(form, "Open", str(c["name"]), int(c["id"]))
    form.locator(".cmkit-header").get_by_text(str(c["name"])).wait_for()
    comments = form.locator(".cmkit-comments")
    delete = comments.get_by_role("button", name="Delete")
    assert delete.is_disabled()  # no comment chosen
    assert delete.evaluate("b => getComputedStyle(b).backgroundColor") == GREY
    enabled = form.locator(".cmkit-header ~ .widget-hbox").get_by_role("button", name="Edit")
    assert enabled.evaluate("b => getComputedStyle(b).backgroundColor") != GREY
    cut = form.evaluate(
        """f => [...f.querySelectorAll('button, .widget-label')]
            .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
            .map(e => e.textContent.trim())"""
    )
    assert cut == [], f"labels cut: {cut}"
    since = comments.get_by_label("from", exact=True)
    assert since.get_attribute("placeholder") == "YYYY-MM-DD" and since.get_attribute("type") == "text"
    shot(page, comments, artifacts, "10-comments-disabled-delete-iso-dates.png")
    form.get_by_role("button", name="Deactivate").click()
    problems = form.locator(".cmkit-problems", has_text="R18")
    problems.wait_for()
    assert "Transfer data..." in problems.inner_text() and "transfer_tickets" not in problems.inner_text()
    shot(page, form.locator(".cmkit-lifecycle"), artifacts, "11-deactivate-advice-names-the-button.png")
