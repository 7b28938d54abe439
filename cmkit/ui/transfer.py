"""Transfer data (R17): choose the target by autocomplete, tick *Only transfer open tickets*, see the
tickets that would change (a dry run), then *Transfer data and continue*."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as w

from cmkit.errors import CMError
from cmkit.facade import CustomerManager
from cmkit.ui.common import StatusLine, button, esc, handles, problems_html, show, style, tooltip
from cmkit.ui.picker import CustomerPicker
from cmkit.ui.table import Table
from cmkit.values import Outcome

PREVIEW_COLUMNS = ["id", "number", "subject", "state", "queue", "role", "target_already_on_ticket"]
#: with several sources, which of them each ticket comes from
MANY_COLUMNS = [*PREVIEW_COLUMNS[:-1], "source_id", PREVIEW_COLUMNS[-1]]


class TransferForm(w.VBox):
    """Hand a customer's tickets to another customer; without `source_id` the source is chosen here too
    (deactivated customers included: their closed tickets can be transferred). With `sources`, the tickets
    of all of them go to the one target in one step (e.g. every contact that blocks its company)."""

    def __init__(
        self,
        cm: CustomerManager,
        source_id: int | None = None,
        only_open: bool = True,
        on_done: Callable[[Outcome], None] | None = None,
        status: StatusLine | None = None,
        sources: Sequence[int] = (),
    ) -> None:
        self.cm, self.on_done = cm, on_done
        self.status = status or StatusLine()
        self.sources = [int(i) for i in sources]
        if source_id is None and self.sources:
            source_id = self.sources[0]
        self.source_id: int | None = int(source_id) if source_id is not None else None
        self.source = CustomerPicker(
            cm, "From", include_deactivated=True, on_pick=self._source_picked, status=self.status
        )
        self.source_label = w.HTML()
        self.target = CustomerPicker(
            cm, "To", on_pick=lambda _id: self.preview(), status=self.status, exclude=lambda: self.source_id
        )
        if len(self.sources) > 1:
            self.target.exclude = None
        self.only_open = w.Checkbox(value=only_open, description="Only transfer open tickets", indent=False)
        self.only_open.observe(lambda _c: self.preview(), "value")
        self.hint = w.HTML(
            "<small>Tick it before deactivating the source; untick it before deleting it "
            "(then every ticket must move).</small>"
        )
        self.problems = w.HTML()
        self.table = Table(
            columns=MANY_COLUMNS if len(self.sources) > 1 else PREVIEW_COLUMNS,
            empty="no ticket would change",
            cm=cm,
        )
        self.go = button("Transfer data and continue", "exchange", "primary", disabled=True)
        self.go.on_click(self._transfer)
        self.outcome: Outcome | None = None
        self.table_title = w.HTML("<b>Tickets that would change</b>")
        show(self.source, self.source_id is None)
        super().__init__(
            [
                style(),
                w.HTML("<b>Transfer data</b>"),
                self.source,
                self.source_label,
                self.target,
                self.only_open,
                self.hint,
                self.table_title,
                self.table,
                self.problems,
                self.go,
                self.status,
            ]
        )
        self.add_class("cmkit-transfer")
        self._describe_source()

    @handles
    def _describe_source(self) -> None:
        if self.source_id is None:
            self.source_label.value = ""
            return
        if len(self.sources) > 1:
            labels = ", ".join(esc(self.cm.customer(i).label) for i in self.sources)
            self.source_label.value = f"From all {len(self.sources)} of: <b>{labels}</b> (in one step)"
            return
        c = self.cm.customer(self.source_id)
        self.source_label.value = f"From: <b>{esc(c.label)}</b>" + (
            "" if c.active else " <i>(deactivated)</i>"
        )

    def _source_picked(self, cid: int | None) -> None:
        self.source_id = cid
        self.preview()

    @handles
    def preview(self) -> None:
        """The dry run for the chosen source, target and checkbox: the tickets that would change."""
        self.go.disabled = True
        self.problems.value = ""
        self.table_title.value = "<b>Tickets that would change</b>"
        if self.source_id is None or self.target.value is None:
            self.table.show(self.table.frame.iloc[0:0])
            return
        plan = self._run(dry_run=True)
        self.table.show(plan.changes)
        self.problems.value = problems_html(plan.problems)
        self.go.disabled = bool(plan.problems) or plan.changes.empty
        self.go.tooltip = tooltip(plan.problems)
        if plan.problems:
            self.status.error("this transfer is refused:\n" + "\n".join(plan.problems))
        elif plan.changes.empty:
            self.status.info(
                "no ticket to transfer"
                + (" (only open tickets are looked at)" if self.only_open.value else "")
            )
        else:
            self.status.info(f"{len(plan.changes)} ticket(s) would change; press Transfer data and continue")

    def _run(self, *, dry_run: bool) -> Outcome:
        assert self.source_id is not None and self.target.value is not None
        if len(self.sources) > 1:
            return self.cm.transfer_many(
                self.sources, self.target.value, only_open=self.only_open.value, dry_run=dry_run
            )
        return self.cm.transfer_tickets(
            self.source_id, self.target.value, only_open=self.only_open.value, dry_run=dry_run
        )

    @handles
    def _transfer(self, _b: object = None) -> None:
        if self.source_id is None or self.target.value is None:
            raise CMError("choose the customer whose tickets move (From) and the one who gets them (To)")
        with self.status.busy("transferring tickets"):
            outcome = self.outcome = self._run(dry_run=False)
        moved = outcome.changes
        self.table.show(moved)
        self.table_title.value = "<b>Tickets transferred</b>"
        self.go.disabled = True
        target = self.cm.customer(self.target.value)
        self.status.ok(
            f"{len(moved)} ticket(s) transferred to {target.name} (#{target.id}): "
            f"{', '.join(map(str, moved['number']))}"
        )
        if self.on_done:
            self.on_done(outcome)
