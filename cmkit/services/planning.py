"""Plans (R34): what a dry run records so that exactly its plan can be applied later, and the check that
an applied plan still holds.

An operation describes itself with a `PlanInfo`: its name and arguments (plain JSON values), the rows its
plan read ({entity: ids}), and the plan it is asked to apply (`expect`, None for a plain call). `access.finish`
then either makes the dry run a plan (`make`: id, fingerprint, the rows with what they were) or, given a
plan, compares under the operation's own locks what the plan saw with what is there now (`differences`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from cmkit.db import rowstate
from cmkit.db.uow import UnitOfWork
from cmkit.errors import PreconditionFailed
from cmkit.values import Outcome, changes_rows

CHANGED_COLUMNS = ["entity", "id", "planned", "now"]
NOT_READ = "not read by the plan"


@dataclass
class PlanInfo:
    """How an operation's dry run becomes a plan, and the plan it is asked to apply (`expect`)."""

    work: UnitOfWork
    operation: str
    arguments: dict[str, Any]
    expect: Outcome | None = None
    reads: Mapping[str, Any] = field(default_factory=dict)
    #: the rows' state read before the operation changed anything (`seen`), where it is read early: a revert
    #: makes its changes before it knows its plan; with `expect` it covers the rows that plan read, too
    seen: pd.DataFrame | None = None


def seen_now(info: PlanInfo) -> pd.DataFrame:
    """The state of the rows the operation read and, given a plan to apply, of the rows that plan read."""
    wanted: dict[str, list[int]] = rowstate.keys(info.reads)
    if info.expect is not None:
        for entity, ids in rowstate.as_reads(info.expect.reads).items():
            wanted[entity] = sorted(set(wanted.get(entity, [])) | set(ids))
    return rowstate.seen(info.work.session, wanted)


def fingerprint(
    operation: str | None, arguments: Any, reads: pd.DataFrame | None, changes: pd.DataFrame
) -> str:
    """A hash of what a plan is: the operation and arguments, the rows read with what was seen, the changes."""
    body = {
        "operation": operation,
        "arguments": arguments,
        "reads": [] if reads is None else changes_rows(reads),
        "changes": [list(map(str, changes.columns)), changes_rows(changes)],
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def new_plan_id(now: dt.datetime) -> str:
    return f"plan-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def make(outcome: Outcome, info: PlanInfo) -> Outcome:
    """The dry run `outcome` as a plan: id, operation, arguments, the rows read, and its fingerprint."""
    reads = info.seen if info.seen is not None else rowstate.seen(info.work.session, info.reads)
    return replace(
        outcome,
        plan_id=new_plan_id(info.work.now),
        operation=info.operation,
        arguments=info.arguments,
        reads=reads,
        made_by=info.work.user,
        made_at=info.work.now.isoformat(timespec="seconds"),
        fingerprint=fingerprint(info.operation, info.arguments, reads, outcome.changes),
    )


def check_intact(plan: Outcome) -> None:
    """Refuse (PreconditionFailed, R34) an object that is not a dry run's plan, and a plan whose contents
    do not match its fingerprint (edited after it was made)."""
    if plan.applied or not plan.plan_id or not plan.operation or plan.fingerprint is None:
        raise PreconditionFailed(
            [
                "R34: only a dry run's plan can be applied (it has a plan_id); run the operation with dry_run=True"
            ]
        )
    if fingerprint(plan.operation, plan.arguments, plan.reads, plan.changes) != plan.fingerprint:
        raise PreconditionFailed(
            [
                f"R34: plan {plan.plan_id} does not match its fingerprint: it was changed after it was made; "
                "make a new plan and review it"
            ]
        )


def _plan_rows(expect: pd.DataFrame, now: pd.DataFrame) -> pd.DataFrame:
    """The rows of the planned changes that differ from the changes computed now (as texts)."""
    if list(map(str, expect.columns)) != list(map(str, now.columns)):
        return pd.DataFrame(
            [("plan", 0, ", ".join(map(str, expect.columns)), ", ".join(map(str, now.columns)))],
            columns=CHANGED_COLUMNS,
        )
    old, new = changes_rows(expect), changes_rows(now)
    if old == new:
        return pd.DataFrame(columns=CHANGED_COLUMNS)
    cols = list(map(str, expect.columns))
    text = [json.dumps(dict(zip(cols, r, strict=True)), ensure_ascii=False, default=str) for r in old]
    text_now = [json.dumps(dict(zip(cols, r, strict=True)), ensure_ascii=False, default=str) for r in new]
    gone = [t for t in text if t not in text_now]
    came = [t for t in text_now if t not in text]
    rows = [("plan row", i, t, "not in the plan computed now") for i, t in enumerate(gone)]
    rows += [("plan row", i, "not in the reviewed plan", t) for i, t in enumerate(came)]
    return pd.DataFrame(rows, columns=CHANGED_COLUMNS)


def differences(info: PlanInfo, changes: pd.DataFrame) -> pd.DataFrame:
    """What differs now from what `info.expect` saw, read in the operation's transaction under its locks:
    one row per row read (entity, id, planned, now), and the planned changes that would differ."""
    expect = info.expect
    assert expect is not None
    planned = expect.reads if expect.reads is not None else pd.DataFrame(columns=rowstate.COLUMNS)
    now = info.seen if info.seen is not None else seen_now(info)
    both = planned.astype({"id": "int64"}).merge(
        now, on=["entity", "id"], how="outer", suffixes=("_plan", "")
    )
    both["seen_plan"] = both["seen_plan"].fillna(NOT_READ)
    diff = both[both["seen_plan"] != both["seen"]]
    rows = pd.DataFrame(
        {"entity": diff["entity"], "id": diff["id"], "planned": diff["seen_plan"], "now": diff["seen"]},
        columns=CHANGED_COLUMNS,
    )
    order = {e: i for i, e in enumerate(rowstate.ENTITIES)}
    rows = rows.sort_values(["entity", "id"], key=lambda s: s.map(order) if s.name == "entity" else s)
    extra = _plan_rows(expect.changes, changes)
    parts = [f for f in (rows, extra) if not f.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=CHANGED_COLUMNS)


def refusal(expect: Outcome, changed: pd.DataFrame) -> str:
    shown = "; ".join(f"{e} #{i}: {p} -> {n}" for e, i, p, n in changed.head(5).itertuples(index=False))
    more = f" (and {len(changed) - 5} more)" if len(changed) > 5 else ""
    return (
        f"R34: plan {expect.plan_id} ({expect.operation}, made by {expect.made_by} at {expect.made_at}) no "
        f"longer holds: {len(changed)} row(s) differ from what it saw: {shown}{more}. Nothing was applied; "
        "make a new plan and review it (the error's .changed lists the rows)"
    )


def applied_entry(info: PlanInfo) -> None:
    """Record which plan was applied (R29, R34): one audit entry naming it."""
    expect = info.expect
    assert expect is not None
    info.work.audit(
        "apply_plan",
        "plan",
        None,
        None,
        None,
        {
            "plan_id": expect.plan_id,
            "operation": expect.operation,
            "fingerprint": expect.fingerprint,
            "made_by": expect.made_by,
            "made_at": expect.made_at,
        },
    )


def encode_frame(table: pd.DataFrame) -> dict[str, Any]:
    """A table given as an argument (a file read, a DataFrame), as plain JSON values for a plan."""
    from cmkit.values import frame_to_dict

    return {"frame": frame_to_dict(table)}


def decode_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A plan's arguments as the operation takes them: tables back as DataFrames."""
    from cmkit.values import frame_from_dict

    return {
        k: frame_from_dict(v["frame"]) if isinstance(v, dict) and set(v) == {"frame"} else v
        for k, v in arguments.items()
    }
