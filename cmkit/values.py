"""The plain values the facade returns: frozen snapshots, never live database objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

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
    """What a lifecycle operation did (`applied`) or would do (dry run): `changes` one row per record."""

    applied: bool
    changes: pd.DataFrame
    problems: list[str] = field(default_factory=list)
    #: the tickets that refuse it (deactivate, delete), also in a dry run; None where tickets never block
    blocking: pd.DataFrame | None = None

    @property
    def allowed(self) -> bool:
        return not self.problems

    def _repr_html_(self) -> str:
        state = "applied" if self.applied else ("dry run: allowed" if self.allowed else "refused")
        head = f"<p><b>Outcome</b>: {state}, {len(self.changes)} change(s)</p>"
        import html

        probs = "".join(f"<li>{html.escape(p)}</li>" for p in self.problems)
        return head + (f"<ul>{probs}</ul>" if probs else "") + self.changes.to_html(escape=True, max_rows=50)


@dataclass(frozen=True)
class ClusterMerges:
    """What merging clusters of duplicates did (`applied`) or would do (dry run).

    `clusters`: one row per proposed merge (the columns of suggest_merges) with its `status`: "ok" (a dry
    run would merge it), "merged", or why it is left as it is. `changes`: one row per changed record of
    the clusters merged (or to merge), with its `cluster`."""

    applied: bool
    clusters: pd.DataFrame
    changes: pd.DataFrame

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
