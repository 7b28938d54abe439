"""Change company (R7): move a contact to another active company of its group, chosen by autocomplete,
or to a company created on the spot. When the move is refused (`cm.why_not`), the form says why."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from cmkit.errors import CMError, ValidationError
from cmkit.facade import CustomerManager
from cmkit.ui.common import StatusLine, allow, button, esc, handles, show, style
from cmkit.ui.fields import FieldInputs
from cmkit.ui.picker import CustomerPicker
from cmkit.values import Customer


class ChangeCompanyForm(w.VBox):
    """For one contact: pick a company (active companies of the contact's group) or Create a new one."""

    def __init__(
        self,
        cm: CustomerManager,
        contact_id: int,
        on_done: Callable[[Customer], None] | None = None,
        status: StatusLine | None = None,
    ) -> None:
        self.cm, self.contact_id, self.on_done = cm, int(contact_id), on_done
        self.status = status or StatusLine()
        contact = cm.customer(self.contact_id)
        self.group = contact.group
        self.title = w.HTML()
        self.picker = CustomerPicker(
            cm,
            "Company",
            kind="company",
            group=contact.group,
            status=self.status,
            exclude=lambda: self.current_company_id,
        )
        self.change_button = button("Change company", "check", "primary")
        self.change_button.on_click(self._change)
        self.new_button = button("Create new company...", "plus")
        self.new_button.on_click(self._toggle_new)
        gdef = cm.group(contact.group)
        self.new_fields = FieldInputs(gdef.company_fields)
        self.create_button = button("Create company and change", "plus", "primary")
        self.create_button.on_click(self._create)
        self.new_box = w.VBox(
            [w.HTML(f"<b>New company in group {esc(contact.group)}</b>"), self.new_fields, self.create_button]
        )
        self.new_box.add_class("cmkit-edit")
        show(self.new_box, False)
        self.result: Customer | None = None
        self.current_company_id: int | None = contact.company_id
        super().__init__(
            [
                style(),
                self.title,
                self.picker,
                w.HBox([self.change_button, self.new_button]),
                self.new_box,
                self.status,
            ]
        )
        self.add_class("cmkit-change-company")
        self.load()

    @handles
    def load(self) -> None:
        """Show the contact and its company now; disable the form, saying why, when the move is refused."""
        c = self.cm.customer(self.contact_id)
        self.current_company_id = c.company_id
        company = self.cm.customer(c.company_id) if c.company_id is not None else None
        now = f"now at <b>{esc(company.label)}</b>" if company else "no company"
        self.title.value = f"<b>Change the company of {esc(c.label)}</b> ({now})"
        refusals = self.cm.why_not("change_company", c.id)
        allow([self.picker.text, self.change_button, self.new_button, self.create_button], refusals)
        if refusals:
            self.status.error("\n".join(refusals))

    @handles
    def _change(self, _b: object = None) -> None:
        if self.picker.value is None:
            raise CMError("choose the new company first: type part of its name and pick it from the list")
        self._move(int(self.picker.value))

    def _move(self, company_id: int) -> None:
        self.result = self.cm.change_company(self.contact_id, company_id)
        company = self.cm.customer(company_id)
        self.load()
        self.picker.clear()
        self.status.ok(f"{self.result.name} now belongs to {company.name} (#{company.id})")
        if self.on_done:
            self.on_done(self.result)

    @handles
    def _toggle_new(self, _b: object = None) -> None:
        visible = self.new_box.layout.display == "none"
        show(self.new_box, visible)
        if visible:
            self.new_fields.load({})

    @handles
    def _create(self, _b: object = None) -> None:
        self.new_fields.clear_errors()
        values = {k: v for k, v in self.new_fields.values().items() if v is not None}
        try:
            company = self.cm.create_company(self.group, **values)
        except ValidationError as exc:
            self.new_fields.show_error(exc.field, str(exc))
            raise
        show(self.new_box, False)
        self._move(company.id)
        self.status.ok(f"{self.status.message} (company #{company.id} created)")
