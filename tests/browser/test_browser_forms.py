"""The notebooks in JupyterLab, used as a person would: open, Run All, type, tick, click, read the page.

Each step leaves a screenshot in test-artifacts/browser/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from .lab_helpers import choose_suggestion, open_and_run_all, shot

pytestmark = pytest.mark.browser


def _open_tickets(cm: Any) -> pd.DataFrame:
    t = cm.frame("tickets")
    return t[t["state"] == "open"]


def _contacts(cm: Any, active: bool = True) -> pd.DataFrame:
    c = cm.frame("customers", kind="contact")
    return c[c["active"] == active].sort_values("id")


def test_search_include_deactivated_shows_italics(page: Any, lab: Any, cm: Any, artifacts: Path) -> None:
    gone = _contacts(cm, active=False).iloc[0]
    part = f"{gone['first_name']} {gone['last_name'][:3]}"  # part of the name
    form = open_and_run_all(page, lab, "01-find-customers.ipynb")
    shot(page, form, artifacts, "01-search-ready.png")
    find = form.get_by_label("Find", exact=True)
    find.click()
    find.press_sequentially(part, delay=40)
    form.locator(".widget-select select option").first.wait_for()
    shot(page, form, artifacts, "02-search-suggestions-as-you-type.png")
    form.get_by_label("Include deactivated").check()
    row = form.locator("table.dataTable tbody tr", has=page.locator(f"td:text-is('{gone['id']}')"))
    row.wait_for()
    assert row.evaluate("r => getComputedStyle(r.querySelector('td')).fontStyle") == "italic"
    assert gone["name"] in row.inner_text()
    shot(page, form, artifacts, "03-search-include-deactivated-in-italics.png")


def test_customer_page_edit_save(page: Any, lab: Any, cm: Any, artifacts: Path) -> None:
    c = _contacts(cm).query("group == 'retail'").iloc[0]
    new_email = "browser.check@example.org"
    form = open_and_run_all(page, lab, "02-customer-page.ipynb")
    choose_suggestion(form, "Open", str(c["name"]), int(c["id"]))
    header = form.locator(".cmkit-header")
    header.get_by_text(str(c["name"])).wait_for()
    shot(page, form, artifacts, "04-customer-page-view-mode.png")
    form.get_by_role("button", name="Edit").click()
    email = form.get_by_label("email", exact=True)
    email.wait_for()
    assert (
        form.locator(".cmkit-edit").first.evaluate("e => getComputedStyle(e).backgroundColor")
        == "rgb(255, 244, 184)"
    )
    email.fill(new_email)
    shot(page, form, artifacts, "05-customer-page-edit-mode.png")
    form.get_by_role("button", name="Save changes").click()
    form.locator(".cmkit-status-ok", has_text="saved email").wait_for()
    form.locator(".cmkit-view", has_text=new_email).wait_for()
    shot(page, form, artifacts, "06-customer-page-saved.png")
    assert cm.customer(int(c["id"])).fields["email"] == new_email


def test_transfer_only_open_tickets(page: Any, lab: Any, cm: Any, artifacts: Path) -> None:
    tickets = cm.frame("tickets")
    contacts = _contacts(cm)
    states = tickets.groupby("main_customer_id")["state"].agg(set)
    both = [cid for cid, s in states.items() if s == {"open", "closed"} and cid in set(contacts["id"])]
    source = contacts[contacts["id"] == both[0]].iloc[0]
    target = contacts[(contacts["group"] == source["group"]) & (contacts["id"] != source["id"])].iloc[0]
    mine = tickets[tickets["main_customer_id"] == source["id"]]
    form = open_and_run_all(page, lab, "03-transfer-tickets.ipynb")
    choose_suggestion(form, "From", str(source["name"]), int(source["id"]))
    choose_suggestion(form, "To", str(target["name"]), int(target["id"]))
    only_open = form.get_by_label("Only transfer open tickets")
    if not only_open.is_checked():
        only_open.check()
    preview = form.locator("table.dataTable tbody tr")
    first_open = mine[mine["state"] == "open"]["number"].iloc[0]
    preview.filter(has_text=first_open).wait_for()
    assert set(preview.locator("td:nth-child(4)").all_inner_texts()) == {"open"}  # the state column
    assert set(mine[mine["state"] == "open"]["number"]) <= set(
        preview.locator("td:nth-child(2)").all_inner_texts()
    )
    shot(page, form, artifacts, "07-transfer-preview-open-only.png")
    form.get_by_role("button", name="Transfer data and continue").click()
    form.locator(".cmkit-status-ok", has_text="transferred").wait_for()
    shot(page, form, artifacts, "08-transfer-done.png")
    after = cm.frame("tickets").set_index("id")
    for t in mine.itertuples():
        expected = target["id"] if t.state == "open" else source["id"]
        assert after.loc[t.id, "main_customer_id"] == expected, t.number


def test_deactivate_refused_lists_the_blocking_ticket(page: Any, lab: Any, cm: Any, artifacts: Path) -> None:
    contacts = _contacts(cm)
    open_t = _open_tickets(cm)
    open_t = open_t[open_t["main_customer_id"].isin(contacts["id"])].iloc[0]
    c = contacts[contacts["id"] == open_t["main_customer_id"]].iloc[0]
    form = open_and_run_all(page, lab, "04-deactivate-reactivate-delete.ipynb")
    choose_suggestion(form, "Customer", str(c["name"]), int(c["id"]))
    form.locator(".cmkit-problems", has_text="R18").wait_for()
    blocking = form.locator("table.dataTable tbody tr", has_text=str(open_t["number"]))
    blocking.wait_for()
    assert form.get_by_role("button", name="Transfer data...").is_visible()
    shot(page, form, artifacts, "09-deactivate-refused-blocking-ticket.png")
    assert cm.customer(int(c["id"])).active
