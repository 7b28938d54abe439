"""Finding duplicate customers: normalised names, blocking keys, pair scores, clusters. No SQL.

Only records of one group and kind are compared (only those can be merged), and only pairs that share a
blocking key: the beginning of one name word and the initial of another, the e-mail address, or the phone
number. Within a block
the names are compared all against all by rapidfuzz (`cdist`, in C), so 100,000 customers take seconds,
not the hours that comparing every pair would.

Score (0-100) of a pair: the similarity of the names (words sorted, accents and case folded, legal forms
of companies dropped); when both have an e-mail, 70 % name and 30 % e-mail similarity, plus 10 for the
same address; plus 5 for the same phone number; minus 15 for contacts of different companies, minus 15
when both have a city and the cities differ.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from cmkit.domain.text import strip_accents

#: Words of company names that say nothing about which company it is (legal forms and the like).
LEGAL_FORMS = frozenset(
    "gmbh mbh ag kg kgaa ohg gbr ug co se ek sa sarl srl spa sas ltd plc llc inc corp bv nv oy ab as aps "
    "und and the".split()
)
_UMLAUT_SPELLING = re.compile(r"(?<=[a-z])(ae|oe|ue)")
PAIR_COLUMNS = ["id", "id_a", "id_b", "score", "reason", "name_a", "name_b", "group", "kind", "cluster"]


def normal_name(name: str, kind: str) -> str:
    """The comparable form of a name: folded, umlaut spellings unified (Müller = Mueller = Muller),
    punctuation dropped, words sorted; for companies without legal forms and one-letter words."""
    low = strip_accents(str(name).casefold().replace("ß", "ss"))
    low = _UMLAUT_SPELLING.sub(lambda m: m.group(1)[0], low)
    words = "".join(c if c.isalnum() else " " for c in low).split()
    if kind == "company":
        words = [w for w in words if len(w) > 1 and w not in LEGAL_FORMS] or words
    return " ".join(sorted(words))


def normal_email(value: object) -> str:
    return str(value).strip().casefold() if isinstance(value, str) and "@" in value else ""


def normal_phone(value: object) -> str:
    """The phone number's digits, if there are at least six of them (else "": not comparable)."""
    digits = "".join(c for c in str(value) if c.isdigit()) if isinstance(value, str) else ""
    return digits if len(digits) >= 6 else ""


def _block_keys(name: str, email: str, phone: str) -> set[tuple[str, str]]:
    """A name's keys: for each ordered pair of its words, the first three letters of one and the initial
    of the other ("ann|m" for Anna Müller), so that two names meet when they share one word's beginning
    and the other's initial; a one-word name by its first three letters. Plus the e-mail and phone."""
    words = sorted(set(name.split()))
    keys = {("n", f"{w[:3]}|{v[0]}") for w in words for v in words if v != w}
    if len(words) == 1:
        keys.add(("n", words[0][:3]))
    if email:
        keys.add(("e", email))
    if phone:
        keys.add(("p", phone))
    return keys


def candidate_pairs(names: list[str], emails: list[str], phones: list[str], name_cutoff: float) -> np.ndarray:
    """Pairs (i, j), i < j, of positions that share a blocking key, with name similarity: an (n, 3) array.

    Pairs from a name block need `name_cutoff`; pairs sharing an e-mail or phone number are kept whatever
    their names, since the other evidence may carry them.
    """
    blocks: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, (n, e, p) in enumerate(zip(names, emails, phones, strict=True)):
        for key in _block_keys(n, e, p):
            blocks[key].append(i)
    found: list[np.ndarray] = []
    for (source, _key), members in blocks.items():
        if len(members) < 2:
            continue
        texts = [names[i] for i in members]
        cutoff = name_cutoff if source == "n" else 0
        sims = process.cdist(texts, texts, scorer=fuzz.ratio, score_cutoff=cutoff, dtype=np.uint8, workers=-1)
        if cutoff:
            a, b = np.nonzero(np.triu(sims >= max(cutoff, 1), 1))
        else:
            a, b = np.triu_indices(len(members), 1)
        idx = np.asarray(members)
        found.append(np.column_stack([idx[a], idx[b], sims[a, b]]).astype(np.int64))
    if not found:
        return np.empty((0, 3), dtype=np.int64)
    pairs = np.concatenate(found)
    pairs[:, :2].sort(axis=1)
    _, first = np.unique(pairs[:, 0] * len(names) + pairs[:, 1], return_index=True)
    return pairs[first]


def score_pairs(frame: pd.DataFrame, pairs: np.ndarray, min_score: int) -> pd.DataFrame:
    """Score candidate pairs of `frame` (positions; columns _name, _email, _phone, _city, company_id) and
    keep those scoring at least `min_score`: columns a, b (positions), score, reason."""
    a, b, name_score = pairs[:, 0], pairs[:, 1], pairs[:, 2].astype(float)

    def codes(column: str) -> np.ndarray:
        """The column's values as integers, -1 for empty: compared as numbers, not as strings."""
        values = frame[column].astype(object).to_numpy(copy=True)
        known = frame[column].notna().to_numpy(copy=True)  # (a nullable Int64 id column too)
        known[known] = values[known].astype(bool)
        values[~known] = None
        return pd.factorize(values, use_na_sentinel=True)[0]

    mail, phone, city, company = codes("_email"), codes("_phone"), codes("_city"), codes("company_id")
    both_mail = (mail[a] >= 0) & (mail[b] >= 0)
    mail_score = np.zeros(len(a))
    if both_mail.any():
        emails = frame["_email"].to_numpy(dtype=object)
        mail_score[both_mail] = process.cpdist(
            list(emails[a[both_mail]]), list(emails[b[both_mail]]), scorer=fuzz.ratio, workers=-1
        )
    same_mail = both_mail & (mail[a] == mail[b])
    same_phone = (phone[a] >= 0) & (phone[a] == phone[b])
    both_city = (city[a] >= 0) & (city[b] >= 0)
    other_city = both_city & (city[a] != city[b])
    has_company = (company[a] >= 0) & (company[b] >= 0)
    other_company = has_company & (company[a] != company[b])
    score = np.where(both_mail, 0.7 * name_score + 0.3 * mail_score, name_score)
    score = score + 10 * same_mail + 5 * same_phone - 15 * other_company - 15 * other_city
    score = np.clip(np.rint(score), 0, 100).astype(int)
    keep = score >= min_score
    a, b, score = a[keep], b[keep], score[keep]
    # the reason depends on a few small numbers: build each distinct text once (mixed-radix code per pair)
    radix = (101, 102, 2, 2, 3, 3)
    digits = (
        name_score[keep].astype(np.int64),
        np.where(both_mail[keep], mail_score[keep].astype(np.int64), -1) + 1,
        same_mail[keep],
        same_phone[keep],
        np.where(has_company[keep], 1 + other_company[keep], 0),
        np.where(both_city[keep], 1 + other_city[keep], 0),
    )
    code = np.zeros(len(a), dtype=np.int64)
    for base, digit in zip(radix, digits, strict=True):
        code = code * base + np.asarray(digit, dtype=np.int64)
    combos, which = np.unique(code, return_inverse=True)
    texts = np.array([_reason(int(c), radix) for c in combos] + [""], dtype=object)
    return pd.DataFrame({"a": a, "b": b, "score": score, "reason": texts[which.reshape(-1)]})


def _reason(code: int, radix: tuple[int, ...]) -> str:
    values = []
    for base in reversed(radix):
        code, digit = divmod(code, base)
        values.append(digit)
    name, mail, same_mail, same_phone, company, city = reversed(values)
    parts = [f"name {name}"]
    if mail:
        parts.append("same e-mail" if same_mail else f"e-mail {mail - 1}")
    if same_phone:
        parts.append("same phone")
    if company:
        parts.append("other company" if company == 2 else "same company")
    if city:
        parts.append("other city" if city == 2 else "same city")
    return "; ".join(parts)


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


def _mapped(values: pd.Series, fn: Any) -> list[Any]:
    """fn applied to each distinct value once (names repeat a lot)."""
    done = {v: fn(v) for v in pd.unique(values.astype(object).where(values.notna(), None))}
    return [done[v] for v in values.astype(object).where(values.notna(), None)]


def find_pairs(customers: pd.DataFrame, min_score: int) -> pd.DataFrame:
    """Duplicate pairs among `customers` (columns id, group, kind, company_id, name, email, phone, city).

    One row per pair with score >= min_score, best first: PAIR_COLUMNS; `cluster` is the smallest id of
    the pair's group of connected duplicates (merge a cluster into one survivor).
    """
    parts: list[pd.DataFrame] = []
    for (_group, kind), part in customers.groupby(["group", "kind"], sort=True):
        part = part.reset_index(drop=True)
        part["_name"] = _mapped(part["name"], lambda n, k=str(kind): normal_name(n, k))
        part["_email"] = _mapped(part["email"], normal_email)
        part["_phone"] = _mapped(part["phone"], normal_phone)
        part["_city"] = _mapped(part["city"], lambda c: normal_name(c, "city") if isinstance(c, str) else "")
        cand = candidate_pairs(
            list(part["_name"]),
            list(part["_email"]),
            list(part["_phone"]),
            name_cutoff=max(0, min_score - 10),
        )
        if not len(cand):
            continue
        scored = score_pairs(part, cand, min_score)
        ids = part["id"].to_numpy()
        names = part["name"].to_numpy(dtype=object)
        parts.append(
            pd.DataFrame(
                {
                    "id_a": ids[scored["a"]],
                    "id_b": ids[scored["b"]],
                    "score": scored["score"].to_numpy(),
                    "reason": scored["reason"].to_numpy(),
                    "name_a": names[scored["a"]],
                    "name_b": names[scored["b"]],
                    "group": part["group"].iloc[0],
                    "kind": kind,
                }
            )
        )
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
    pairs = pairs.sort_values(["score", "id_a", "id_b"], ascending=[False, True, True], ignore_index=True)
    pairs.insert(0, "id", np.arange(1, len(pairs) + 1))
    return pairs.astype({"id_a": "int64", "id_b": "int64", "score": "int64", "cluster": "int64"})[
        PAIR_COLUMNS
    ]
