"""Search actions on the ticked rows of a result table: deactivate, transfer their tickets to one target, run
an activity on each, merge duplicates into one survivor, anonymise, export.

Each action first shows its plan: one row per ticked customer, "change" or "refused" with the rule that
refuses it (a permission the user lacks on that row's group, R18 for an open ticket...), and the dry run's
changes. Confirming applies exactly the reviewed plan (R34: cm.apply), in one transaction, under one run id
(cm.in_run), and reports what changed; the activities of *Run activity* run in one transaction too
(cm.atomic). Rows refused are shown, never silently skipped.

`ActionBar(cm, table)` attaches to any `Table` with `selectable=True`; `id_column` names the column holding
the customer ids (e.g. a ticket table's `customer_id`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as w
import pandas as pd

from cmkit.errors import CMError, PreconditionFailed, ValidationError
from cmkit.facade import CustomerManager
from cmkit.ui.activities import ParamFields
from cmkit.ui.common import Confirm, StatusLine, button, download_link, handles, problems_html, show
from cmkit.ui.picker import CustomerPicker
from cmkit.ui.table import EXPORT_TYPES, Table
from cmkit.values import Outcome

ACTIONS = {
    "deactivate": "Deactivate",
    "transfer": "Transfer tickets",
    "run_activity": "Run activity",
    "merge": "Merge duplicates",
    "anonymise": "Anonymise",
    "export": "Export",
}
ROW_COLUMNS = ["id", "name", "kind", "group", "active", "verdict", "rule"]
NAMED = re.compile(r"\(#(\d+)\)")  # how a rule's message names a customer: "contact 'Anna' (#3)"


def attribute(problems: Sequence[str], ids: Sequence[int]) -> dict[int, str]:
    """The problems that name one of `ids` (as "(#id)"), by id; a problem naming none is left out."""
    wanted, out = set(ids), dict[int, str]()
    for problem in problems:
        for found in NAMED.findall(problem):
            if int(found) in wanted:
                out.setdefault(int(found), problem)
    return out


class ActionBar(w.VBox):
    """The actions on a table's ticked rows, each planned (dry run) and applied on confirmation."""

    def __init__(
        self,
        cm: CustomerManager,
        table: Table,
        *,
        id_column: str = "id",
        status: StatusLine | None = None,
        on_done: Callable[[str, Outcome | None], None] | None = None,
    ) -> None:
        self.cm, self.table, self.id_column, self.on_done = cm, table, id_column, on_done
        self.status = status or StatusLine()
        self.action = w.Dropdown(
            description="Action", options=[(v, k) for k, v in ACTIONS.items()], value="deactivate"
        )
        self.action.observe(self._options, "value")
        self.target = CustomerPicker(cm, "Target", status=self.status)
        self.only_open = w.Checkbox(value=True, description="open tickets only", indent=False)
        self.activity = w.Dropdown(description="Activity", options=self._activity_names())
        self.param_fields = ParamFields()  # one field per parameter of the chosen activity, as on the page
        self.activity.observe(self._offer_params, "value")
        self.survivor = w.Dropdown(description="Survivor", options=[], layout=w.Layout(width="420px"))
        self.export_type = w.Dropdown(description="As", options=list(EXPORT_TYPES), value="csv")
        self.plan_button = button("Plan", "list", "warning")
        self.plan_button.on_click(self.plan)
        self.options = {
            "transfer": w.VBox([self.target, self.only_open]),
            "run_activity": w.VBox([self.activity, self.param_fields]),
            "merge": self.survivor,
            "export": self.export_type,
        }
        self.summary = w.HTML()
        self.problems = w.HTML()
        self.rows = Table(columns=ROW_COLUMNS, empty="no row ticked", cm=cm)
        self.changes = Table(empty="nothing would change", cm=cm)
        self.changes_title = w.HTML("<b>Changes</b>")
        self.confirm = Confirm()
        self.result = w.HTML()
        self.plan_box = w.VBox([self.summary, self.problems, self.rows, self.changes_title, self.changes])
        self.plan_rows = pd.DataFrame(columns=ROW_COLUMNS)
        self.outcome: Outcome | None = None
        self.applied: Outcome | None = None
        self.run_id: str | None = None
        self.results: list[object] = []
        super().__init__(
            [
                w.HBox([self.action, self.plan_button]),
                *self.options.values(),
                self.plan_box,
                self.confirm,
                self.result,
            ]
        )
        self.add_class("cmkit-actions")
        table.observe(self._ticked, "selected_ids")
        self._options()
        self._offer_params()
        show(self.plan_box, False)

    # -- choosing --------------------------------------------------------------------------------------------
    def _activity_names(self) -> list[str]:
        return list(dict.fromkeys(n for names in self.cm.config.activities.values() for n in names))

    @handles
    def _offer_params(self, _change: object = None) -> None:
        name = self.activity.value
        self.param_fields.offer(self.cm.activity_info(name) if name else None)
        self._reset()

    def _options(self, _change: object = None) -> None:
        for name, box in self.options.items():
            show(box, name == self.action.value)
        self._reset()

    def _ticked(self, _change: object = None) -> None:
        ids = self.ids()
        frame = self.table.selected_frame
        labels = {
            int(i): str(n) for i, n in zip(frame.get(self.id_column, []), frame.get("name", []), strict=False)
        }
        self.survivor.options = [(f"{labels.get(i, '')} (#{i})", i) for i in ids[:500]]
        self._reset()

    def _reset(self) -> None:
        self.confirm.hide()
        self.outcome = None
        show(self.plan_box, False)

    def ids(self) -> list[int]:
        """The customer ids of the ticked rows, in the table's order, without repeats."""
        frame = self.table.selected_frame
        if self.id_column not in frame.columns:
            return []
        return [int(i) for i in dict.fromkeys(frame[self.id_column].dropna())]

    # -- planning ----------------------------------------------------------------------------------------------
    @handles
    def plan(self, _b: object = None) -> None:
        """The chosen action's plan for the ticked rows: rows that change, rows refused and by which rule, the
        dry run's changes; when something would change, a confirmation."""
        self._reset()
        self.result.value = ""
        ids = self.ids()
        if not ids:
            raise ValidationError("selection", "tick the rows to act on first (or Select all)")
        action = str(self.action.value)
        with self.status.busy(f"planning {ACTIONS[action].lower()} for {len(ids):,} row(s)"):
            rows = self.cm.refused_rows(action, ids)
            refused = {int(i): str(r) for i, r in zip(rows["id"], rows["refused"], strict=True) if r}
            allowed = [i for i in ids if i not in refused]
            outcome, whole = self._plan(action, allowed, refused, rows)
        rows = rows.drop(columns=["refused"])
        rows["verdict"] = ["refused" if int(i) in refused else "change" for i in rows["id"]]
        rows["rule"] = [refused.get(int(i), "") for i in rows["id"]]
        if (
            action == "merge"
            and self.survivor.value in set(rows["id"])
            and self.survivor.value not in refused
        ):
            rows.loc[rows["id"] == self.survivor.value, "verdict"] = "survivor"
        self.plan_rows, self.outcome = rows[ROW_COLUMNS], outcome
        self.rows.show(self.plan_rows, italic=list(rows["verdict"] == "refused"))
        changes = outcome.changes if outcome is not None else self._export_frame(allowed)
        self.changes.show(changes if changes is not None else pd.DataFrame())
        n_ok = int((rows["verdict"] != "refused").sum())
        self.summary.value = (
            f"<b>Plan: {ACTIONS[action].lower()}</b>: {n_ok:,} of {len(rows):,} ticked row(s) would change, "
            f"{len(refused):,} refused (in italics, with the rule)"
        )
        self.problems.value = problems_html(whole)
        show(self.plan_box, True)
        if whole or not n_ok or (action == "merge" and n_ok < 2):
            why = "; ".join(whole) or "no ticked row can be acted on"
            self.status.error(f"{ACTIONS[action]} is not possible for these rows: {why}")
            return
        self.status.info(f"review the plan; confirm to {ACTIONS[action].lower()} {n_ok:,} row(s)")
        self.confirm.ask(
            f"{ACTIONS[action]}: {n_ok:,} row(s)"
            + (f"; {len(refused):,} refused row(s) stay as they are" if refused else "")
            + "?",
            self._apply,
            yes_label=ACTIONS[action],
        )

    def _plan(
        self, action: str, allowed: list[int], refused: dict[int, str], rows: pd.DataFrame
    ) -> tuple[Outcome | None, list[str]]:
        """The dry run over the rows not refused yet; rows a rule refuses join `refused`. Returns the plan and
        the problems that refuse it as a whole (naming no ticked row)."""
        if action == "deactivate":
            for i, active in zip(rows["id"], rows["active"], strict=True):
                if not pd.isna(active) and not bool(active) and int(i) not in refused:
                    refused[int(i)] = "R18: deactivated already; nothing to do"
            allowed = [i for i in allowed if i not in refused]
            return self._settle(allowed, refused, lambda ids: self.cm.deactivate_many(ids, dry_run=True))
        if action == "anonymise":
            return self._settle(allowed, refused, lambda ids: self.cm.anonymise(list[Any](ids), dry_run=True))
        if action == "transfer":
            target = self.target.value
            if target is None:
                raise ValidationError("target", "choose the customer that gets the tickets (Target)")
            return self._settle(
                allowed,
                refused,
                lambda ids: self.cm.transfer_many(ids, target, only_open=self.only_open.value, dry_run=True),
            )
        if action == "merge":
            survivor = self.survivor.value
            if survivor is None:
                raise ValidationError("survivor", "choose the survivor among the ticked rows")
            if survivor in refused:
                return None, [f"the survivor #{survivor} is refused: {refused[survivor]}"]
            dups = [i for i in allowed if i != survivor]
            if not dups:
                return None, ["tick at least one duplicate besides the survivor"]
            outcome, whole = self._settle(
                dups, refused, lambda ids: self.cm.merge(survivor, ids, dry_run=True)
            )
            if survivor in refused:  # a rule named the survivor itself
                return outcome, [refused.pop(survivor)]
            return outcome, whole
        if action == "run_activity":
            name = self.activity.value
            if not name:
                raise ValidationError("activity", "choose an activity")
            self.param_fields.values()  # refuse bad parameters before anything runs
            for i in allowed:
                if name not in self.cm.activities(i):
                    refused[i] = "; ".join(self.cm.why_not("run_activity", i)) or (
                        f"R13: activity {name!r} is not offered for #{i} (its group or kind)"
                    )
            return None, []
        return None, []  # export: reading is all it needs

    @staticmethod
    def _settle(
        allowed: list[int], refused: dict[int, str], dry_run: Callable[[list[int]], Outcome]
    ) -> tuple[Outcome | None, list[str]]:
        """Plan over `allowed`; the rows a problem names are refused and the plan is made again without them."""
        outcome: Outcome | None = None
        for _ in range(3):
            if not allowed:
                return None, []
            outcome = dry_run(allowed)
            if outcome.allowed:
                return outcome, []
            named = attribute(outcome.problems, allowed)
            if not named:
                return outcome, list(outcome.problems)
            refused.update(named)
            allowed = [i for i in allowed if i not in named]
        return outcome, list(outcome.problems) if outcome is not None else []

    def _export_frame(self, allowed: list[int]) -> pd.DataFrame | None:
        if self.action.value in ("export", "run_activity"):
            frame = self.table.selected_frame
            return (
                frame[frame[self.id_column].isin(set(allowed))] if self.id_column in frame.columns else frame
            )
        return None

    # -- applying ----------------------------------------------------------------------------------------------
    @handles
    def _apply(self) -> None:
        action = str(self.action.value)
        ok = [int(i) for i in self.plan_rows.loc[self.plan_rows["verdict"] != "refused", "id"]]
        run = self.cm.in_run()
        self.run_id, self.applied = run.run_id, None
        with self.status.busy(f"{ACTIONS[action].lower()}: {len(ok):,} row(s)"):
            if self.outcome is not None:
                self.applied = run.apply(self.outcome)  # exactly the reviewed plan, one transaction
                message = (
                    f"{ACTIONS[action]}: done for {len(ok):,} row(s), {len(self.applied.changes):,} change(s)"
                )
            elif action == "run_activity":
                message = self._run_activities(run, ok)
            else:
                message = self._export(ok)
        refused = len(self.plan_rows) - len(ok)
        message += f"; {refused:,} refused row(s) left as they were" if refused else ""
        if action != "export":
            message += f" (run id {self.run_id})"
        plan_rows = self.plan_rows
        if self.on_done:  # e.g. the search again (which clears the ticks): the report comes after it
            self.on_done(action, self.applied)
        self.plan_rows = plan_rows.assign(verdict=plan_rows["verdict"].replace({"change": "done"}))
        self.rows.show(self.plan_rows, italic=list(self.plan_rows["verdict"] == "refused"))
        if self.applied is not None:
            self.changes.show(self.applied.changes)
        self.summary.value = f"<b>{ACTIONS[action]} applied</b>: {html.escape(message)}"
        show(self.plan_box, True)
        self.status.ok(message)

    def _run_activities(self, run: CustomerManager, ids: list[int]) -> str:
        """The activity on each of `ids`, all in one transaction: if it is refused for one of them (since
        the plan), nothing is changed and the form says for which customer and why."""
        name, params = str(self.activity.value), self.param_fields.values()
        results: list[object] = []
        with run.atomic():
            for i in ids:
                try:
                    results.append(run.run_activity(i, name, **params))
                except CMError as exc:
                    raise PreconditionFailed(
                        [f"{ACTIONS['run_activity']}: nothing was changed; refused for #{i}: {exc}"]
                    ) from None
        self.results = results
        return f"activity {name!r} ran on {len(ids):,} customer(s), in one transaction"

    def _export(self, ids: list[int]) -> str:
        frame = self.table.selected_frame
        df = frame[frame[self.id_column].isin(set(ids))]
        kind = str(self.export_type.value)
        data = self.table.export_bytes(kind, df)
        label = f"Download {len(df):,} rows ({kind.upper()})"
        self.result.value = download_link(data, f"cmkit-selection.{kind}", EXPORT_TYPES[kind], label)
        return f"export of {len(df):,} row(s) ready: use the download link"


def attach(cm: CustomerManager, table: Table, **kw: Any) -> ActionBar:
    """An ActionBar for `table` (made selectable), e.g. under a ticket search form's results."""
    table.make_selectable()
    return ActionBar(cm, table, **kw)
