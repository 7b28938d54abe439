"""Create ticket (R14, R15): the customer is the main customer; only the queues of its group are offered,
and the cases where no ticket may be created are explained (`cm.why_not`) before anything is typed."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from cmkit.errors import ValidationError
from cmkit.facade import CustomerManager
from cmkit.ui.common import StatusLine, allow, button, esc, handles, problems_html, style
from cmkit.values import Ticket


class CreateTicketForm(w.VBox):
    """New ticket for one customer: queue (of the customer's group), subject, Create."""

    def __init__(
        self,
        cm: CustomerManager,
        customer_id: int,
        on_done: Callable[[Ticket], None] | None = None,
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
        self.create_button = button("Create ticket", "plus", "primary")
        self.create_button.on_click(self._create)
        self.ticket: Ticket | None = None
        box = w.VBox([self.queue, self.subject, self.create_button])
        box.add_class("cmkit-edit")
        super().__init__([style(), self.title, self.explain, box, self.status])
        self.add_class("cmkit-create-ticket")
        self.load()

    @handles
    def load(self) -> None:
        """Show the customer, offer its group's queues, and say why no ticket can be created, if so."""
        c = self.cm.customer(self.customer_id)
        self.title.value = f"<b>New ticket for {esc(c.label)}</b>"
        queues = self.cm.config.queues_for(c.group)
        self.queue.options = queues
        self.queue.value = queues[0] if queues else None
        refusals = self.cm.why_not("create_ticket", c.id)
        self.explain.value = (
            ("<p>No ticket can be created for this customer:</p>" + problems_html(refusals))
            if refusals
            else ""
        )
        allow([self.queue, self.subject, self.create_button], refusals)

    @handles
    def _create(self, _b: object = None) -> None:
        if not self.queue.value:
            raise ValidationError("queue", "choose one of the queues of the customer's group")
        t = self.cm.create_ticket(self.customer_id, self.queue.value, self.subject.value)
        self.ticket = t
        self.subject.value = ""
        self.status.ok(f"ticket {t.number} created in queue {t.queue}: {t.subject}")
        if self.on_done:
            self.on_done(t)
