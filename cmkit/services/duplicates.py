"""Finding duplicate customers (`find_duplicates`) and proposing merges (`suggest_merges`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
from sqlalchemy import Select, func, select

from cmkit.db import repo
from cmkit.db.schema import AuditEntry, CustomerRow
from cmkit.db.uow import UnitOfWork
from cmkit.domain.matching import Part, finish_pairs, named_pairs, part_pairs
from cmkit.errors import ValidationError
from cmkit.services.context import Context
from cmkit.values import KINDS

C = CustomerRow
ANONYMISE_ACTION = "anonymise"


def anonymised_ids() -> Select[Any]:
    """The ids of anonymised customers (their audit trail says so): a select."""
    return select(AuditEntry.customer_id).where(AuditEntry.action == ANONYMISE_ACTION)


def find_duplicates(
    ctx: Context, group: str | None = None, min_score: int = 90, *, include_deactivated: bool = True
) -> pd.DataFrame:
    """Pairs of customers that are probably one customer: id_a < id_b, score (0-100), reason, names,
    group, kind, `cluster` (the smallest id of the connected duplicates) and `note` (set on the pairs of
    a cluster too large to review, which suggest_merges does not propose), best first.

    Compares customers of the same group and kind only, never anonymised ones; reads and compares one
    group and kind at a time, block by block (cmkit.domain.matching), and keeps only the pairs scoring
    at least `min_score` (cmkit.domain.matching_score: a common name is weak evidence, a shared e-mail
    address or phone number strong). Needs read permission; other groups are left out.
    """
    if not 0 <= int(min_score) <= 100:
        raise ValidationError("min_score", f"must be between 0 and 100, got {min_score!r}")
    groups = [ctx.group(group).name] if group else list(ctx.config.groups)
    groups = [g for g in groups if ctx.may("read", g)]

    def read(gid: int, kind: str) -> Callable[[UnitOfWork], pd.DataFrame]:
        def op(work: UnitOfWork) -> pd.DataFrame:
            stmt = (
                select(
                    C.id,
                    C.company_id,
                    C.name,
                    *(C.data[f].as_string().label(f) for f in ("email", "phone", "city", "vat_id")),
                )
                .where(C.group_id == gid, C.kind == kind, C.id.not_in(anonymised_ids()))
                .order_by(C.id)
            )
            if not include_deactivated:
                stmt = stmt.where(C.active.is_(True))
            return repo.frame_of(work.session, stmt)

        return op

    # one group and kind at a time: only their customers are compared, and only one part is in memory
    found: list[pd.DataFrame] = []
    for name in sorted(groups):
        for kind in KINDS:
            customers = ctx.read(read(ctx.group_ids[name], kind))
            if len(customers) < 2:
                continue
            scored = part_pairs(Part.of(customers, kind), int(min_score))
            found.append(named_pairs(customers, scored, name, kind))
            del customers
    return finish_pairs(found)


def suggest_merges(
    ctx: Context, pairs: pd.DataFrame | None = None, group: str | None = None, min_score: int = 90
) -> pd.DataFrame:
    """One proposed merge per cluster of duplicates (from `pairs`, else find_duplicates(group, min_score)).

    The survivor is the active record with the most tickets (then the oldest); a cluster without an
    active record cannot be merged (R17: the survivor receives the tickets) and says so in `note`, as
    does a cluster too large to review (more than cmkit.domain.matching.CLUSTER_MAX customers).
    Columns: id (the cluster), survivor_id, survivor_name, duplicate_ids, duplicate_names, group, kind,
    min_score, note.
    """
    if pairs is None:
        pairs = find_duplicates(ctx, group, min_score)
    columns = [
        "id",
        "survivor_id",
        "survivor_name",
        "duplicate_ids",
        "duplicate_names",
        "group",
        "kind",
        "min_score",
        "note",
    ]
    if pairs.empty:
        return pd.DataFrame(columns=columns)
    members = pd.concat(
        [
            pairs[["cluster", "id_a", "score", "group", "kind"]].rename(columns={"id_a": "customer_id"}),
            pairs[["cluster", "id_b", "score", "group", "kind"]].rename(columns={"id_b": "customer_id"}),
        ]
    )
    low = members.groupby("cluster")["score"].min()
    notes = pairs.groupby("cluster")["note"].max() if "note" in pairs else pd.Series(dtype=object)
    members = members.drop_duplicates(["cluster", "customer_id"])
    groups = sorted({str(g) for g in members["group"]})

    def facts(work: UnitOfWork) -> pd.DataFrame:
        """Name, state and ticket count of the clusters' groups' customers (by group: no id list to bind)."""
        scope = select(C.id).where(C.group_id.in_([ctx.group_id(g) for g in groups]))
        lk = repo.links(scope)
        counts = select(lk.c.customer_id, func.count().label("tickets")).group_by(lk.c.customer_id).subquery()
        return repo.frame_of(
            work.session,
            select(
                C.id.label("customer_id"),
                C.name,
                C.active,
                func.coalesce(counts.c.tickets, 0).label("tickets"),
            )
            .outerjoin(counts, counts.c.customer_id == C.id)
            .where(C.id.in_(scope)),
        )

    members = members.merge(ctx.read(facts), on="customer_id")
    members["active"] = members["active"].astype(bool)
    members = members.sort_values(
        ["cluster", "active", "tickets", "customer_id"], ascending=[True, False, False, True]
    )
    by = members.groupby("cluster", sort=True)
    head = by.head(1).set_index("cluster")
    rest = members.drop(index=by.head(1).index)
    dup_ids: dict[int, list[int]] = {}
    dup_names: dict[int, list[str]] = {}
    for cluster, cid, name in zip(rest["cluster"], rest["customer_id"], rest["name"], strict=True):
        dup_ids.setdefault(int(cluster), []).append(int(cid))
        dup_names.setdefault(int(cluster), []).append(str(name))
    out = pd.DataFrame(
        {
            "id": head.index.astype("int64"),
            "survivor_id": head["customer_id"].astype("int64").to_numpy(),
            "survivor_name": head["name"].to_numpy(),
            "duplicate_ids": [dup_ids.get(int(c), []) for c in head.index],
            "duplicate_names": [dup_names.get(int(c), []) for c in head.index],
            "group": head["group"].to_numpy(),
            "kind": head["kind"].to_numpy(),
            "min_score": low.reindex(head.index).astype("int64").to_numpy(),
            "note": [
                str(notes.get(c) or "") or ("" if a else "no active record: reactivate one to merge into it")
                for c, a in zip(head.index, head["active"], strict=True)
            ],
        }
    )
    return out[columns]
