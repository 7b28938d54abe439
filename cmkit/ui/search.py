"""The search form: suggestions as you type (R26), quick search (R27) and detail search with group, kind,
company, field criteria and *include deactivated* (R28). Results are tables with deactivated customers in
italics; choosing a result opens its customer page."""

from __future__ import annotations

import time
from typing import Any

import ipywidgets as w
import pandas as pd

from cmkit.errors import CMError
from cmkit.facade import CustomerManager
from cmkit.ui.actions import ActionBar
from cmkit.ui.common import LABELLED, StatusLine, button, customer_label, handles, show, style
from cmkit.ui.listing import More
from cmkit.ui.page import CustomerPage
from cmkit.ui.picker import CustomerPicker, search_by_name
from cmkit.ui.table import Table
from cmkit.ui.ticket import TicketPage
from cmkit.ui.ticket_search import TicketSuggestions, ticket_label

RESULT_COLUMNS = ["id", "name", "kind", "group", "company", "active"]
TICKET_COLUMNS = ["id", "number", "subject", "queue", "state", "main_customer_id", "customer"]
QUICK_LIMIT = 50
CRITERIA = 3
DETAIL_LIMIT = 100_000  # the table pages on the server: a big result stays responsive
DETAIL_MAX = 1_000_000  # the most a detail search asks for (Show more), the library's largest limit


def applicable_fields(cm: CustomerManager, group: str | None, kind: str | None) -> list[str]:
    """The data fields a detail search for `group` and `kind` (None: any) can look at, sorted."""
    groups = [cm.config.groups[group]] if group else list(cm.config.groups.values())
    kinds = [kind] if kind else ["company", "contact"]
    return sorted({f for g in groups for k in kinds for f in g.fields_for(k)})


class SearchForm(w.VBox):
    """Find customers and open their pages. `results` (customers) and `ticket_results` keep the last
    search as DataFrames."""

    def __init__(self, cm: CustomerManager) -> None:
        self.cm = cm
        self.status = StatusLine()
        self.find = CustomerPicker(cm, "Find", on_pick=self._open, status=self.status)
        self.find.text.placeholder = "type part of a name, an e-mail, a ticket number..."
        self.ticket_suggestions = TicketSuggestions(cm, self.find.text, self._open_ticket, self.status)
        self.search_button = button("Search", "search", "primary")
        self.search_button.on_click(self.search)
        self.include_deactivated = w.Checkbox(value=False, description="Include deactivated", indent=False)
        self.include_deactivated.observe(self._rerun, "value")

        groups = list(cm.config.groups)
        self.group = w.Dropdown(
            description="Group", options=[("any", ""), *[(g, g) for g in groups]], value=""
        )
        self.kind = w.Dropdown(
            description="Kind",
            options=[("any", ""), ("company", "company"), ("contact", "contact")],
            value="",
        )
        self.company = CustomerPicker(
            cm, "Company", kind="company", include_deactivated=True, status=self.status
        )
        self.fields = [
            w.Dropdown(options=[("field...", "")], value="", layout=w.Layout(width="160px"))
            for _ in range(CRITERIA)
        ]
        self.values = [
            w.Text(placeholder="value (* for any text)", layout=w.Layout(width="240px"))
            for _ in range(CRITERIA)
        ]
        self._offer_fields()
        self.group.observe(self._offer_fields, "value")
        self.kind.observe(self._offer_fields, "value")
        self.detail_button = button("Detail search", "search-plus")
        self.detail_button.on_click(self.detail_search)
        self.clear_button = button("Clear", "eraser")
        self.clear_button.on_click(self._clear)
        detail = w.VBox(
            [
                w.HBox([self.group, self.kind]),
                self.company,
                *[w.HBox([f, v]) for f, v in zip(self.fields, self.values, strict=True)],
                w.HBox([self.detail_button, self.clear_button]),
            ]
        )
        self.detail = w.Accordion(
            children=[detail],
            titles=("Detail search",),
            selected_index=None,
        )

        self.heading = w.HTML()
        self.table = Table(columns=RESULT_COLUMNS, empty="no customer found", selectable=True, cm=cm)
        self.actions = ActionBar(cm, self.table, status=self.status, on_done=self._acted)
        self.open_result = w.Dropdown(
            description="Open", options=[], value=None, style=LABELLED, layout=w.Layout(width="520px")
        )
        self.open_result.observe(lambda ch: self._open(ch["new"]), "value")
        self.tickets_heading = w.HTML()
        self.tickets = Table(columns=TICKET_COLUMNS, empty="no ticket found", selectable=True, cm=cm)
        self.ticket_actions = ActionBar(
            cm, self.tickets, id_column="main_customer_id", status=self.status, on_done=self._acted
        )
        self.shown, self.detail_shown = QUICK_LIMIT, DETAIL_LIMIT
        self.more_customers = More(self._more, label="Show more")
        self.more_tickets = More(self._more, label="Show more")
        self.open_ticket = w.Dropdown(
            description="Open ticket", options=[], value=None, style=LABELLED, layout=w.Layout(width="520px")
        )
        self.open_ticket.observe(lambda ch: self._open_ticket(ch["new"]), "value")
        self.ticket_page: TicketPage | None = None
        self.page_area = w.VBox()
        self.page: CustomerPage | None = None
        self.results = pd.DataFrame(columns=RESULT_COLUMNS)
        self.ticket_results = pd.DataFrame(columns=TICKET_COLUMNS)
        self.mode = ""
        self.timing: dict[str, float] = {}  # seconds of the last detail search: query, table
        for part in (
            self.open_result,
            self.actions,
            self.tickets_heading,
            self.tickets,
            self.ticket_actions,
            self.open_ticket,
        ):
            show(part, False)
        super().__init__(
            [
                style(),
                w.HBox([self.find, self.search_button, self.include_deactivated]),
                self.ticket_suggestions,
                self.detail,
                self.status,
                self.heading,
                self.table,
                self.more_customers,
                self.actions,
                self.open_result,
                self.tickets_heading,
                self.tickets,
                self.ticket_actions,
                self.more_tickets,
                self.open_ticket,
                self.page_area,
            ]
        )
        self.add_class("cmkit-search")

    # -- searching ----------------------------------------------------------------------------------------------
    @property
    def text(self) -> str:
        return str(self.find.text.value).strip()

    def _criteria(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f, v in zip(self.fields, self.values, strict=True):
            if f.value and v.value.strip():
                out[f.value] = v.value.strip()
        return out

    def _detail_wanted(self) -> bool:
        return bool(
            self.include_deactivated.value
            or self.group.value
            or self.kind.value
            or self.company.value
            or self._criteria()
        )

    @handles
    def _offer_fields(self, _change: object = None) -> None:
        """Offer only the fields of the chosen group and kind; a chosen field that does not apply goes."""
        names = applicable_fields(self.cm, self.group.value or None, self.kind.value or None)
        dropped = []
        for f, v in zip(self.fields, self.values, strict=True):
            keep = f.value if f.value in names else ""
            if f.value and not keep:
                dropped.append(f.value)
                v.value = ""
            with f.hold_trait_notifications():
                f.options = [("field...", ""), *[(n.replace("_", " "), n) for n in names]]
                f.value = keep
        if dropped:
            self.status.info(f"{', '.join(dropped)}: not a field of the chosen group and kind; left out")

    @handles
    def search(self, _b: object = None) -> None:
        """Quick search for the text; with detail criteria or *include deactivated*, a detail search."""
        if self._detail_wanted():
            self.detail_search()
            return
        if not self.text:
            self.status.info("type some text to search for, or use the detail search")
            return
        if _b is not None or self.mode != "quick":  # a new search starts with the first QUICK_LIMIT
            self.shown = QUICK_LIMIT
        with self.status.busy(f"searching for {self.text!r}"):
            found = self.cm.quick_search(self.text, limit=self.shown + 1)  # one more: is the list cut?
        self.mode = "quick"
        self.table.columns = RESULT_COLUMNS
        customers, tickets = found.customers.head(self.shown), found.tickets.head(self.shown)
        self._show(customers, tickets)
        for more, full, what in (
            (self.more_customers, found.customers, "customers"),
            (self.more_tickets, found.tickets, "tickets"),
        ):
            more.update(self.shown, None if len(full) > self.shown else len(full), what)
        cut = (
            " (lists cut: Show more)"
            if len(found.customers) > self.shown or len(found.tickets) > self.shown
            else ""
        )
        self.status.ok(
            f"{len(customers)} customer(s) and {len(tickets)} ticket(s) found for {self.text!r}{cut}"
        )

    @handles
    def _more(self) -> None:
        if self.mode == "detail":
            self.detail_shown += DETAIL_LIMIT
            self.detail_search()
            return
        self.shown += QUICK_LIMIT
        self.search()

    @handles
    def detail_search(self, _b: object = None) -> None:
        """Detail search: group, kind, company, field criteria, the text as part of the name, include deactivated."""
        criteria = self._criteria()
        if _b is not None or self.mode != "detail":  # a new detail search starts with the first DETAIL_LIMIT
            self.detail_shown = DETAIL_LIMIT
        ask = {
            "include_deactivated": self.include_deactivated.value,
            "group": self.group.value or None,
            "kind": self.kind.value or None,
            "company": self.company.value,
            "limit": min(self.detail_shown + 1, DETAIL_MAX),  # one more: is the list cut?
        }
        start = time.perf_counter()
        try:
            with self.status.busy("detail search"):
                if self.text:  # the text: the start of the name's words
                    df = search_by_name(self.cm, self.text, criteria=criteria, **ask)
                else:
                    df = self.cm.detail_search(**ask, **criteria)
        except CMError:  # no results of an earlier search stay under the refusal
            self.mode = ""
            self._show(pd.DataFrame(columns=RESULT_COLUMNS), None)
            self.heading.value = "<b>Customers</b>: no search was made (see the message above)"
            raise
        query = time.perf_counter() - start
        self.mode = "detail"
        # the fields searched on are shown next to the name
        self.table.columns = RESULT_COLUMNS + [c for c in criteria if c not in RESULT_COLUMNS]
        cut = len(df) > self.detail_shown
        df = df.head(self.detail_shown)
        self._show(df, None)
        self.timing = {"query": query, "table": time.perf_counter() - start - query}
        self.more_customers.update(len(df), None if cut else len(df), "customers")
        more = f" (the first {len(df):,}; Show more, or narrow the criteria)" if cut else ""
        deact = int((~df["active"].astype(bool)).sum()) if len(df) else 0
        self.status.ok(
            f"{len(df):,} customer(s) found in {self.timing['query']:.1f} s{more}"
            + (f", {deact} of them deactivated (in italics)" if deact else "")
        )

    def _rerun(self, _change: object = None) -> None:
        if self.mode or self.text:
            self.search()

    def _show(self, customers: pd.DataFrame, tickets: pd.DataFrame | None) -> None:
        self.results = customers
        self.table.show(customers)
        self.heading.value = f"<b>Customers</b> ({len(customers):,})"
        with self.open_result.hold_trait_notifications():
            self.open_result.options = [("choose a result to open its page", None)] + [
                (customer_label(r), int(r["id"])) for _, r in customers.head(200).iterrows()
            ]
            self.open_result.value = None
        show(self.open_result, len(customers) > 0)
        show(self.actions, len(customers) > 0)
        self.ticket_results = tickets if tickets is not None else self.ticket_results.iloc[0:0]
        if tickets is not None:
            self.tickets.show(tickets, italic=[False] * len(tickets))
            self.tickets_heading.value = f"<b>Tickets</b> ({len(tickets)})"
            with self.open_ticket.hold_trait_notifications():
                self.open_ticket.options = [("choose a ticket to open it", None)] + [
                    (ticket_label(r), int(r["id"])) for _, r in tickets.iterrows()
                ]
                self.open_ticket.value = None
        else:
            self.more_tickets.update(0, 0)
        show(self.tickets, tickets is not None)
        show(self.ticket_actions, tickets is not None and len(tickets) > 0)
        show(self.tickets_heading, tickets is not None)
        show(self.open_ticket, tickets is not None and len(tickets) > 0)

    def _acted(self, action: str, _outcome: object) -> None:
        """After an action changed data: the search again, so that the table shows the rows as they are now."""
        if action == "export":
            return
        message = self.status.message
        if self.mode == "quick":
            self.search()
        elif self.mode == "detail":
            self.detail_search()
        self.status.ok(message)

    @handles
    def _clear(self, _b: object = None) -> None:
        self.group.value = self.kind.value = ""
        self.company.clear()
        for f, v in zip(self.fields, self.values, strict=True):
            f.value, v.value = "", ""
        self.status.clear()

    # -- opening a ticket or a customer page ----------------------------------------------------------------------------------
    @handles
    def _open(self, customer_id: int | None) -> None:
        if customer_id is None:
            return
        if self.page is None:
            self.page = CustomerPage(self.cm, int(customer_id), on_ticket=self._open_ticket)
        else:
            self.page.show_customer(int(customer_id))
        self.page_area.children = [w.HTML("<hr>"), self.page]
        self.status.info(f"customer page of #{int(customer_id)} opened below")

    @handles
    def _open_ticket(self, ticket_id: int | None) -> None:
        if ticket_id is None:
            return
        if self.ticket_page is None:
            self.ticket_page = TicketPage(self.cm, int(ticket_id), on_customer=self._open)
        else:
            self.ticket_page.show_ticket(int(ticket_id))
        self.page_area.children = [w.HTML("<hr>"), self.ticket_page]
        self.page = None
        self.status.info(f"ticket page of {self.ticket_page.number.value} opened below")
