"""Driving JupyterLab as a person would: open a notebook, run all cells, find a form's widgets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

IDLE = ".jp-StatusBar-TextItem:has-text('Idle')"


def open_and_run_all(page: Any, lab: Any, notebook: str) -> Any:
    """Open `notebook`, wait for its kernel, run all cells; return the locator of the form's output area."""
    page.goto(lab.notebook_url(notebook) + "&reset")  # reset: no tabs left open by an earlier test
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.locator(".jp-Notebook .jp-Cell").first.wait_for()
    page.locator(IDLE).first.wait_for(timeout=60_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    form = panel.locator(".jp-OutputArea-output .widget-vbox").first
    form.wait_for(timeout=60_000)
    page.locator(IDLE).first.wait_for(timeout=60_000)
    return form


def shot(page: Any, target: Any, folder: Path, name: str) -> str:
    """A screenshot of `target` (a locator) into `folder`; returns the file name."""
    target.scroll_into_view_if_needed()
    path = folder / name
    target.screenshot(path=str(path))
    return path.name


def choose_suggestion(form: Any, label: str, text: str, customer_id: int) -> None:
    """Type `text` into the text field labelled `label` and pick customer `customer_id` from the suggestions.

    The suggestions follow every keystroke; a late answer to an earlier keystroke may replace the list
    just after a pick, so the pick is repeated until the form says the customer is chosen.
    """
    field = form.get_by_label(label, exact=True)
    field.click()
    field.press_sequentially(text, delay=30)
    box = field.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]")
    listbox = box.locator(".widget-select select")
    chosen = box.locator(".widget-html", has_text=f"#{customer_id})")
    for _ in range(5):
        option = listbox.locator("option", has_text=f"#{customer_id})").first
        option.wait_for(state="attached")
        listbox.select_option(value=option.get_attribute("value"))
        try:
            chosen.filter(has_text="chosen:").wait_for(timeout=3_000)
            return
        except Exception:  # noqa: BLE001 - the list was replaced meanwhile: pick again
            continue
    raise AssertionError(f"could not choose customer #{customer_id} in the field {label!r}")
