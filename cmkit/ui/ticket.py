"""The ticket page: a ticket's subject, queue, state, its main and additional customers (deactivated ones in
italics) and its protocol (R16); the actions an agent takes on a ticket's customers: open a customer's page,
edit its data, add and remove additional customers (R15), change the main customer (R14, R15, R17), close
and reopen (R20), and deactivate or reactivate a customer from a closed ticket (R18, R21).

Each action has its own result line next to its buttons (and the status line at the top says it too), so
a refusal and the rule that refuses it are shown where the action was taken."""

from __future__ import annotations

import re
from collections.abc import Callable

import ipywidgets as w
import pandas as pd

from cmkit.errors import CMError, NotFound, ValidationError
from cmkit.facade import CustomerManager
from cmkit.ui.common import StatusLine, button, esc, handles, show, style
from cmkit.ui.lifecycle import LifecycleForm
from cmkit.ui.page import CustomerPage
from cmkit.ui.picker import CustomerPicker
from cmkit.ui.table import Table
from cmkit.values import Outcome, Ticket

CUSTOMER_COLUMNS = ["role", "id", "name", "kind", "group", "state"]
PROTOCOL_COLUMNS = ["at", "user", "action", "role", "old_customer_name", "new_customer_name"]
PROTOCOL_LABELS = {
    "at": "when",
    "old_customer_name": "customer before",
    "new_customer_name": "customer after",
}
_NUMBER = re.compile(r"#?\s*t?0*(\d{1,12})", re.IGNORECASE)


def ticket_id_of(text: str) -> int:
    """The ticket id typed as 'T0000042', '#42' or '42' (ValidationError naming 'number' otherwise)."""
    m = _NUMBER.fullmatch(str(text).strip())
    if not m:
        raise ValidationError("number", f"type a ticket number such as T0000042 or 42, not {text!r}")
    return int(m.group(1))


class TicketPage(w.VBox):
    """One ticket and its customers. Without `ticket_id` the page starts empty: type a number and Open.
    `on_customer(id)` opens a customer's page elsewhere; by default it opens below the ticket."""

    def __init__(
        self,
        cm: CustomerManager,
        ticket_id: int | None = None,
        on_customer: Callable[[int], None] | None = None,
    ) -> None:
        self.cm, self.on_customer = cm, on_customer
        self.ticket: Ticket | None = None
        self.status = StatusLine()
        self.number = w.Text(
            description="Ticket", placeholder="T0000042 or 42", layout=w.Layout(width="300px")
        )
        self.open_button = button("Open ticket", "folder-open", "primary")
        self.open_button.on_click(self._open_typed)
        self.header = w.HTML()
        self.header.add_class("cmkit-header")

        # the ticket's customers, and what can be done with one of them
        self.customers = Table(columns=CUSTOMER_COLUMNS, empty="no customers")
        self.chosen = w.Dropdown(description="Customer", options=[], layout=w.Layout(width="460px"))
        self.chosen.observe(lambda _c: self._enable(), "value")
        b = self.buttons = {
            "open": button("Open customer page", "user"),
            "edit": button("Edit customer data", "pencil"),
            "remove": button("Remove from ticket", "minus"),
            "make_main": button("Make main customer", "star"),
            "deactivate": button("Deactivate customer", "ban"),
            "reactivate": button("Activate customer", "check"),
        }
        b["open"].on_click(lambda _b: self._open_customer())
        b["edit"].on_click(lambda _b: self._open_customer(edit=True))
        b["remove"].on_click(self._remove)
        b["make_main"].on_click(self._make_chosen_main)
        b["deactivate"].on_click(lambda _b: self._lifecycle("deactivate"))
        b["reactivate"].on_click(lambda _b: self._lifecycle("reactivate"))
        self.customer_result = StatusLine()
        self.lifecycle_area = w.VBox()

        # add an additional customer; change the main customer
        self.add_picker = CustomerPicker(cm, "Add", status=self.status, exclude=self._main_id)
        self.add_button = button("Add as additional customer", "user-plus", "primary")
        self.add_button.on_click(self._add)
        self.add_result = StatusLine()
        self.main_picker = CustomerPicker(cm, "New main", status=self.status, exclude=self._main_id)
        self.main_button = button("Make main customer", "star")
        self.main_button.on_click(self._change_main)
        self.main_result = StatusLine()

        # state and protocol
        self.close_button = button("Close ticket", "check-square")
        self.reopen_button = button("Reopen ticket", "undo")
        self.close_button.on_click(self._close)
        self.reopen_button.on_click(self._reopen)
        self.state_result = StatusLine()
        self.protocol = Table(
            columns=[PROTOCOL_LABELS.get(c, c) for c in PROTOCOL_COLUMNS], empty="no entries"
        )
        self.customer_area = w.VBox()
        self.customer_page: CustomerPage | None = None

        def part(title: str, *children: w.Widget) -> w.VBox:
            return w.VBox([w.HTML(f"<h4 style='margin: 10px 0 2px 0'>{esc(title)}</h4>"), *children])

        self.body = w.VBox(
            [
                part(
                    "Customers",
                    self.customers,
                    self.chosen,
                    w.HBox(list(b.values()), layout=w.Layout(flex_flow="row wrap")),
                    self.customer_result,
                    self.lifecycle_area,
                ),
                part(
                    "Add an additional customer", self.add_picker, w.HBox([self.add_button]), self.add_result
                ),
                part(
                    "Change the main customer", self.main_picker, w.HBox([self.main_button]), self.main_result
                ),
                part("State", w.HBox([self.close_button, self.reopen_button]), self.state_result),
                part("Protocol", self.protocol),
            ]
        )
        show(self.body, False)
        super().__init__(
            [
                style(),
                w.HBox([self.number, self.open_button]),
                self.header,
                self.status,
                self.body,
                self.customer_area,
            ]
        )
        self.add_class("cmkit-ticket")
        if ticket_id is not None:
            self.show_ticket(int(ticket_id))

    # -- loading ---------------------------------------------------------------------------------------------
    @handles
    def _open_typed(self, _b: object = None) -> None:
        self.show_ticket(ticket_id_of(self.number.value))

    @handles
    def show_ticket(self, ticket_id: int) -> None:
        """Show ticket `ticket_id` (NotFound on the status line if there is none)."""
        self.ticket = self.cm.ticket(int(ticket_id))
        self.number.value = self.ticket.number
        for line in (self.customer_result, self.add_result, self.main_result, self.state_result):
            line.clear()
        self.lifecycle_area.children = []
        self.add_picker.clear()
        self.main_picker.clear()
        self.refresh()
        self.status.info(f"ticket {self.ticket.number} opened")

    def refresh(self) -> None:
        """Read the ticket, its customers and its protocol again."""
        if self.ticket is None:
            return
        try:
            t = self.ticket = self.cm.ticket(self.ticket.id)
        except NotFound as exc:
            self.header.value = f"<i>{esc(exc)}</i>"
            show(self.body, False)
            return
        state = "open" if t.state == "open" else "closed"
        self.header.value = (
            f"<h3>{esc(t.number)}: {esc(t.subject)}</h3>"
            f"<small>queue {esc(t.queue)} &middot; <b>{state}</b></small>"
        )
        rows = []
        for role, cid in [
            ("main", t.main_customer_id),
            *[("additional", i) for i in t.additional_customer_ids],
        ]:
            c = self.cm.customer(cid)
            rows.append(
                {
                    "role": role,
                    "id": c.id,
                    "name": c.name,
                    "kind": c.kind,
                    "group": c.group,
                    "state": "active" if c.active else "deactivated",
                    "active": c.active,
                }
            )
        df = pd.DataFrame(rows)
        self.customers.show(df, italic=~df["active"])
        keep = self.chosen.value
        self.chosen.options = [
            (
                f"{r['name']} ({r['role']}, #{r['id']}" + ("" if r["active"] else ", deactivated") + ")",
                r["id"],
            )
            for r in rows
        ]
        self.chosen.value = keep if keep in {r["id"] for r in rows} else t.main_customer_id
        protocol = self.cm.protocol(t.id).sort_values("id", ascending=False)
        protocol["action"] = protocol["action"].str.replace("_", " ")
        self.protocol.show(protocol.rename(columns=PROTOCOL_LABELS), italic=[False] * len(protocol))
        show(self.close_button, t.state == "open")
        show(self.reopen_button, t.state == "closed")
        show(self.body, True)
        self._enable()

    def _main_id(self) -> int | None:
        return self.ticket.main_customer_id if self.ticket is not None else None

    def _enable(self) -> None:
        """Offer the buttons that fit the chosen customer: Remove for an additional one, Make main for an
        additional one, Deactivate / Activate by its state (deactivating from a closed ticket, R18)."""
        t, cid = self.ticket, self.chosen.value
        if t is None or cid is None:
            return
        active = self.customers.frame.set_index("id")["active"].get(cid, True)
        additional = cid in t.additional_customer_ids
        show(self.buttons["remove"], additional)
        show(self.buttons["make_main"], additional)
        show(self.buttons["deactivate"], bool(active))
        show(self.buttons["reactivate"], not active)
        self.buttons["deactivate"].tooltip = (
            "" if t.state == "closed" else "an open ticket keeps its customers active (R18): close it first"
        )

    # -- acting, with the result next to the action ------------------------------------------------------------
    def _act(self, line: StatusLine, act: Callable[[], str]) -> None:
        """Run `act`; its message (or the refusal, naming its rule) goes on `line` and on the status line."""
        line.clear()
        try:
            message = act()
        except CMError as exc:
            line.error(str(exc))
            self.status.error(str(exc))
            return
        self.refresh()
        line.ok(message)
        self.status.ok(message)

    def _label(self, customer_id: int) -> str:
        c = self.cm.customer(customer_id)
        return f"{c.name} (#{c.id})"

    @handles
    def _add(self, _b: object = None) -> None:
        def act() -> str:
            if self.ticket is None:
                raise CMError("open a ticket first")
            if self.add_picker.value is None:
                raise ValidationError("customer", "choose the customer to add from the suggestions")
            cid = self.add_picker.value
            self.cm.add_customer(self.ticket.id, cid)
            self.add_picker.clear()
            return f"{self._label(cid)} added to {self.ticket.number} as additional customer"

        self._act(self.add_result, act)

    @handles
    def _remove(self, _b: object = None) -> None:
        def act() -> str:
            assert self.ticket is not None and self.chosen.value is not None
            cid = int(self.chosen.value)
            label = self._label(cid)
            self.cm.remove_customer(self.ticket.id, cid)
            return f"{label} removed from {self.ticket.number}"

        self._act(self.customer_result, act)

    def _set_main(self, line: StatusLine, customer_id: int | None) -> None:
        def act() -> str:
            if self.ticket is None:
                raise CMError("open a ticket first")
            if customer_id is None:
                raise ValidationError("customer", "choose the new main customer from the suggestions")
            self.cm.set_main_customer(self.ticket.id, customer_id)
            return f"{self._label(customer_id)} is the main customer of {self.ticket.number} now"

        self._act(line, act)

    @handles
    def _make_chosen_main(self, _b: object = None) -> None:
        self._set_main(self.customer_result, self.chosen.value)

    @handles
    def _change_main(self, _b: object = None) -> None:
        self._set_main(self.main_result, self.main_picker.value)
        if self.main_result.kind == "ok":
            self.main_picker.clear()

    @handles
    def _close(self, _b: object = None) -> None:
        def act() -> str:
            assert self.ticket is not None
            return f"ticket {self.cm.close_ticket(self.ticket.id).number} closed"

        self._act(self.state_result, act)

    @handles
    def _reopen(self, _b: object = None) -> None:
        def act() -> str:
            assert self.ticket is not None
            return f"ticket {self.cm.reopen_ticket(self.ticket.id).number} reopened"

        self._act(self.state_result, act)

    @handles
    def _lifecycle(self, action: str) -> None:
        """Deactivate or activate the chosen customer: its form (preconditions, confirmation) below the
        buttons; a refusal (R18: an open ticket names it) is shown there and on the result line."""
        if self.chosen.value is None:
            raise CMError("choose a customer of the ticket first")
        form = LifecycleForm(self.cm, int(self.chosen.value), action=action, on_done=self._lifecycle_done)
        self.lifecycle_area.children = [form]
        if form.status.kind == "error":
            self.customer_result.error(form.status.message)
        else:
            self.customer_result.info(form.status.message)

    def _lifecycle_done(self, _outcome: Outcome) -> None:
        form = self.lifecycle_area.children[0] if self.lifecycle_area.children else None
        message = form.status.message if isinstance(form, LifecycleForm) else "done"
        self.lifecycle_area.children = []
        self.refresh()
        self.customer_result.ok(message)
        self.status.ok(message)

    @handles
    def _open_customer(self, *, edit: bool = False) -> None:
        """The chosen customer's page (below, or through `on_customer`); with `edit`, in edit mode."""
        if self.chosen.value is None:
            raise CMError("choose a customer of the ticket first")
        cid = int(self.chosen.value)
        if self.on_customer is not None and not edit:
            self.on_customer(cid)
            return
        if self.customer_page is None:
            self.customer_page = CustomerPage(self.cm, cid, on_ticket=self.show_ticket)
            self.customer_area.children = [w.HTML("<hr>"), self.customer_page]
        else:
            self.customer_page.show_customer(cid)
        if edit:
            self.customer_page.buttons["edit"].click()
        self.status.info(
            f"customer page of {self._label(cid)} opened below" + (" in edit mode" if edit else "")
        )
