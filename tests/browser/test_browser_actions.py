"""Search actions in JupyterLab, as a person uses them: detail search, tick three rows in the table,
deactivate them (plan, confirm), and export the whole result as a download that pandas reads back.

Screenshots of the plan and of the result go to test-artifacts/browser/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import cmkit
from cmkit.db.engine import dispose_engines

from .lab_helpers import open_and_run_all, shot

pytestmark = pytest.mark.browser
RESULT_COLUMNS = ["id", "name", "kind", "group", "active"]
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def cm(lab: Any) -> Iterator[Any]:
    conn = cmkit.connect(lab.db_url)
    yield conn
    dispose_engines()


def _free_contacts(cm: Any, result: pd.DataFrame, first: int) -> list[int]:
    """Active contacts among the first `first` rows of `result` that no open ticket names (R18 allows them)."""
    links = cm.frame("ticket_customers").merge(
        cm.frame("tickets")[["id", "state"]], left_on="ticket_id", right_on="id"
    )
    busy = set(links.loc[links["state"] == "open", "customer_id"])
    head = result.head(first)
    ok = head[(head["kind"] == "contact") & head["active"].astype(bool) & ~head["id"].isin(busy)]
    return [int(i) for i in ok["id"]]


def detail_search(page: Any, form: Any, timeout: int = 60_000) -> Any:
    """Open the detail search and run it without criteria; the result table's rows."""
    form.locator(".jupyter-widget-Collapse-header, .lm-TabBar-tab, .p-Collapse-header").filter(
        has_text="Detail search"
    ).first.click()
    form.locator("button.widget-button", has_text="Detail search").click()
    form.locator(".cmkit-status-ok", has_text="customer(s) found").wait_for(timeout=timeout)
    rows = form.locator(".cmkit-table").first.locator("table.dataTable tbody tr")
    rows.first.wait_for()
    return rows


def test_detail_search_tick_three_rows_deactivate_and_export(
    page: Any, lab: Any, cm: Any, artifacts: Path, tmp_path: Path
) -> None:
    result = cm.detail_search(limit=100_000)
    chosen = _free_contacts(cm, result, 24)[:3]  # on the first page (the hostile row comes first)
    assert len(chosen) == 3, "the demo data has free contacts on the first page"
    evil = cm.create_contact("private", first_name=XSS, last_name=XSS, email="evil@example.org")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    form = open_and_run_all(page, lab, "01-find-customers.ipynb")
    rows = detail_search(page, form)

    # customer data is text in the table: filter for it (over every row, in Python), see it, run no script
    search_box = form.get_by_placeholder("filter: text in any column").first
    search_box.fill("onerror")
    search_box.press("Enter")
    hostile = rows.filter(has=page.locator(f"td:text-is('{evil.id}')")).first
    hostile.wait_for()
    assert XSS in hostile.inner_text() and hostile.locator("img").count() == 0 and not dialogs
    search_box.fill("")
    search_box.press("Enter")
    rows.filter(has=page.locator(f"td:text-is('{chosen[0]}')")).first.wait_for()
    for n, cid in enumerate(chosen):
        row = rows.filter(has=page.locator(f"td:text-is('{cid}')")).first
        row.click(modifiers=["Control"] if n else [])
        # the kernel has the tick before the next click (as with a person's pace)
        form.locator(".cmkit-table", has_text=f"{n + 1} selected").first.wait_for()
    form.locator(".cmkit-actions").first.locator(
        "button.widget-button", has_text="Plan"
    ).click()  # (a button with an icon)
    form.locator(".cmkit-actions", has_text="Plan: deactivate").first.wait_for()
    confirm = form.locator(".cmkit-confirm", has_text="Deactivate: 3 row(s)").first
    confirm.wait_for()
    assert all(cm.customer(c).active for c in chosen), "the plan changes nothing"
    shot(page, form, artifacts, "10-actions-deactivate-plan.png")
    confirm.locator("button.widget-button", has_text="Deactivate").click()
    form.locator(".cmkit-status-ok", has_text="Deactivate: done for 3 row(s)").wait_for(timeout=60_000)
    shot(page, form, artifacts, "11-actions-deactivate-done.png")
    assert [cm.customer(c).active for c in chosen] == [False, False, False]
    log = cm.history()
    assert log.loc[log["customer_id"].isin(chosen) & (log["action"] == "deactivate"), "run_id"].nunique() == 1

    # export: the whole result (not only the page shown), as the form has it after the action
    table = form.locator(".cmkit-table").first
    table.locator("button.widget-button", has_text="Export").click()
    link = table.locator("a.cmkit-download")
    link.wait_for(timeout=60_000)
    with page.expect_download() as info:
        link.click()
    path = tmp_path / "export.csv"
    info.value.save_as(path)
    got = pd.read_csv(path)
    expected = cm.detail_search(limit=100_000)
    assert len(got) == len(expected) > 25 and not set(chosen) & set(got["id"])
    assert evil.name in set(got["name"]) and not dialogs
    pd.testing.assert_frame_equal(
        got[RESULT_COLUMNS], expected[RESULT_COLUMNS].reset_index(drop=True), check_dtype=False
    )
