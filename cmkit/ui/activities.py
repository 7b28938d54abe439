"""The activities box of a customer page (R13) and Print (R12)."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import pandas as pd

from cmkit.errors import ValidationError
from cmkit.facade import CustomerManager
from cmkit.ui.common import StatusLine, Table, download_link, esc, handles, show, tooltip


def parse_params(text: str) -> dict[str, Any]:
    """'queue=helpdesk, subject=Call back' -> {'queue': 'helpdesk', 'subject': 'Call back'}; true/false as bools."""
    params: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ValidationError(
                "params", f"write parameters as name=value, separated by commas; got {part!r}"
            )
        value = value.strip()
        params[key.strip()] = {"true": True, "false": False}.get(value.lower(), value)
    return params


def result_table(result: object) -> pd.DataFrame | None:
    """The table in an activity's result (a DataFrame, or an Outcome's changes), if there is one."""
    if isinstance(result, pd.DataFrame):
        return result
    changes = getattr(result, "changes", None)
    return changes if isinstance(changes, pd.DataFrame) else None


def result_html(result: object) -> str:
    """An activity's result for the page, escaped: text as preformatted; a table's is shown by result_table."""
    if result is None or isinstance(result, pd.DataFrame):
        return ""
    if isinstance(result, str):
        return f"<pre>{html.escape(result)}</pre>"
    changes = getattr(result, "changes", None)
    if isinstance(changes, pd.DataFrame):
        state = "applied" if getattr(result, "applied", False) else "not applied"
        return f"<p>{state}: {len(changes)} change(s)</p>"
    number = getattr(result, "number", None)
    if number is not None:
        return f"<p>ticket {esc(number)}: {esc(getattr(result, 'subject', ''))}</p>"
    return f"<pre>{esc(repr(result))}</pre>"


class ActivitiesBox(w.VBox):
    """The activities offered for this customer (by kind, group and permission), run with one click."""

    def __init__(
        self,
        cm: CustomerManager,
        customer_id: int,
        status: StatusLine | None = None,
        on_done: Callable[[object], None] | None = None,
    ) -> None:
        self.cm, self.customer_id, self.on_done = cm, int(customer_id), on_done
        self.status = status or StatusLine()
        self.choose = w.Dropdown(description="Activity", options=[], layout=w.Layout(width="340px"))
        self.params = w.Text(placeholder="optional: name=value, name=value", layout=w.Layout(width="300px"))
        self.run_button = w.Button(description="Run", icon="play", button_style="primary")
        self.run_button.on_click(self._run)
        self.output = w.HTML()
        self.table = Table(empty="no rows", cm=cm)
        show(self.table, False)
        self.result: object = None
        super().__init__([w.HBox([self.choose, self.params, self.run_button]), self.output, self.table])
        self.add_class("cmkit-activities")
        self.refresh()

    def refresh(self) -> None:
        """Offer the activities for the customer now; without any (or when running them is refused,
        `cm.why_not`), the box says so and its inputs are disabled."""
        refusals = self.cm.why_not("run_activity", self.customer_id)
        names = [] if refusals else self.cm.activities(self.customer_id)
        self.choose.options = names
        if names and self.choose.value not in names:
            self.choose.value = names[0]
        for widget in (self.choose, self.params, self.run_button):
            widget.disabled = not names
            widget.tooltip = tooltip(refusals)
        if not names:
            why = tooltip(refusals) or "no activities offered for this customer (R13)"
            self.output.value = f"<i>{esc(why)}</i>"

    @handles
    def _run(self, _b: object = None) -> None:
        name = self.choose.value
        if not name:
            raise ValidationError("activity", "choose an activity first")
        params = parse_params(self.params.value)
        with self.status.busy(f"running {name}"):
            self.result = self.cm.run_activity(self.customer_id, name, **params)
        self.output.value = result_html(self.result)
        table = result_table(self.result)
        self.table.show(table if table is not None else pd.DataFrame())
        show(self.table, table is not None)
        self.status.ok(f"activity {name} done")
        if self.on_done:
            self.on_done(self.result)


class PrintBox(w.VBox):
    """Print: the customer page as PDF (a download link) and as printable HTML (a download link)."""

    def __init__(self, cm: CustomerManager, customer_id: int, status: StatusLine | None = None) -> None:
        self.cm, self.customer_id = cm, int(customer_id)
        self.status = status or StatusLine()
        self.links = w.HTML()
        self.pdf: bytes | None = None
        self.html: str | None = None
        super().__init__([self.links])

    @handles
    def render(self, _b: object = None) -> None:
        """Render the page as HTML and as PDF and show both links."""
        name = f"customer-{self.customer_id}"
        self.pdf, self.html = None, None
        with self.status.busy("preparing the printable page", steps=2) as step:
            page = self.cm.render_page(self.customer_id, format="html")
            self.html = str(page)
            html_link = download_link(
                self.html.encode("utf-8"), f"{name}.html", "text/html", "Printable HTML page"
            )
            self.links.value = html_link
            step("rendering the PDF")
            pdf = self.cm.render_page(self.customer_id, format="pdf")
            assert isinstance(pdf, bytes), "render_page(format='pdf') gives bytes"
            self.pdf = pdf
        pdf_link = download_link(self.pdf, f"{name}.pdf", "application/pdf", "PDF")
        self.links.value = f"Print: {pdf_link} &middot; {html_link} <small>(open the HTML page and print it from the browser)</small>"
        self.status.ok(f"printable page ready ({len(self.pdf):,} bytes PDF)")
