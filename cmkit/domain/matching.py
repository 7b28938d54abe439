"""Finding duplicate customers: blocking keys, candidate pairs block by block, clusters. No SQL.

Only records of one group and kind are compared (only those can be merged), and only pairs that share a
blocking key: the same e-mail address, phone number or VAT id, or a name key (all words of the name but one,
and that one's initial: "muller|a" for Anna Müller, so that a typo in one word still meets) within the
same city, the same company, or alone. A block of more than BLOCK_MAX customers is not compared all
against all: a key that many share (a shared mailbox, a common name in a big city) is weak evidence the
scores would turn down anyway (see cmkit.domain.matching_score). The candidate pairs are made and scored
CHUNK at a time and only those reaching the minimum score are kept, so memory stays bounded whatever the
number of customers.

A cluster (connected duplicates) of more than CLUSTER_MAX customers is too large to review: its pairs
say so in `note`, and suggest_merges does not propose merging it.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from cmkit.domain.matching_score import (
    LEGAL_FORMS,
    Part,
    best_scores,
    name_similarity,
    normal_email,
    normal_name,
    normal_phone,
    score_pairs,
)

__all__ = [
    "BLOCK_MAX",
    "CHUNK",
    "CLUSTER_MAX",
    "LEGAL_FORMS",
    "PAIR_COLUMNS",
    "Part",
    "candidate_pairs",
    "clusters",
    "find_pairs",
    "finish_pairs",
    "normal_email",
    "normal_name",
    "normal_phone",
    "part_pairs",
]

PAIR_COLUMNS = [
    "id",
    "id_a",
    "id_b",
    "score",
    "reason",
    "name_a",
    "name_b",
    "group",
    "kind",
    "cluster",
    "note",
]
#: Blocks of more customers than this are not compared all against all.
BLOCK_MAX = 40
#: Candidate pairs scored at a time.
CHUNK = 500_000
#: Clusters of more customers than this are flagged, not proposed for merging.
CLUSTER_MAX = 10
TOO_LARGE = "cluster of {} customers: too many to merge at once; review its pairs"


def name_keys(name: str) -> list[str]:
    """A normal name's blocking keys: for each distinct word, the other words and that word's initial
    ("muller|a" and "anna|m" for "anna muller"); a one-word name by its first three letters."""
    words = sorted(set(name.split()))
    if len(words) <= 1:
        return [f"{name[:3]}|"] if name else []
    return [" ".join(v for v in words if v != w) + "|" + w[0] for w in words]


def _key_rows(part: Part) -> tuple[np.ndarray, np.ndarray]:
    """(position, name key code) for every name key of every customer."""
    keys = [name_keys(str(t)) for t in part.name_texts]
    per_name = np.array([len(k) for k in keys], dtype=np.int64)
    flat, _ = pd.factorize(pd.Series([k for ks in keys for k in ks], dtype=object))
    offsets = np.concatenate([[0], np.cumsum(per_name)])
    known = np.flatnonzero(part.name >= 0)
    counts = per_name[part.name[known]]
    pos = np.repeat(known, counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return pos, flat[np.repeat(offsets[part.name[known]], counts) + within]


def block_pairs(pos: np.ndarray, key: np.ndarray, cap: int = BLOCK_MAX) -> Iterator[np.ndarray]:
    """Pairs (i, j) of positions with the same key (>= 0), in blocks of 2 to `cap` members: arrays of
    at most about CHUNK rows (i < j)."""
    have = key >= 0
    pos, key = pos[have], key[have]
    order = np.argsort(key, kind="stable")
    pos, key = pos[order], key[order]
    if not len(key):
        return
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    sizes = np.diff(np.r_[starts, len(key)])
    size = np.repeat(sizes, sizes)
    keep = (size >= 2) & (size <= cap)
    pos, key = pos[keep], key[keep]
    for step in range(1, cap):
        same = np.flatnonzero(key[:-step] == key[step:])
        if not len(same):
            return
        for lo in range(0, len(same), CHUNK):
            at = same[lo : lo + CHUNK]
            a, b = pos[at], pos[at + step]
            yield np.column_stack([np.minimum(a, b), np.maximum(a, b)])


def _combined(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """One key of two (-1 where either is missing)."""
    width = int(second.max(initial=0)) + 1
    return np.where((first >= 0) & (second >= 0), first * width + second, -1)


def candidate_blocks(part: Part) -> Iterator[tuple[str, np.ndarray]]:
    """(source, pairs) for each kind of block: "e-mail", "phone" and "VAT id" (the names may differ), "name" (name
    keys within a city, a company, or alone)."""
    everyone = np.arange(part.n)
    for source, codes in (("e-mail", part.mail), ("phone", part.phone), ("VAT id", part.vat)):
        for pairs in block_pairs(everyone, codes):
            yield source, pairs
    pos, key = _key_rows(part)
    for codes in (_combined(key, part.city[pos]), _combined(key, part.company[pos]), key):
        for pairs in block_pairs(pos, codes):
            yield "name", pairs


def part_pairs(part: Part, min_score: int) -> pd.DataFrame:
    """The pairs of one group and kind scoring at least `min_score`: columns a, b (positions, a < b),
    score, reason; each pair once."""
    cutoff = max(0, min_score - 10)
    found: list[pd.DataFrame] = []
    for source, pairs in candidate_blocks(part):
        hopeful = best_scores(part, pairs[:, 0], pairs[:, 1]) >= min_score
        a, b = pairs[hopeful, 0], pairs[hopeful, 1]
        sims = name_similarity(part, a, b)
        if source == "name":
            near = sims >= cutoff
            a, b, sims = a[near], b[near], sims[near]
        if len(a):
            found.append(score_pairs(part, a, b, sims, min_score))
    if not found:
        return pd.DataFrame({"a": [], "b": [], "score": [], "reason": []}).astype(
            {"a": "int64", "b": "int64", "score": "int64", "reason": object}
        )
    return pd.concat(found, ignore_index=True).drop_duplicates(["a", "b"], ignore_index=True)


def candidate_pairs(names: list[str], emails: list[str], phones: list[str], name_cutoff: float) -> np.ndarray:
    """Pairs (i, j), i < j, of positions that share a blocking key, with name similarity: an (n, 3) array.

    Pairs from a name block need `name_cutoff`; pairs sharing an e-mail or phone number are kept whatever
    their names, since the other evidence may carry them. (Names here are normal names already.)
    """
    n = len(names)
    part = Part.of(
        pd.DataFrame(
            {"name": names, "email": emails, "phone": phones, "city": [None] * n, "company_id": None}
        ),
        "contact",
    )
    rows: list[np.ndarray] = []
    for source, pairs in candidate_blocks(part):
        sims = name_similarity(part, pairs[:, 0], pairs[:, 1])
        keep = sims >= (name_cutoff if source == "name" else 0)
        rows.append(np.column_stack([pairs[keep], sims[keep]]))
    if not rows:
        return np.empty((0, 3), dtype=np.int64)
    out = np.concatenate(rows).astype(np.int64)
    _, first = np.unique(out[:, 0] * n + out[:, 1], return_index=True)
    return out[first]


def clusters(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For n nodes and edges (a, b): each node's component label, the smallest node of its component."""
    labels = np.arange(n)
    if len(a) == 0:
        return labels
    while True:
        low = np.minimum(labels[a], labels[b])
        new = labels.copy()
        np.minimum.at(new, a, low)
        np.minimum.at(new, b, low)
        while True:  # pointer jumping: every node points at its label's label
            jumped = new[new]
            if np.array_equal(jumped, new):
                break
            new = jumped
        if np.array_equal(new, labels):
            return labels
        labels = new


def named_pairs(customers: pd.DataFrame, scored: pd.DataFrame, group: str, kind: str) -> pd.DataFrame:
    """Scored pairs (positions in `customers`, columns id and name) with ids and names."""
    ids = customers["id"].to_numpy()
    names = customers["name"].to_numpy(dtype=object)
    a, b = scored["a"].to_numpy(dtype=np.int64), scored["b"].to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "id_a": ids[a],
            "id_b": ids[b],
            "score": scored["score"].to_numpy(),
            "reason": scored["reason"].to_numpy(),
            "name_a": names[a],
            "name_b": names[b],
            "group": group,
            "kind": kind,
        }
    )


def finish_pairs(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The pairs of all groups and kinds (named_pairs) as find_duplicates returns them: id_a < id_b,
    `cluster` the smallest id of the connected duplicates, `note` on the pairs of too large clusters,
    best first, numbered."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(
            {
                c: pd.Series(dtype="int64" if c in ("id", "id_a", "id_b", "score", "cluster") else object)
                for c in PAIR_COLUMNS
            }
        )
    pairs = pd.concat(parts, ignore_index=True)
    swap = (pairs["id_a"] > pairs["id_b"]).to_numpy()
    for x, y in (("id_a", "id_b"), ("name_a", "name_b")):
        xs, ys = pairs[x].to_numpy(), pairs[y].to_numpy()
        pairs[x], pairs[y] = np.where(swap, ys, xs), np.where(swap, xs, ys)
    nodes, inverse = np.unique(np.concatenate([pairs["id_a"], pairs["id_b"]]), return_inverse=True)
    labels = clusters(len(nodes), inverse[: len(pairs)], inverse[len(pairs) :])
    pairs["cluster"] = nodes[labels[inverse[: len(pairs)]]]
    size = pd.Series(labels).value_counts()
    members = size.reindex(labels[inverse[: len(pairs)]]).to_numpy()
    pairs["note"] = np.where(members > CLUSTER_MAX, [TOO_LARGE.format(int(m)) for m in members], "")
    pairs = pairs.sort_values(["score", "id_a", "id_b"], ascending=[False, True, True], ignore_index=True)
    pairs.insert(0, "id", np.arange(1, len(pairs) + 1))
    return pairs.astype(
        {"id_a": "int64", "id_b": "int64", "score": "int64", "cluster": "int64", "note": object}
    )[PAIR_COLUMNS]


def find_pairs(customers: pd.DataFrame, min_score: int) -> pd.DataFrame:
    """Duplicate pairs among `customers` (columns id, group, kind, company_id, name, email, phone, city).

    One row per pair with score >= min_score, best first: PAIR_COLUMNS; `cluster` is the smallest id of
    the pair's group of connected duplicates (merge a cluster into one survivor).
    """
    parts: list[pd.DataFrame] = []
    for (group, kind), part in customers.groupby(["group", "kind"], sort=True):
        part = part.reset_index(drop=True)
        scored = part_pairs(Part.of(part, str(kind)), min_score)
        parts.append(named_pairs(part, scored, str(group), str(kind)))
    return finish_pairs(parts)
