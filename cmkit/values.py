"""The plain values the facade returns: frozen snapshots, never live database objects."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeAlias, cast

import pandas as pd

Kind = Literal["company", "contact"]
KINDS: tuple[Kind, ...] = ("company", "contact")


@dataclass(frozen=True)
class Customer:
    id: int
    kind: Kind
    group: str
    company_id: int | None
    active: bool
    name: str
    fields: MappingProxyType[str, Any]
    version: int

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    @property
    def label(self) -> str:
        """How messages and forms name the customer: "contact 'Anna Müller' (#3)"."""
        return f"{self.kind} {self.name!r} (#{self.id})"


@dataclass(frozen=True)
class Ticket:
    id: int
    number: str
    subject: str
    queue: str
    state: Literal["open", "closed"]
    main_customer_id: int
    additional_customer_ids: tuple[int, ...]


@dataclass(frozen=True)
class Outcome:
    """What a lifecycle operation did (`applied`) or would do (dry run): `changes` one row per record.

    A dry run is a plan (R34): `plan_id`, `operation` and `arguments` say what to apply, `reads` lists
    every row the plan read with what it saw (entity, id, seen), and `fingerprint` is a hash of those and
    of `changes`. `cm.apply(plan)` applies exactly that plan or nothing; a plan is kept in a file with
    `save(path)` and read back with `Outcome.load(path)`. `changed` is set by `cm.apply(plan, dry_run=True)`:
    the rows that differ now from what the plan saw (entity, id, planned, now)."""

    applied: bool
    changes: pd.DataFrame
    problems: list[str] = field(default_factory=list)
    #: the tickets that refuse it (deactivate, delete), also in a dry run; None where tickets never block
    blocking: pd.DataFrame | None = None
    plan_id: str | None = None
    fingerprint: str | None = None
    #: the operation (a CustomerManager method's name) and its arguments (plain JSON values)
    operation: str | None = None
    arguments: dict[str, Any] | None = None
    reads: pd.DataFrame | None = None
    changed: pd.DataFrame | None = None
    made_by: str | None = None
    made_at: str | None = None
    #: the run id of the changes an applied revert made (R35), to revert the revert by
    run_id: str | None = None

    @property
    def allowed(self) -> bool:
        return not self.problems

    def _repr_html_(self) -> str:
        state = "applied" if self.applied else ("dry run: allowed" if self.allowed else "refused")
        plan = f", plan {self.plan_id}" if self.plan_id and not self.applied else ""
        head = f"<p><b>Outcome</b>: {state}, {len(self.changes)} change(s){plan}</p>"
        import html

        probs = "".join(f"<li>{html.escape(p)}</li>" for p in self.problems)
        return head + (f"<ul>{probs}</ul>" if probs else "") + self.changes.to_html(escape=True, max_rows=50)

    # -- a plan kept in a file (R34) ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The outcome as plain JSON values (DataFrames as columns, dtypes and rows)."""
        return {
            "format": PLAN_FORMAT,
            "applied": self.applied,
            "problems": list(self.problems),
            "plan_id": self.plan_id,
            "fingerprint": self.fingerprint,
            "operation": self.operation,
            "arguments": self.arguments,
            "made_by": self.made_by,
            "made_at": self.made_at,
            "run_id": self.run_id,
            "changes": frame_to_dict(self.changes),
            "blocking": None if self.blocking is None else frame_to_dict(self.blocking),
            "reads": None if self.reads is None else frame_to_dict(self.reads),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcome:
        """The outcome `to_dict` gave (ValueError for anything else)."""
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            raise ValueError(f"not a cmkit plan (format {PLAN_FORMAT!r})")
        frames = {k: None if data.get(k) is None else frame_from_dict(data[k]) for k in ("blocking", "reads")}
        return cls(
            applied=bool(data["applied"]),
            changes=frame_from_dict(data["changes"]),
            problems=[str(p) for p in data.get("problems") or []],
            blocking=frames["blocking"],
            plan_id=data.get("plan_id"),
            fingerprint=data.get("fingerprint"),
            operation=data.get("operation"),
            arguments=data.get("arguments"),
            reads=frames["reads"],
            made_by=data.get("made_by"),
            made_at=data.get("made_at"),
            run_id=data.get("run_id"),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Outcome:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> Path:
        """Write the plan to a JSON file (to review, and to apply later or elsewhere); returns the path."""
        out = Path(path)
        out.write_text(self.to_json(), encoding="utf-8")
        return out

    @classmethod
    def load(cls, path: str | Path) -> Outcome:
        """A plan written by `save`."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


PLAN_FORMAT = "cmkit-plan-1"


def _cell(value: Any) -> Any:
    """One DataFrame cell as a plain JSON value."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, list | dict | str):
        return _cell(value.item())  # numpy scalars
    if isinstance(value, list | tuple):
        return [_cell(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _cell(v) for k, v in value.items()}
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _column(col: pd.Series) -> list[Any]:
    """One column's cells as plain JSON values: whole numbers, truth values and texts at once (a text column
    with gaps: one test per cell), the rest by cell (a plan of 10,000 customers: 70 ms to 6 ms)."""
    if col.dtype.kind in "iub" and not col.isna().any():  # (nullable Int64 and boolean may hold NA)
        return list(col.tolist())
    values = col.tolist()
    if pd.api.types.infer_dtype(values, skipna=True) == "string":  # texts, and gaps if any
        return values if not col.isna().any() else [v if isinstance(v, str) else None for v in values]
    return [_cell(v) for v in values]


def frame_to_dict(df: pd.DataFrame) -> dict[str, Any]:
    """A DataFrame as plain JSON values: its columns, their dtypes, its rows (lists), and its attrs."""
    return {
        "columns": [str(c) for c in df.columns],
        "dtypes": [str(t) for t in df.dtypes],
        "rows": [list(row) for row in zip(*(_column(df.iloc[:, i]) for i in range(df.shape[1])), strict=True)]
        if df.shape[1]
        else [[] for _ in range(len(df))],
        "attrs": _cell(dict(df.attrs)),
    }


def frame_from_dict(data: dict[str, Any]) -> pd.DataFrame:
    """The DataFrame `frame_to_dict` gave, with its dtypes where they can be restored."""
    columns = list(data["columns"])
    df = pd.DataFrame([list(r) for r in data["rows"]], columns=columns, dtype=object)
    for i, kind in enumerate(data.get("dtypes") or []):
        col = df.iloc[:, i]
        try:
            if kind.startswith("datetime64"):
                converted = pd.to_datetime(col, utc="UTC" in kind or "+" in kind)
            elif kind in ("object", "str"):
                continue
            elif kind in ("int64", "float64", "bool") and col.isna().any():
                continue
            else:
                converted = col.astype(kind)
        except (TypeError, ValueError):
            continue
        df[df.columns[i]] = converted
    df.attrs.update(data.get("attrs") or {})
    return df


def changes_rows(df: pd.DataFrame) -> list[list[Any]]:
    """A plan's rows as plain JSON values, the same before and after the plan went through a file."""
    return cast(list[list[Any]], frame_to_dict(df)["rows"])


@dataclass(frozen=True)
class ClusterMerges:
    """What merging clusters of duplicates did (`applied`) or would do (dry run).

    `clusters`: one row per proposed merge (the columns of suggest_merges) with its `status`: "ok" (a dry
    run would merge it), "merged", or why it is left as it is. `changes`: one row per changed record of
    the clusters merged (or to merge), with its `cluster`."""

    applied: bool
    clusters: pd.DataFrame
    changes: pd.DataFrame
    #: a dry run's plan per cluster that would be merged (R34): cm.apply each, or keep them in a file
    plans: tuple[Outcome, ...] = ()

    @property
    def merged(self) -> list[int]:
        """The ids of the clusters merged (applied) or that would be (dry run)."""
        done = self.clusters["status"].isin(["ok", "merged"])
        return [int(i) for i in self.clusters.loc[done, "id"]]

    @property
    def problems(self) -> list[str]:
        """Why each cluster left out is left out, e.g. "cluster 12 (Anna Müller): R17: ..."."""
        left = self.clusters[~self.clusters["status"].isin(["ok", "merged"])]
        return [
            f"cluster {c} ({name}): {status}"
            for c, name, status in zip(left["id"], left["survivor_name"], left["status"], strict=True)
        ]

    def _repr_html_(self) -> str:
        import html

        state = "merged" if self.applied else "would merge"
        head = f"<p><b>ClusterMerges</b>: {state} {len(self.merged)} of {len(self.clusters)} cluster(s)</p>"
        probs = "".join(f"<li>{html.escape(p)}</li>" for p in self.problems)
        return head + (f"<ul>{probs}</ul>" if probs else "") + self.clusters.to_html(escape=True, max_rows=50)


#: What names a customer in the API: its id (an int, or a numeric string) or its Customer snapshot.
CustomerRef: TypeAlias = int | str | Customer
#: What names a ticket: its id (an int, or a numeric string) or its Ticket snapshot.
TicketRef: TypeAlias = int | str | Ticket


@dataclass(frozen=True)
class AuditCheck:
    """The result of verifying the audit chain (R33)."""

    #: the chain holds (and, when asked, the anchor is on it)
    ok: bool
    #: how many entries were checked
    entries: int
    #: the hash of the last entry that holds: record it, and verify against it later (an anchor)
    head: str
    #: the id of the first entry changed, removed before, or inserted out of order (None when ok)
    first_bad: int | None
    #: what is wrong, in words ('' when ok)
    reason: str


@dataclass(frozen=True)
class ActivityParam:
    """One parameter of an activity, for a form that offers it as a field."""

    name: str
    #: "flag" (yes/no), "list" (several values), "number" or "text"
    kind: str
    #: what the activity uses when the parameter is not given (None: the activity decides, e.g. from data)
    default: Any
    #: the activity cannot run without it
    required: bool


@dataclass(frozen=True)
class ActivityInfo:
    """What an activity is (R13): its description, its parameters, and the question a form asks before it
    runs one that creates something ('' when it just runs)."""

    name: str
    description: str
    params: tuple[ActivityParam, ...]
    confirm: str
