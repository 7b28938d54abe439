"""Create ticket (R14, R15): the customer is the main customer; only the queues of its group are offered,
and the cases where no ticket may be created are explained before anything is typed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as w

from cmkit.domain import rules
from cmkit.errors import ValidationError
from cmkit.ui.common import StatusLine, esc, handles, problems_html, style


def ticket_problems(cm: Any, customer: Any) -> list[str]:
    """Why no ticket can be created for `customer` now (empty when one can)."""
    problems = rules.main_customer_problems(customer, cm.group(customer.group), creating=True)
    if not cm.config.queues_for(customer.group):
        problems.append(
            f"R14: no queue is assigned to group {customer.group!r}; an admin can add the group to a queue"
        )
    if not cm.may("write", customer.group):
        problems.append(f"R5: user {cm.user!r} lacks the 'write' permission on group {customer.group!r}")
    return problems


class CreateTicketForm(w.VBox):
    """New ticket for one customer: queue (of the customer's group), subject, Create."""

    def __init__(
        self,
        cm: Any,
        customer_id: int,
        on_done: Callable[[Any], None] | None = None,
        status: StatusLine | None = None,
    ) -> None:
        self.cm, self.customer_id, self.on_done = cm, int(customer_id), on_done
        self.status = status or StatusLine()
        self.title = w.HTML()
        self.explain = w.HTML()
        self.queue = w.Dropdown(description="Queue", options=[])
        self.subject = w.Text(
            description="Subject", placeholder="what the ticket is about", layout=w.Layout(width="520px")
        )
        self.create_button = w.Button(description="Create ticket", icon="plus", button_style="primary")
        self.create_button.on_click(self._create)
        self.ticket: Any = None
        box = w.VBox([self.queue, self.subject, self.create_button])
        box.add_class("cmkit-edit")
        super().__init__([style(), self.title, self.explain, box, self.status])
        self.add_class("cmkit-create-ticket")
        self.load()

    @handles
    def load(self) -> None:
        c = self.cm.customer(self.customer_id)
        self.title.value = f"<b>New ticket for {esc(rules.label(c))}</b>"
        queues = self.cm.config.queues_for(c.group)
        self.queue.options = queues
        self.queue.value = queues[0] if queues else None
        problems = ticket_problems(self.cm, c)
        self.explain.value = (
            ("<p>No ticket can be created for this customer:</p>" + problems_html(problems))
            if problems
            else ""
        )
        for widget in (self.queue, self.subject, self.create_button):
            widget.disabled = bool(problems)

    @handles
    def _create(self, _b: Any = None) -> None:
        if not self.queue.value:
            raise ValidationError("queue", "choose one of the queues of the customer's group")
        t = self.cm.create_ticket(self.customer_id, self.queue.value, self.subject.value)
        self.ticket = t
        self.subject.value = ""
        self.status.ok(f"ticket {t.number} created in queue {t.queue}: {t.subject}")
        if self.on_done:
            self.on_done(t)
