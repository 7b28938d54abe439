"""Applying a reviewed plan (R34): `apply(ctx, plan)` runs the plan's operation again, given the plan, so that
the operation itself, under its own locks and in its own transaction, checks that every row the plan read
is as the plan saw it and then applies exactly the planned changes, or refuses and changes nothing.

A plan is the Outcome of a dry run (`cm.transfer_tickets(a, b, dry_run=True)`), or such an Outcome read
back from a file (`Outcome.load(path)`), made by this or another process and user.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cmkit.errors import PreconditionFailed, ValidationError
from cmkit.services import (
    anonymise,
    contact_moves,
    importing,
    lifecycle,
    merge,
    planning,
    revert,
    transfer,
)
from cmkit.services.context import Context
from cmkit.values import Outcome

#: The operations whose dry runs are plans, by the name a plan carries: each takes `expect=plan`.
OPERATIONS: dict[str, Callable[..., Outcome]] = {
    "transfer_tickets": transfer.transfer_tickets,
    "transfer_many": transfer.transfer_many,
    "deactivate": lifecycle.deactivate,
    "deactivate_many": lifecycle.deactivate_many,
    "deactivate_unblocked": lifecycle.deactivate_unblocked,
    "reactivate": lifecycle.reactivate,
    "delete": lifecycle.delete,
    "merge": merge.merge,
    "anonymise": anonymise.anonymise,
    "move_contacts": contact_moves.move_contacts,
    "import_customers": importing.import_customers,
    "revert": revert.revert,
}


def load(plan: Outcome | str | Path) -> Outcome:
    """The plan itself, or the plan kept in the JSON file `plan` (ValidationError if it is none)."""
    if isinstance(plan, Outcome):
        return plan
    if isinstance(plan, str | Path):
        path = Path(plan)
        if not path.is_file():
            raise ValidationError("plan", f"no file {str(path)!r}; give a plan or the file it was saved to")
        try:
            return Outcome.load(path)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValidationError("plan", f"{path.name} is not a cmkit plan: {exc}") from None
    raise ValidationError("plan", f"give a dry run's Outcome or a plan file, got {type(plan).__name__}")


def apply(ctx: Context, plan: Outcome | str | Path, *, dry_run: bool = False) -> Outcome:
    """Apply exactly `plan` (R34), in one transaction: the operation re-reads, under its locks, every row the
    plan read; if any differs, PreconditionFailed with `.changed` (entity, id, planned, now) and nothing
    changes. `dry_run=True` only checks: the plan back, with `changed` and, if it no longer holds, problems.

    Refuses what is no plan (an applied Outcome, an edited plan file) and a plan that had problems."""
    outcome = load(plan)
    planning.check_intact(outcome)
    assert outcome.operation is not None
    if outcome.operation not in OPERATIONS:
        raise PreconditionFailed(
            [f"R34: plan {outcome.plan_id} names no known operation {outcome.operation!r}"]
        )
    arguments: dict[str, Any] = planning.decode_arguments(outcome.arguments or {})
    return OPERATIONS[outcome.operation](ctx, **arguments, dry_run=dry_run, expect=outcome)
