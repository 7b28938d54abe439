"""What every form shares: the status line, confirmation, download links, and the decorator that turns any
error of a handler into a message on the status line. The table widget is cmkit.ui.table.Table."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import html
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import ipywidgets as w
import itables
import pandas as pd

from cmkit.errors import CMError, ValidationError
from cmkit.ui.wording import form_message, local_time

log = logging.getLogger("cmkit.ui")

#: The look of the forms: grey view mode, yellow edit mode, italics for deactivated and pending rows.
CSS = """<style>
.cmkit-view { background: #eeeeee; padding: 6px 10px; border-radius: 4px; }
.cmkit-edit { background: #fff4b8; padding: 6px 10px; border-radius: 4px; }
.cmkit-header h3 { margin: 4px 0; }
.cmkit-status-error { color: #b00020; white-space: pre-wrap; }
.cmkit-status-ok { color: #1b5e20; white-space: pre-wrap; }
.cmkit-status-info { color: #333333; white-space: pre-wrap; }
.cmkit-field-error { color: #b00020; font-size: 12px; }
.cmkit-problems { color: #b00020; }
a.cmkit-download { color: #1565c0; text-decoration: underline; font-weight: bold; }
.cmkit-note { font-size: 12px; margin: 2px 0 2px 4px; }
.jupyter-widgets button.jupyter-button:disabled, .jupyter-widgets button.jupyter-button.mod-danger:disabled {
  background: #e6e6e6 !important; color: #9e9e9e !important; box-shadow: none !important; opacity: 1;
  cursor: not-allowed; }
</style>"""


def style() -> w.HTML:
    """An invisible widget carrying the forms' stylesheet; every top-level form includes one."""
    return w.HTML(CSS, layout=w.Layout(height="0px", margin="0px"))


def esc(value: Any) -> str:
    """`value` as escaped text for HTML; None and NaN as empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, pd.Timestamp):
        return html.escape(local_time(value))
    return html.escape(str(value))


class StatusLine(w.VBox):
    """One line that says what happened: info, ok or error, and a progress bar while work runs.

    A line placed next to the controls it reports on may `forward` what it says to the form's main
    status line too (a panel inside a page: the result shows where the action was taken, and on top)."""

    def __init__(self, forward: StatusLine | None = None) -> None:
        self.forward = forward
        self.line = w.HTML()
        self.bar = w.IntProgress(
            value=0, min=0, max=1, bar_style="info", layout=w.Layout(display="none", width="300px")
        )
        super().__init__([self.bar, self.line])
        self.add_class("cmkit-status")
        self.kind = ""
        self.message = ""

    def _show(self, kind: str, message: str) -> None:
        self.kind, self.message = kind, form_message(message)
        message = self.message
        self.line.value = f'<div class="cmkit-status-{kind}">{html.escape(message)}</div>' if message else ""
        if self.forward is not None:
            self.forward._show(kind, message)

    def info(self, message: str) -> None:
        self._show("info", message)

    def ok(self, message: str) -> None:
        self._show("ok", message)

    def error(self, message: str) -> None:
        self._show("error", message)

    def clear(self) -> None:
        self._show("", "")

    @contextmanager
    def busy(self, message: str, steps: int = 1) -> Iterator[Callable[[str], None]]:
        """Show `message` and a progress bar while the block runs; the block may call step(msg) to advance."""
        self.bar.max, self.bar.value = max(1, steps), 0
        self.bar.description = ""
        self.bar.layout.display = "flex"
        self.info(message + " ...")

        def step(msg: str) -> None:
            self.bar.value = min(self.bar.max, self.bar.value + 1)
            self.info(msg + " ...")

        try:
            yield step
        finally:
            self.bar.value = self.bar.max
            self.bar.layout.display = "none"


class DateInput(w.Text):
    """A date typed as YYYY-MM-DD: ISO, the same in every browser's locale (a browser's date picker shows
    mm/dd/yyyy in an English browser). `date` is the parsed value, None when empty."""

    def __init__(self, description: str, **kw: Any) -> None:
        super().__init__(
            description=description,
            placeholder="YYYY-MM-DD",
            style=LABELLED,
            layout=w.Layout(width="150px"),
            **kw,
        )

    @property
    def date(self) -> dt.date | None:
        """The date entered; refuses (ValidationError naming the input) what is not YYYY-MM-DD."""
        text = str(self.value).strip()
        if not text:
            return None
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise ValidationError(
                self.description, f"write the date as YYYY-MM-DD, e.g. 2026-03-31; got {text!r}"
            ) from None


class HasStatus(Protocol):
    """A form with a status line: what `handles` reports a handler's errors on."""

    status: StatusLine


F = TypeVar("F", bound=HasStatus)
P = ParamSpec("P")


def handles(fn: Callable[Concatenate[F, P], object]) -> Callable[Concatenate[F, P], None]:
    """Decorate a form's event handler: a CMError shows its message on `self.status`; any other error
    shows as unexpected (and is logged). Nothing a handler raises is lost."""
    return reports_on("status")(fn)


def reports_on(
    attribute: str,
) -> Callable[[Callable[Concatenate[Any, P], object]], Callable[Concatenate[Any, P], None]]:
    """`handles`, reporting on the StatusLine `self.<attribute>`: one placed next to the handler's control."""

    def decorate(fn: Callable[Concatenate[Any, P], object]) -> Callable[Concatenate[Any, P], None]:
        @functools.wraps(fn)
        def run(self: Any, /, *args: P.args, **kw: P.kwargs) -> None:
            status: StatusLine = getattr(self, attribute)
            try:
                fn(self, *args, **kw)
            except CMError as exc:
                status.error(str(exc))
            except Exception as exc:  # noqa: BLE001 - shown to the user, not swallowed
                log.exception("unexpected error in %s", fn.__qualname__)
                status.error(f"unexpected error ({type(exc).__name__}): {exc}")

        return run

    return decorate


class Confirm(w.VBox):
    """A question with a confirm and a cancel button; hidden until `ask`."""

    def __init__(self) -> None:
        self.question = w.HTML()
        self.yes = button("Confirm", "check", "primary")
        self.no = button("Cancel", "times")
        super().__init__([self.question, w.HBox([self.yes, self.no])], layout=w.Layout(display="none"))
        self.add_class("cmkit-confirm")
        self._on_yes: Callable[[], None] | None = None
        self.yes.on_click(lambda _b: self._answer(True))
        self.no.on_click(lambda _b: self._answer(False))

    def ask(
        self, question: str, on_yes: Callable[[], None], yes_label: str = "Confirm", *, style: str = "primary"
    ) -> None:
        """Show `question`; the confirm button's colour says the weight of the step: red ("danger") only
        for what cannot be undone, orange ("warning") for a step with wide effects, blue otherwise."""
        self.question.value = f"<b>{html.escape(question)}</b>"
        self.yes.description = yes_label
        self.yes.button_style = style
        self._on_yes = on_yes
        self.layout.display = "flex"

    @property
    def pending(self) -> bool:
        return self._on_yes is not None

    def hide(self) -> None:
        self._on_yes = None
        self.layout.display = "none"

    def _answer(self, yes: bool) -> None:
        act, self._on_yes = self._on_yes, None
        self.layout.display = "none"
        if yes and act is not None:
            act()


def problems_html(problems: Sequence[str]) -> str:
    """The refusals as an escaped bullet list (empty when there are none)."""
    if not problems:
        return ""
    items = "".join(f"<li>{html.escape(form_message(p))}</li>" for p in problems)
    return f'<ul class="cmkit-problems">{items}</ul>'


def download_link(data: bytes, filename: str, mime: str, label: str) -> str:
    """An HTML link that saves `data` as `filename` (a data: URL; nothing is written on the server)."""
    b64 = base64.b64encode(data).decode("ascii")
    return (
        f'<a class="cmkit-download" download="{html.escape(filename)}" href="data:{html.escape(mime)};base64,{b64}" '
        f'target="_blank">{html.escape(label)}</a>'
    )


def button(description: str, icon: str = "", style: str = "", **kw: Any) -> w.Button:
    """A button as wide as its label (the default width cuts longer ones: 'Change compa...'), in a row
    or alone in a column."""
    return w.Button(
        description=description, icon=icon, button_style=style, layout=w.Layout(width="max-content"), **kw
    )


#: the style of a labelled input: the label as wide as it needs ('Open contact', not 'Open con...')
LABELLED = {"description_width": "initial"}


def show(widget: w.Widget, visible: bool) -> None:
    widget.layout.display = None if visible else "none"


def tooltip(refusals: Sequence[str]) -> str:
    """The refusals an action would meet (`cm.why_not`), one per line, as a widget's tooltip."""
    return "\n".join(form_message(r) for r in refusals)


def allow(widgets: Sequence[w.Widget], refusals: Sequence[str]) -> None:
    """Enable `widgets` when `refusals` (from `cm.why_not`) is empty; else disable them, the refusals
    as their tooltip."""
    for widget in widgets:
        widget.disabled = bool(refusals)
        widget.tooltip = tooltip(refusals)


def customer_label(row: Any) -> str:
    """'Anna Müller (contact, retail, #3)' for a Customer or a result row; marks deactivated ones."""
    get = row.get if isinstance(row, dict | pd.Series) else lambda k, d=None: getattr(row, k, d)
    extra = [str(get("kind", "") or ""), str(get("group", "") or "")]
    if not bool(get("active", True)):
        extra.append("deactivated")
    return f"{get('name', '')} ({', '.join(e for e in extra if e)}, #{get('id')})"


# -- the table widget -------------------------------------------------------------------------------------------
itables.options.warn_on_undocumented_option = False  # createdRow is DataTables' own option
