"""The activities box of a customer page (R13) and Print (R12)."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import pandas as pd

from cmkit.errors import ValidationError
from cmkit.facade import CustomerManager
from cmkit.ui.common import LABELLED, Confirm, StatusLine, button, download_link, esc, handles, show, tooltip
from cmkit.ui.table import Table
from cmkit.values import ActivityInfo, ActivityParam


def _param_input(p: ActivityParam) -> w.ValueWidget:
    """A field for one activity parameter, showing its default: a checkbox for a flag, text otherwise."""
    label = p.name.replace("_", " ") + (" *" if p.required else "")
    if p.kind == "flag":
        return w.Checkbox(value=bool(p.default), description=label, indent=False)
    if p.default is None or p.default == ():
        hint = "required" if p.required else "empty: the activity decides"
        value = ""
    else:
        hint = ""
        value = ", ".join(map(str, p.default)) if p.kind == "list" else str(p.default)
    if p.kind == "list":
        hint = "values separated by commas" + (f"; {hint}" if hint else "")
    return w.Text(
        value=value, placeholder=hint, description=label, style=LABELLED, layout=w.Layout(width="420px")
    )


def _param_value(p: ActivityParam, widget: w.ValueWidget) -> Any:
    """The value entered for `p` (the NO_VALUE marker when left empty: the activity's default applies)."""
    value = widget.value
    if p.kind == "flag":
        return bool(value)
    text = str(value).strip()
    if not text:
        return NO_VALUE
    if p.kind == "list":
        return [part.strip() for part in text.split(",") if part.strip()]
    if p.kind == "number":
        try:
            return float(text) if "." in text else int(text)
        except ValueError:
            raise ValidationError(p.name, f"must be a number, got {text!r}") from None
    return text


NO_VALUE = object()


class ParamFields(w.VBox):
    """One field per parameter of an activity, each filled with its default (`offer(info)`), and the
    values entered (`values()`): the fields left empty are not passed, so the activity's default applies."""

    def __init__(self) -> None:
        self.info: ActivityInfo | None = None
        self.inputs: dict[str, w.ValueWidget] = {}
        super().__init__()

    def offer(self, info: ActivityInfo | None) -> None:
        self.info = info
        self.inputs = {p.name: _param_input(p) for p in (info.params if info else ())}
        self.children = list(self.inputs.values())

    def values(self) -> dict[str, Any]:
        if self.info is None:
            return {}
        entered = {p.name: _param_value(p, self.inputs[p.name]) for p in self.info.params}
        return {k: v for k, v in entered.items() if v is not NO_VALUE}


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
    """The activities offered for this customer (by kind, group and permission): each parameter a field
    with its default, Run (after a question for an activity that creates something)."""

    def __init__(
        self,
        cm: CustomerManager,
        customer_id: int,
        status: StatusLine | None = None,
        on_done: Callable[[object], None] | None = None,
    ) -> None:
        self.cm, self.customer_id, self.on_done = cm, int(customer_id), on_done
        self.status = StatusLine(forward=status)  # next to Run, and on the page's status line
        self.choose = w.Dropdown(
            description="Activity", options=[], style=LABELLED, layout=w.Layout(width="340px")
        )
        self.choose.observe(lambda _c: self._offer_params(), "value")
        self.about = w.HTML()
        self.fields = ParamFields()
        self.info: ActivityInfo | None = None
        self.run_button = button("Run", "play", "primary")
        self.run_button.on_click(self._run)
        self.confirm = Confirm()
        self.output = w.HTML()
        self.table = Table(empty="no rows", cm=cm)
        show(self.table, False)
        self.result: object = None
        super().__init__(
            [
                w.HBox([self.choose, self.run_button]),
                self.about,
                self.fields,
                self.confirm,
                self.status,
                self.output,
                self.table,
            ]
        )
        self.add_class("cmkit-activities")
        self.refresh()

    def refresh(self) -> None:
        """Offer the activities for the customer now; without any (or when running them is refused,
        `cm.why_not`), the box says so and its inputs are disabled."""
        refusals = self.cm.why_not("run_activity", self.customer_id)
        names = [] if refusals else self.cm.activities(self.customer_id)
        if list(self.choose.options) != names:  # the chosen activity and its entered parameters stay
            self.choose.options = names
        if self.choose.value is None and names:
            self.choose.value = names[0]  # choosing one offers its parameters
        if self.info is None or self.info.name != self.choose.value:
            self._offer_params()
        for widget in (self.choose, self.run_button):
            widget.disabled = not names
            widget.tooltip = tooltip(refusals)
        if not names:
            why = tooltip(refusals) or "no activities offered for this customer (R13)"
            self.output.value = f"<i>{esc(why)}</i>"

    @handles
    def _offer_params(self) -> None:
        """The chosen activity's description and one field per parameter, filled with its default."""
        self.confirm.hide()
        name = self.choose.value
        self.info = self.cm.activity_info(name) if name else None
        self.fields.offer(self.info)
        self.about.value = f"<small>{esc(self.info.description)}</small>" if self.info else ""

    def params(self) -> dict[str, Any]:
        """The parameters entered: the fields left empty are not passed (the activity's default applies)."""
        return self.fields.values()

    @handles
    def _run(self, _b: object = None) -> None:
        name = self.choose.value
        if not name or self.info is None:
            raise ValidationError("activity", "choose an activity first")
        params = self.params()
        if self.info.confirm:
            self.confirm.ask(self.info.confirm, lambda: self._run_now(name, params), yes_label="Run")
            self.status.info(f"{name}: confirm to run it, or Cancel")
            return
        self._run_now(name, params)

    @handles
    def _run_now(self, name: str, params: dict[str, Any]) -> None:
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
        #: the customer's version the printout shows
        self.version: int | None = None
        super().__init__([self.links])

    @handles
    def render(self, _b: object = None) -> None:
        """Render the page as HTML and as PDF and show both links."""
        name = f"customer-{self.customer_id}"
        self.pdf, self.html = None, None
        self.version = self.cm.customer(self.customer_id).version
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
