"""Merging the clusters of duplicates that `find_duplicates` finds (`merge_duplicates`): each cluster into
the survivor `suggest_merges` proposes, each in its own transaction; the clusters that cannot be merged
are left as they are, with the reason."""

from __future__ import annotations

import operator
from typing import Any

import pandas as pd

from cmkit.errors import NotFound, PermissionDenied, PreconditionFailed, StaleVersion, ValidationError
from cmkit.services import duplicates, merge
from cmkit.services.context import Context
from cmkit.values import ClusterMerges, Outcome

COLUMNS = ["cluster", *merge.PLAN_COLUMNS]
#: what refuses one cluster without stopping the others
REFUSALS = (PreconditionFailed, PermissionDenied, NotFound, StaleVersion)


def _cluster_ids(clusters: Any) -> list[int]:
    items = [clusters] if isinstance(clusters, int) else list(clusters)
    try:
        if any(isinstance(c, bool) for c in items):
            raise TypeError
        return [operator.index(c) for c in items]
    except TypeError:
        raise ValidationError("clusters", f"must be cluster ids (whole numbers), got {clusters!r}") from None


def merge_duplicates(
    ctx: Context,
    pairs: pd.DataFrame | None = None,
    *,
    group: str | None = None,
    min_score: int = 90,
    clusters: Any = None,
    dry_run: bool = False,
) -> ClusterMerges:
    """Merge every cluster of duplicates that can be merged into the survivor `suggest_merges` proposes
    (the active record with the most tickets), cluster by cluster, each in one transaction (`merge`).

    `pairs` from find_duplicates, else find_duplicates(group, min_score). `clusters`: only these cluster
    ids (after reading a dry run's plan); an id that is no proposed cluster is refused (ValidationError).
    A cluster that a rule refuses (no active record, R14, R17, R20, a permission R25, a record gone) is
    left as it is and its `status` says why; the others go ahead. A dry run changes nothing.
    """
    proposals = duplicates.suggest_merges(ctx, pairs, group, min_score)
    if clusters is not None:
        wanted = _cluster_ids(clusters)
        unknown = [c for c in wanted if c not in set(proposals["id"])]
        if unknown:
            known = ", ".join(str(c) for c in proposals["id"][:20]) or "none"
            raise ValidationError(
                "clusters",
                f"no cluster {', '.join(map(str, unknown))} among the proposed merges (clusters: {known})",
            )
        proposals = proposals[proposals["id"].isin(wanted)].reset_index(drop=True)
    status: list[str] = []
    plans: list[pd.DataFrame] = []
    kept: list[Outcome] = []
    for cluster, survivor, duplicate_ids, note in zip(
        proposals["id"], proposals["survivor_id"], proposals["duplicate_ids"], proposals["note"], strict=True
    ):
        if note:
            status.append(str(note))
            continue
        try:
            outcome = merge.merge(ctx, int(survivor), list(duplicate_ids), dry_run=dry_run)
        except REFUSALS as exc:
            status.append("; ".join(str(exc).splitlines()))
            continue
        if outcome.problems:
            status.append("; ".join(outcome.problems))
            continue
        status.append("ok" if dry_run else "merged")
        plans.append(outcome.changes.assign(cluster=int(cluster))[COLUMNS])
        if dry_run:
            kept.append(outcome)
    changes = pd.concat(plans, ignore_index=True) if plans else pd.DataFrame(columns=COLUMNS)
    return ClusterMerges(
        applied=not dry_run, clusters=proposals.assign(status=status), changes=changes, plans=tuple(kept)
    )
