"""Deactivate, activate (reactivate) and delete a customer (R18-R25): the preconditions first (the
blocking tickets as a table, with a way into Transfer data), then a confirmation, then the action."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w
import pandas as pd

from cmkit.errors import CMError
from cmkit.facade import CustomerManager
from cmkit.ui.common import Confirm, StatusLine, button, esc, handles, problems_html, show, style
from cmkit.ui.picker import CustomerPicker
from cmkit.ui.table import Table
from cmkit.ui.transfer import TransferForm
from cmkit.values import Outcome

ACTIONS = {"deactivate": "Deactivate", "reactivate": "Activate", "delete": "Delete"}
#: the colour of each action's confirm button: red only for what cannot be undone
CONFIRM_STYLE = {"deactivate": "warning", "reactivate": "success", "delete": "danger"}
BLOCKING_COLUMNS = ["id", "number", "subject", "queue", "state", "customer_id", "customer_name", "role"]


class LifecycleForm(w.VBox):
    """One of deactivate / reactivate / delete for one customer. Without `customer_id` the customer is
    chosen here (deactivated ones included); without `action` it follows the customer's state."""

    def __init__(
        self,
        cm: CustomerManager,
        customer_id: int | None = None,
        action: str | None = None,
        on_done: Callable[[Outcome], None] | None = None,
        status: StatusLine | None = None,
    ) -> None:
        if action is not None and action not in ACTIONS:
            raise CMError(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
        self.cm, self.on_done = cm, on_done
        self.status = status or StatusLine()
        self.customer_id: int | None = int(customer_id) if customer_id is not None else None
        self.picker = CustomerPicker(
            cm, "Customer", include_deactivated=True, on_pick=self._picked, status=self.status
        )
        self.action = w.ToggleButtons(
            options=[(v, k) for k, v in ACTIONS.items()], value=action or "deactivate"
        )
        self.action.observe(lambda _c: self.check(), "value")
        self.title = w.HTML()
        self.plan = Table(empty="nothing would change", cm=cm)
        self.problems = w.HTML()
        self.blocking = Table(columns=BLOCKING_COLUMNS, empty="no blocking ticket", cm=cm)
        self.blocking_box = w.VBox([w.HTML("<b>Blocking tickets</b>"), self.blocking])
        self.transfer_button = button("Transfer data...", "exchange")
        self.transfer_button.on_click(self._open_transfer)
        self.transfer_area = w.VBox()
        self.confirm = Confirm()
        self.contacts = Table(columns=["id", "name", "active"], empty="no deactivated contact", cm=cm)
        self.contact_buttons = w.VBox()
        self.contacts_box = w.VBox(
            [
                w.HTML("<b>Its contacts stay deactivated (R21)</b>: reactivate them one by one."),
                self.contacts,
                self.contact_buttons,
            ]
        )
        self.outcome: Outcome | None = None
        self.transfer: TransferForm | None = None
        show(self.picker, self.customer_id is None)
        for part in (self.blocking_box, self.transfer_button, self.contacts_box):
            show(part, False)
        super().__init__(
            [
                style(),
                self.picker,
                self.action,
                self.title,
                self.problems,
                self.blocking_box,
                self.transfer_button,
                self.transfer_area,
                self.plan,
                self.confirm,
                self.contacts_box,
                self.status,
            ]
        )
        self.add_class("cmkit-lifecycle")
        show(self.action, not (customer_id is not None and action is not None))  # the page's button chose it
        if self.customer_id is not None and action is None:
            self.action.value = "deactivate" if self.cm.customer(self.customer_id).active else "reactivate"
        self.check()

    def _picked(self, cid: int | None) -> None:
        self.customer_id = cid
        if cid is not None:
            self.action.value = "deactivate" if self.cm.customer(cid).active else "reactivate"
        self.check()

    def _do(self, customer_id: int, *, dry_run: bool) -> Outcome:
        """The chosen action on the customer, or its dry run (what it would change, what refuses it)."""
        operation: Callable[..., Outcome] = {
            "deactivate": self.cm.deactivate,
            "reactivate": self.cm.reactivate,
            "delete": self.cm.delete,
        }[self.action.value]
        return operation(customer_id, dry_run=dry_run)

    @handles
    def check(self) -> None:
        """Show the preconditions of the chosen action; when it is allowed, ask for confirmation."""
        self.confirm.hide()
        self.problems.value = ""
        for part in (self.blocking_box, self.transfer_button):
            show(part, False)
        if self.customer_id is None:
            self.title.value = "<i>choose a customer</i>"
            self.plan.show(pd.DataFrame())
            return
        c = self.cm.customer(self.customer_id)
        verb = ACTIONS[self.action.value]
        self.title.value = f"<b>{verb} {esc(c.label)}</b>" + ("" if c.active else " <i>(deactivated)</i>")
        outcome = self._do(self.customer_id, dry_run=True)
        self.plan.show(outcome.changes)
        blocking = outcome.blocking if outcome.blocking is not None else pd.DataFrame()
        self.blocking.show(blocking)
        show(self.blocking_box, len(blocking) > 0)
        show(self.transfer_button, len(blocking) > 0)
        show(self.plan, not outcome.problems)
        if outcome.problems:
            self.problems.value = problems_html(outcome.problems)
            rules_named = ", ".join(dict.fromkeys(p.split(":", 1)[0] for p in outcome.problems))
            hint = (
                f" {len(blocking)} ticket(s) block it: Transfer data... moves them to another customer."
                if len(blocking)
                else ""
            )
            self.status.error(f"{verb} is not possible now ({rules_named}, see above).{hint}")
            return
        self.status.info(f"{verb}: the preconditions hold; confirm to go ahead")
        question = {
            "deactivate": f"Deactivate {c.label}"
            + (
                f" and its {len(outcome.changes) - 1} active contact(s)"
                if c.kind == "company" and len(outcome.changes) > 1
                else ""
            )
            + "?",
            "reactivate": f"Activate {c.label} again?",
            "delete": f"Delete {c.label} for good, with its comments and attachments? This cannot be undone.",
        }[self.action.value]
        self.confirm.ask(question, self._apply, yes_label=verb, style=CONFIRM_STYLE[self.action.value])

    @handles
    def _apply(self) -> None:
        assert self.customer_id is not None
        action, cid = self.action.value, self.customer_id
        label = self.cm.customer(cid).label
        with self.status.busy(f"{ACTIONS[action].lower()} in progress"):
            outcome = self.outcome = self._do(cid, dry_run=False)
        self.plan.show(outcome.changes)
        show(self.contacts_box, False)
        if action != "delete":
            now = self.cm.customer(cid)
            self.title.value = f"<b>{esc(now.label)}</b> is {'active' if now.active else 'deactivated'} now"
        if action == "deactivate":
            self.status.ok(f"deactivated: {', '.join(map(str, outcome.changes['name']))}")
        elif action == "delete":
            self.picker.clear()  # nothing of the deleted customer stays chosen or offered
            show(self.picker, True)
            self.customer_id = None
            self.title.value = f"<b>{esc(label)}</b> was deleted for good; choose another customer"
            self.plan.show(outcome.changes)
            self.status.ok(f"deleted #{cid} for good; the ticket protocol keeps its name (R24)")
        else:
            c = self.cm.customer(cid)
            msg = f"{c.name} is active again"
            if c.kind == "company":
                still = self._show_deactivated_contacts(cid)
                if still:
                    msg += f"; its {still} contact(s) stay deactivated: activate them one by one below"
            self.status.ok(msg)
        if self.on_done:
            self.on_done(outcome)

    def _show_deactivated_contacts(self, company_id: int) -> int:
        df = self.cm.contacts(company_id, include_deactivated=True)
        df = df[~df["active"]]
        self.contacts.show(df)
        buttons = []
        for cid, name in zip(df["id"].astype(int), df["name"].astype(str), strict=True):
            b = w.Button(
                description=f"Activate {name}"[:60],
                tooltip=f"activate contact #{cid}",
                icon="check",
                layout=w.Layout(width="auto"),
            )
            b.customer_id = cid
            b.on_click(self._activate_contact)
            buttons.append(b)
        self.contact_buttons.children = buttons
        show(self.contacts_box, len(df) > 0)
        return len(df)

    @handles
    def _activate_contact(self, button: w.Button) -> None:
        cid = int(button.customer_id)
        outcome = self.cm.reactivate(cid)
        c = self.cm.customer(cid)
        assert c.company_id is not None
        left = self._show_deactivated_contacts(c.company_id)
        self.status.ok(
            f"{c.name} is active again" + (f"; {left} contact(s) still deactivated" if left else "")
        )
        if self.on_done:
            self.on_done(outcome)

    @handles
    def _open_transfer(self, _b: object = None) -> None:
        if self.customer_id is None:
            raise CMError("choose a customer first")
        only_open = self.action.value == "deactivate"
        source, sources = self.customer_id, []
        c = self.cm.customer(source)
        if c.kind == "company" and len(self.blocking.frame):
            # the blocking tickets may belong to its contacts: all customers named on them, in one step
            sources = list(dict.fromkeys(int(i) for i in self.blocking.frame["customer_id"]))
            source = sources[0]
        self.transfer = TransferForm(
            self.cm, source, only_open=only_open, on_done=self._transferred, sources=sources
        )
        self.transfer_area.children = [self.transfer]

    def _transferred(self, outcome: Outcome) -> None:
        self.transfer_area.children = []
        self.transfer = None
        self.check()
        if self.status.kind != "error":
            self.status.info(f"{len(outcome.changes)} ticket(s) transferred. {self.status.message}")
