"""A big result in the browser: a detail search over a demo database of about 128,000 customers that
returns 100,000 rows. It shows its first page (the table pages on the server: 1,000 rows go to the
browser), "Select all" ticks every matching row and says how many, and the next rows can be reached.

Heavy (a 128,000-customer demo database, about 20 s to build; or the SQLite file $CMKIT_BIG_DEMO_DB names):
run with `-m heavy`. The times are printed (and written to test-artifacts/browser/big-result-times.txt),
never asserted.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cmkit
from cmkit.db.engine import dispose_engines
from cmkit.ui.table import Table

from .lab_helpers import open_and_run_all, shot
from .test_browser_actions import detail_search

pytestmark = [pytest.mark.browser, pytest.mark.heavy]
DEMO_SIZE = ["--customers", "120000", "--tickets", "20000"]
#: a bigger demo database built before, e.g. 1,000,000 customers:
#: cmkit demo --url sqlite:////tmp/cmkit-1m/cmkit.db --customers 1000000 --tickets 200000
DEMO_DB = os.environ.get("CMKIT_BIG_DEMO_DB")
ROWS = 100_000


@pytest.fixture
def cm(lab: Any) -> Iterator[Any]:
    conn = cmkit.connect(lab.db_url)
    yield conn
    dispose_engines()


def test_detail_search_of_100000_rows_shows_its_first_page_and_selects_all(
    page: Any, lab: Any, cm: Any, artifacts: Path
) -> None:
    start = time.perf_counter()
    result = cm.detail_search(limit=ROWS)
    query = time.perf_counter() - start
    assert len(result) == ROWS
    start = time.perf_counter()
    Table(selectable=True).show(result)
    build = time.perf_counter() - start

    form = open_and_run_all(page, lab, "01-find-customers.ipynb")
    start = time.perf_counter()
    rows = detail_search(page, form, timeout=600_000)  # click, then the first row visible
    shown = time.perf_counter() - start
    first_id = int(result["id"].iloc[0])
    rows.filter(has=page.locator(f"td:text-is('{first_id}')")).first.wait_for()
    table = form.locator(".cmkit-table").first
    assert "rows 1-1,000 of 100,000" in table.inner_text()
    status = form.locator(".cmkit-status-ok", has_text="customer(s) found").inner_text()
    in_kernel = float(re.search(r"found in ([\d.]+) s", status).group(1))  # type: ignore[union-attr]
    shot(page, form, artifacts, "12-detail-search-100000-rows.png")

    start = time.perf_counter()
    table.locator("button.widget-button", has_text="Select all").click()
    table.locator(".widget-html", has_text="100,000 selected (all 100,000 matching rows)").wait_for()
    select_all = time.perf_counter() - start
    table.locator("button.widget-button", has_text="Next rows").click()
    table.get_by_text("rows 1,001-2,000 of 100,000").wait_for()
    report = (
        f"detail search, {ROWS:,} rows: query in the test process {query:.2f} s, Table.show {build:.2f} s; "
        f"in Chromium: click to first row visible {shown:.2f} s, of which the query in the kernel "
        f"{in_kernel:.1f} s, so {shown - in_kernel:.1f} s after the query's end; select all {select_all:.2f} s"
    )
    counts = cm.customer_counts()
    total = int(counts["active"].sum() + counts["deactivated"].sum())
    report = f"{total:,} customers; " + report
    with (artifacts / "big-result-times.txt").open("a") as out:
        out.write(report + "\n")
    print(report)
