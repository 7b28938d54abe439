"""The customer page: header with the context actions, data fields (view mode grey, edit mode yellow),
company or contacts, tickets, additional details (comments, attachments), activities and print."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import ipywidgets as w
import pandas as pd

from cmkit.errors import CMError, NotFound, StaleVersion, ValidationError
from cmkit.facade import CustomerManager
from cmkit.ui.activities import ActivitiesBox, PrintBox
from cmkit.ui.change_company import ChangeCompanyForm
from cmkit.ui.common import LABELLED, StatusLine, esc, handles, show, style, tooltip
from cmkit.ui.common import button as _button
from cmkit.ui.details import DetailsTabs
from cmkit.ui.fields import FieldInputs, fields_view
from cmkit.ui.history import HistoryPanel
from cmkit.ui.lifecycle import LifecycleForm
from cmkit.ui.picker import CustomerPicker
from cmkit.ui.table import Table
from cmkit.ui.tickets import CreateTicketForm
from cmkit.ui.transfer import TransferForm
from cmkit.values import Customer

TICKET_COLUMNS = ["id", "number", "subject", "queue", "state", "role", "created_at"]
CONTACT_TICKET_COLUMNS = ["id", "number", "subject", "queue", "state", "customer_name", "role", "created_at"]
#: the actions whose form shows the tickets in their way and offers to transfer them (R18, R23)
TICKETS_SHOWN_BY_FORM = ("deactivate", "delete")

ActionForm: TypeAlias = ChangeCompanyForm | CreateTicketForm | TransferForm | LifecycleForm


def _section(title: str, *children: w.Widget) -> w.VBox:
    return w.VBox([w.HTML(f"<h4 style='margin: 10px 0 2px 0'>{esc(title)}</h4>"), *children])


class CustomerPage(w.VBox):
    """Everything about one customer, with its context actions; `show_customer(id)` shows another customer.

    Without `customer_id` the page starts with a field to find the customer by name (deactivated ones too).
    `on_ticket(ticket_id)` opens a ticket chosen from its tickets (the search form and the ticket page
    pass their ticket page's); without it no ticket is offered to open.
    """

    def __init__(
        self,
        cm: CustomerManager,
        customer_id: int | None = None,
        on_ticket: Callable[[int], None] | None = None,
    ) -> None:
        self.cm, self.on_ticket = cm, on_ticket
        self.customer_id = int(customer_id) if customer_id is not None else 0
        self.customer: Customer | None = None
        self.status = StatusLine()
        self.header = w.HTML()
        self.header.add_class("cmkit-header")
        b = self.buttons = {
            "edit": _button("Edit", "pencil"),
            "change_company": _button("Change company", "building"),
            "create_ticket": _button("Create ticket", "plus"),
            "transfer": _button("Transfer data", "exchange"),
            "deactivate": _button("Deactivate", "ban"),
            "reactivate": _button("Activate", "check"),
            "delete": _button("Delete", "trash", "danger"),
            "print": _button("Print", "print"),
        }
        b["edit"].on_click(self._edit)
        b["change_company"].on_click(lambda _b: self._show_form("change_company"))
        b["create_ticket"].on_click(lambda _b: self._show_form("create_ticket"))
        b["transfer"].on_click(lambda _b: self._show_form("transfer"))
        b["deactivate"].on_click(lambda _b: self._show_form("deactivate"))
        b["reactivate"].on_click(lambda _b: self._show_form("reactivate"))
        b["delete"].on_click(lambda _b: self._show_form("delete"))
        b["print"].on_click(self._print)
        self.actions = w.HBox(list(b.values()), layout=w.Layout(flex_flow="row wrap"))
        self.form: ActionForm | None = None
        self.close_button = _button("Close", "times")
        self.close_button.on_click(lambda _b: self._close_form())
        self.action_area = w.VBox()
        self.print_box: PrintBox | None = None
        self.print_area = w.VBox()

        # data fields: view (grey) and edit (yellow) mode
        self.view = w.HTML()
        self.view_box = w.VBox([self.view])
        self.view_box.add_class("cmkit-view")
        self.inputs = FieldInputs({})
        self.save_button = _button("Save changes", "save", "primary")
        self.cancel_button = _button("Cancel", "times")
        self.reload_button = _button("Reload stored data", "refresh", "warning")
        self.save_button.on_click(self._save)
        self.cancel_button.on_click(self._cancel)
        self.reload_button.on_click(self._reload)
        self.edit_box = w.VBox(
            [self.inputs, w.HBox([self.save_button, self.cancel_button, self.reload_button])]
        )
        self.edit_box.add_class("cmkit-edit")
        self.edit_version: int | None = None
        self.mode = "view"

        # company or contacts
        self.relation = w.HTML()
        self.open_company = _button("Open company", "building")
        self.open_company.on_click(
            lambda _b: self._open_related(self.customer.company_id if self.customer else None)
        )
        self.contacts = Table(columns=["id", "name", "active", "email", "phone"], empty="no contacts", cm=cm)
        self.open_contact = w.Dropdown(
            description="Open contact", options=[], value=None, style=LABELLED, layout=w.Layout(width="420px")
        )
        self.open_contact.observe(lambda ch: self._open_related(ch["new"]), "value")
        self.relation_box = _section(
            "Company", self.relation, w.HBox([self.open_company]), self.contacts, self.open_contact
        )

        # tickets
        self.ticket_state = w.ToggleButtons(
            options=[("Open", "open"), ("Closed", "closed"), ("All", None)], value="open"
        )
        self.ticket_state.observe(lambda _c: self._load_tickets(), "value")
        self.tickets = Table(columns=TICKET_COLUMNS, empty="no tickets", cm=cm)
        self.tickets_title = w.HTML()
        # a company's page shows its contacts' tickets too, in their own part (as its printout does)
        self.contact_tickets_title = w.HTML()
        self.contact_tickets = Table(
            columns=CONTACT_TICKET_COLUMNS, empty="no tickets of its contacts", cm=cm
        )
        self.open_ticket = w.Dropdown(
            description="Open ticket", options=[], value=None, style=LABELLED, layout=w.Layout(width="520px")
        )
        self.open_ticket.observe(lambda ch: self._show_ticket(ch["new"]), "value")
        self.history: HistoryPanel | None = None
        self.history_area = w.VBox()

        self.details: DetailsTabs | None = None
        self.details_area = w.VBox()
        self.activities: ActivitiesBox | None = None
        self.activities_area = w.VBox()
        self.body = w.VBox()
        self.picker = CustomerPicker(
            cm,
            "Open",
            include_deactivated=True,
            status=self.status,
            on_pick=lambda cid: self._open_related(cid),
        )
        show(self.picker, customer_id is None)
        super().__init__(
            [
                style(),
                self.picker,
                self.header,
                self.actions,
                self.status,
                self.action_area,
                self.print_area,
                self.body,
            ]
        )
        self.add_class("cmkit-page")
        if customer_id is None:
            show(self.actions, False)
        else:
            self.show_customer(self.customer_id)

    # -- loading -----------------------------------------------------------------------------------------
    @handles
    def show_customer(self, customer_id: int) -> None:
        """Show customer `customer_id` (the page of another customer, e.g. a contact of this company)."""
        self.customer_id = int(customer_id)
        show(self.actions, True)
        self._close_form()
        self.print_area.children = []
        self.print_box = None
        self.status.clear()
        self.details = DetailsTabs(self.cm, self.customer_id, self.status, on_change=self._printout_stale)
        self.details_area.children = [self.details]
        self.activities = ActivitiesBox(
            self.cm, self.customer_id, self.status, on_done=lambda _r: self._changed()
        )
        self.activities_area.children = [self.activities]
        self.history = HistoryPanel(self.cm, self.customer_id, self.status)
        self.history_area.children = [self.history]
        self.body.children = [
            _section("Data", self.view_box, self.edit_box),
            self.relation_box,
            _section(
                "Tickets",
                self.ticket_state,
                self.tickets_title,
                self.tickets,
                self.contact_tickets_title,
                self.contact_tickets,
                self.open_ticket,
            ),
            _section("Additional details", self.details_area),
            _section("Activities", self.activities_area),
            _section("History", self.history_area),
        ]
        self.refresh()

    def refresh(self) -> None:
        """Reload everything shown from the database (after any action, an edit by someone else...)."""
        try:
            c = self.customer = self.cm.customer(self.customer_id)
        except NotFound as exc:
            self._gone(str(exc))
            return
        if self.print_box is not None and self.print_box.version != c.version:
            self._printout_stale()
        gdef = self.cm.group(c.group)
        state = "" if c.active else ' <span style="color:#b00020">(deactivated)</span>'
        name = f"<i>{esc(c.name)}</i>" if not c.active else esc(c.name)
        self.header.value = (
            f"<h3>{name}{state}</h3><small>{esc(c.kind)} &middot; group {esc(c.group)} &middot; "
            f"#{c.id} &middot; version {c.version}</small>"
        )
        self.view.value = fields_view(gdef.fields_for(c.kind), c.fields)
        if self.mode == "view":
            self._set_mode("view")
        self._load_relation(c)
        self._load_tickets()
        if self.details is not None:
            self.details.refresh()
        if self.activities is not None:
            self.activities.refresh()
        if self.history is not None:
            self.history.refresh()
        self._enable_actions(c)

    def _printout_stale(self) -> None:
        """The data changed: a printout made before no longer shows it, so its links go."""
        if self.print_box is not None:
            self.print_box = None
            self.print_area.children = [
                w.HTML("<i>The data changed after the printout was made: press Print again.</i>")
            ]

    def _gone(self, message: str) -> None:
        c = self.customer if self.customer is not None and self.customer.id == self.customer_id else None
        what = esc(c.label) if c is not None else f"customer #{self.customer_id}"
        self.header.value = f"<h3>{what}</h3><i>{esc(message)}</i>"
        self.print_area.children = []
        self.print_box = None
        self.body.children = []
        self.action_area.children = []
        for button in self.buttons.values():
            show(button, False)

    def _enable_actions(self, c: Customer) -> None:
        """Each visible action's button is enabled when `cm.why_not` finds nothing in its way, with the
        refusals as its tooltip. Deactivate and Delete open a form that lists the blocking tickets and
        offers Transfer data..., so the tickets alone leave them enabled (the tooltip still names them)."""
        visible = {
            "change_company": c.kind == "contact" and self.cm.group(c.group).two_level,
            "deactivate": c.active,
            "reactivate": not c.active,
            "delete": c.kind == "contact",
        }
        for action, button in self.buttons.items():
            on_page = visible.get(action, True)
            show(button, on_page)
            if not on_page:
                button.disabled, button.tooltip = True, ""
                continue
            refusals = self.cm.why_not(action, c.id)
            if action in TICKETS_SHOWN_BY_FORM and refusals:
                button.disabled = bool(self.cm.why_not(action, c.id, tickets=False))
            else:
                button.disabled = bool(refusals)
            button.tooltip = tooltip(refusals)

    def _load_relation(self, c: Customer) -> None:
        if c.kind == "contact" and c.company_id is not None:
            company = self.cm.customer(c.company_id)
            flag = " <i>(deactivated)</i>" if not company.active else ""
            self.relation.value = f"Company: <b>{esc(company.name)}</b> (#{company.id}){flag}"
            self.relation_box.children[0].value = "<h4 style='margin: 10px 0 2px 0'>Company</h4>"
            show(self.open_company, True)
            show(self.contacts, False)
            show(self.open_contact, False)
        elif c.kind == "company":
            df = self.cm.contacts(c.id, include_deactivated=True)
            self.contacts.show(df)
            self.relation.value = (
                f"{int(df['active'].sum())} active and {int((~df['active']).sum())} deactivated contact(s)"
            )
            self.relation_box.children[0].value = "<h4 style='margin: 10px 0 2px 0'>Contacts</h4>"
            with self.open_contact.hold_trait_notifications():
                choices: list[tuple[str, int | None]] = [("", None)]
                choices += [
                    (f"{name} (#{cid})" + ("" if active else ", deactivated"), cid)
                    for cid, name, active in zip(
                        df["id"].astype(int), df["name"].astype(str), df["active"].astype(bool), strict=True
                    )
                ]
                self.open_contact.options = choices
                self.open_contact.value = None
            show(self.open_company, False)
            show(self.contacts, True)
            show(self.open_contact, len(df) > 0)
        else:
            self.relation.value = "<i>a contact of a one-level group: no company</i>"
            for part in (self.open_company, self.contacts, self.open_contact):
                show(part, False)

    @handles
    def _load_tickets(self) -> None:
        """The customer's tickets; a company's in two parts: its own, and its contacts' (R12: as printed)."""
        company = self.customer is not None and self.customer.kind == "company"
        df = self.cm.tickets(self.customer_id, state=self.ticket_state.value, contacts=company)
        own = df[df["part"] == "own"] if company else df
        others = df[df["part"] == "contacts"] if company else df.iloc[0:0]
        self.tickets.show(own, italic=[False] * len(own))
        self.contact_tickets.show(others, italic=[False] * len(others))
        self.tickets_title.value = (
            f"<b>Tickets of the company</b> ({len(own)})" if company else f"<b>Tickets</b> ({len(own)})"
        )
        self.contact_tickets_title.value = f"<b>Tickets of its contacts</b> ({len(others)})"
        show(self.contact_tickets_title, company)
        show(self.contact_tickets, company)
        shown = df.drop_duplicates("id")
        with self.open_ticket.hold_trait_notifications():
            self.open_ticket.options = [("choose a ticket to open it", None)] + [
                (f"{n}: {subj} ({st})", int(i))
                for i, n, subj, st in zip(
                    shown["id"], shown["number"], shown["subject"], shown["state"], strict=True
                )
            ]
            self.open_ticket.value = None
        show(self.open_ticket, len(shown) > 0 and self.on_ticket is not None)

    @handles
    def _show_ticket(self, ticket_id: int | None) -> None:
        """Open one of the customer's tickets through `on_ticket` (the ticket page, where the page is used)."""
        if ticket_id is not None and self.on_ticket is not None:
            self.on_ticket(int(ticket_id))

    @handles
    def _open_related(self, customer_id: int | None) -> None:
        if customer_id is not None:
            self.show_customer(int(customer_id))

    # -- data fields: view and edit mode -----------------------------------------------------------------------
    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        show(self.view_box, mode == "view")
        show(self.edit_box, mode == "edit")
        show(self.reload_button, False)

    @handles
    def _edit(self, _b: object = None) -> None:
        c = self.customer = self.cm.customer(self.customer_id)
        self.inputs = FieldInputs(self.cm.group(c.group).fields_for(c.kind))
        self.inputs.load(c.fields)
        self.edit_box.children = [self.inputs, self.edit_box.children[1]]
        self.edit_version = c.version
        self._set_mode("edit")
        self.status.info("edit mode: change the fields, then Save changes (or Cancel)")

    @handles
    def _save(self, _b: object = None) -> None:
        self.inputs.clear_errors()
        changed = self.inputs.changed()
        if not changed:
            self._set_mode("view")
            self.status.info("nothing changed")
            return
        try:
            saved = self.cm.edit(self.customer_id, version=self.edit_version, **changed)
        except ValidationError as exc:
            self.inputs.show_error(exc.field, str(exc).removeprefix(f"{exc.field}: "))
            raise
        except StaleVersion as exc:
            show(self.reload_button, True)
            raise CMError(f"someone else changed this customer meanwhile; nothing was saved. {exc}") from exc
        self._set_mode("view")
        self.refresh()
        self.status.ok(f"saved {', '.join(changed)} (version {saved.version})")

    @handles
    def _cancel(self, _b: object = None) -> None:
        self._set_mode("view")
        self.refresh()
        self.status.info("edit cancelled; nothing was saved")

    @handles
    def _reload(self, _b: object = None) -> None:
        self._edit()
        self.status.info("the stored data is loaded again: reapply your change and save")

    # -- context actions ---------------------------------------------------------------------------------------
    @handles
    def _show_form(self, which: str) -> None:
        cid, done = self.customer_id, self._form_done
        self.status.clear()  # what the last action said ("edit cancelled") is not about this one
        form: ActionForm
        if which == "change_company":
            form = ChangeCompanyForm(self.cm, cid, on_done=done)
        elif which == "create_ticket":
            form = CreateTicketForm(self.cm, cid, on_done=done)
        elif which == "transfer":
            form = TransferForm(self.cm, cid, on_done=done)
        else:
            form = LifecycleForm(self.cm, cid, action=which, on_done=done)
        self.form = form
        self.action_area.children = [
            w.HBox([w.HTML(f"<b>{esc(self.buttons[which].description)}</b>"), self.close_button]),
            form,
        ]
        self.action_area.add_class("cmkit-edit")

    def _form_done(self, result: object) -> None:
        message = self.form.status.message if self.form is not None else "done"
        keep = isinstance(self.form, LifecycleForm) and self.form.contacts_box.layout.display != "none"
        if not keep:  # a reactivated company's form stays: it offers to reactivate the contacts one by one
            self._close_form()
        self._changed()
        self.status.ok(message)

    def _changed(self) -> None:
        """After an action: show the data now; a printout made before is out of date."""
        self.refresh()
        self._printout_stale()

    def _close_form(self) -> None:
        if self.form is not None:
            self.status.clear()
        self.form = None
        self.action_area.children = []
        self.action_area.remove_class("cmkit-edit")

    @handles
    def _print(self, _b: object = None) -> None:
        self.print_box = PrintBox(self.cm, self.customer_id, self.status)
        self.print_area.children = [self.print_box]
        self.print_box.render()

    def tickets_frame(self) -> pd.DataFrame:
        """The tickets shown, as a DataFrame."""
        return self.tickets.frame

    def __repr__(self) -> str:
        c = self.customer
        return f"<CustomerPage {c.label if c else self.customer_id}>"
