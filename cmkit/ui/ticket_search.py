"""Finding tickets: the ticket search form (customer name, subject, state, queue, number; tickets of
deactivated customers on request) and ticket suggestions as a name is typed (R26), each opening the
ticket page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as w
import pandas as pd

from cmkit.errors import ValidationError
from cmkit.facade import CustomerManager
from cmkit.ui.common import StatusLine, button, handles, show, style
from cmkit.ui.listing import More
from cmkit.ui.table import Table
from cmkit.ui.ticket import TicketPage

COLUMNS = ["number", "subject", "queue", "state", "customer", "created_at"]
PAGE = 50


def ticket_label(row: Any) -> str:
    """'T0000042: Printer broken (closed, Anna Müller)' for a ticket row."""
    return f"{row['number']}: {row['subject']} ({row['state']}, {row['customer']})"


class TicketSuggestions(w.VBox):
    """Ticket suggestions for the text typed into `text` (tickets by their customers' names, R26): a list
    that opens the chosen ticket through `on_pick(ticket_id)`."""

    def __init__(
        self,
        cm: CustomerManager,
        text: w.Text,
        on_pick: Callable[[int], None],
        status: StatusLine | None = None,
        limit: int = 8,
    ) -> None:
        self.cm, self.on_pick, self.limit = cm, on_pick, limit
        self.status = status or StatusLine()
        self.found = pd.DataFrame(columns=["id", *COLUMNS])
        self.list = w.Select(options=[], value=None, rows=4, layout=w.Layout(width="520px"))
        self.list.observe(self._picked, "value")
        super().__init__([w.HTML("<small>Tickets of customers with this name:</small>"), self.list])
        self.add_class("cmkit-ticket-suggestions")
        show(self, False)
        text.observe(self._typed, "value")

    @handles
    def _typed(self, change: dict[str, Any]) -> None:
        typed = str(change["new"]).strip()
        df = (
            self.cm.autocomplete_tickets(typed, limit=self.limit) if len(typed) >= 2 else self.found.iloc[0:0]
        )
        self.found = df.reset_index(drop=True)
        with self.list.hold_trait_notifications():
            self.list.options = [(ticket_label(r), int(r["id"])) for _, r in self.found.iterrows()]
            self.list.value = None
        show(self, len(self.found) > 0)

    @handles
    def _picked(self, change: dict[str, Any]) -> None:
        if change["new"] is not None:
            self.on_pick(int(change["new"]))


class TicketSearchForm(w.VBox):
    """Tickets by customer name, subject, state, queue and number; a result opens its ticket page (below,
    or through `on_open`). `results` keeps the last search as a DataFrame."""

    def __init__(self, cm: CustomerManager, on_open: Callable[[int], None] | None = None) -> None:
        self.cm, self.on_open = cm, on_open
        self.status = StatusLine()
        wide = w.Layout(width="420px")
        self.customer_name = w.Text(
            description="Customer", placeholder="start of a customer's name", layout=wide
        )
        self.subject = w.Text(description="Subject", placeholder="words of the subject", layout=wide)
        self.number = w.Text(description="Number", placeholder="T0000042 or 42", layout=wide)
        self.state = w.Dropdown(
            description="State", options=[("any", ""), ("open", "open"), ("closed", "closed")], value=""
        )
        self.queue = w.Dropdown(
            description="Queue", options=[("any", ""), *[(q, q) for q in cm.config.queues]]
        )
        self.include_deactivated = w.Checkbox(
            value=True, description="Include tickets of deactivated customers", indent=False
        )
        self.search_button = button("Search tickets", "search", "primary")
        self.search_button.on_click(self.search)
        self.heading = w.HTML()
        self.table = Table(columns=COLUMNS, empty="no ticket found")
        self.more = More(self._more, label="Show more tickets")
        self.open_result = w.Dropdown(
            description="Open", options=[], value=None, layout=w.Layout(width="520px")
        )
        self.open_result.observe(lambda ch: self._open(ch["new"]), "value")
        self.page_area = w.VBox()
        self.page: TicketPage | None = None
        self.results = pd.DataFrame(columns=["id", *COLUMNS])
        self.shown = PAGE
        show(self.open_result, False)
        super().__init__(
            [
                style(),
                w.HBox([self.customer_name, self.number]),
                w.HBox([self.subject, self.state, self.queue]),
                w.HBox([self.include_deactivated, self.search_button]),
                self.status,
                self.heading,
                self.table,
                self.more,
                self.open_result,
                self.page_area,
            ]
        )
        self.add_class("cmkit-ticket-search")

    def _criteria(self) -> dict[str, Any]:
        def text(widget: w.Text) -> str | None:
            return str(widget.value).strip() or None

        return {
            "customer_name": text(self.customer_name),
            "subject": text(self.subject),
            "number": text(self.number),
            "state": self.state.value or None,
            "queue": self.queue.value or None,
            "include_deactivated": bool(self.include_deactivated.value),
        }

    @handles
    def search(self, _b: object = None) -> None:
        """Search with the criteria; the first PAGE tickets are shown ("first N of more" when cut)."""
        self.shown = PAGE
        self._run()

    @handles
    def _more(self) -> None:
        self.shown += PAGE
        self._run()

    def _run(self) -> None:
        criteria = self._criteria()
        if not any(v for k, v in criteria.items() if k != "include_deactivated"):
            raise ValidationError(
                "criteria", "give a customer name, subject words, a number, a state or a queue"
            )
        try:
            df = self.cm.ticket_search(limit=self.shown + 1, **criteria)
        except ValidationError:
            self._show(self.results.iloc[0:0])
            raise
        self._show(df)
        cut = len(df) > self.shown
        self.status.ok(
            f"{min(len(df), self.shown)} ticket(s) found"
            + (f" (the first {self.shown}; Show more for more)" if cut else "")
        )

    def _show(self, df: pd.DataFrame) -> None:
        cut = len(df) > self.shown
        df = df.head(self.shown)
        self.results = df
        self.table.show(df, italic=[False] * len(df))
        self.heading.value = f"<b>Tickets</b> ({len(df)}{'+' if cut else ''})"
        self.more.update(len(df), None if cut else len(df), "tickets")
        with self.open_result.hold_trait_notifications():
            self.open_result.options = [("choose a ticket to open it", None)] + [
                (ticket_label(r), int(r["id"])) for _, r in df.iterrows()
            ]
            self.open_result.value = None
        show(self.open_result, len(df) > 0)

    @handles
    def _open(self, ticket_id: int | None) -> None:
        if ticket_id is None:
            return
        if self.on_open is not None:
            self.on_open(int(ticket_id))
            return
        if self.page is None:
            self.page = TicketPage(self.cm, int(ticket_id))
            self.page_area.children = [w.HTML("<hr>"), self.page]
        else:
            self.page.show_ticket(int(ticket_id))
        self.status.info(f"ticket page of #{int(ticket_id)} opened below")
