"""Scores of candidate duplicate pairs, with the evidence weighed by how rare it is. No SQL.

Score (0-100) of a pair: the similarity of the names (words sorted, accents and case folded, legal forms
of companies dropped); when both have an e-mail, 70 % name and 30 % e-mail similarity, plus 10 for the
same address; plus 5 for the same phone number, minus 10 when both have a phone and the numbers end
differently; plus 10 for the same VAT id, minus 15 for different ones (two legal entities); minus 15 for
contacts of different companies, minus 15 when both have a city and the cities differ.

A pair that shares no e-mail address, phone number or VAT id stands on its name alone, and a name is weak
evidence when many others bear it (term-frequency adjustment, as in the Fellegi-Sunter model): the
expected number of other customers who would agree with one of the two by chance,

    E = (customers with the more common of the two names - 1) x P(same city) x P(same company)
        x n / (n + PRIOR_CUSTOMERS),

counting the city's and the company's share only where the pair agrees on them, costs
20 x log2(1 + E) points ("common name -P" in the reason). Two "Thomas Müller" among 100 in a database
where one customer in 16 lives in Berlin (E = 6) lose 56 points; a name borne by two customers only, in
the same city, loses 2. The last factor shrinks E in a small database, where every name and city is
"common" only because there are few customers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
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
#: A database this large makes names and cities as common as their counts say; a smaller one less so.
PRIOR_CUSTOMERS = 1_000
#: An e-mail address or phone number shared by more customers than this is a shared mailbox or
#: switchboard: not evidence that two of them are one customer.
SHARED_MAX = 5
#: Points the name loses per doubling of (1 + expected chance agreements).
RARITY_POINTS = 20
_UMLAUT_SPELLING = re.compile(r"(?<=[a-z])(ae|oe|ue)")
_NOT_WORD = re.compile(r"[\W_]+")


def normal_name(name: str, kind: str) -> str:
    """The comparable form of a name: folded, umlaut spellings unified (Müller = Mueller = Muller),
    punctuation dropped, words sorted; for companies without legal forms and one-letter words."""
    low = strip_accents(str(name).casefold().replace("ß", "ss"))
    low = _UMLAUT_SPELLING.sub(lambda m: m.group(1)[0], low)
    words = _NOT_WORD.sub(" ", low).split()
    if kind == "company":
        words = [w for w in words if len(w) > 1 and w not in LEGAL_FORMS] or words
    return " ".join(sorted(words))


def normal_email(value: object) -> str:
    return str(value).strip().casefold() if isinstance(value, str) and "@" in value else ""


def normal_phone(value: object) -> str:
    """The phone number's digits, if there are at least six of them (else "": not comparable)."""
    digits = "".join(c for c in value if c in "0123456789") if isinstance(value, str) else ""
    return digits if len(digits) >= 6 else ""


def _texts(values: pd.Series) -> pd.Series:
    """A column as text (Arrow strings: its string functions run in C), missing values as "" ."""
    return values.astype(object).where(values.notna(), None).astype("string[pyarrow]")


def normal_emails(values: pd.Series) -> np.ndarray:
    """normal_email of each value, at once."""
    low = _texts(values).str.strip().str.casefold()
    return low.where(low.str.contains("@", regex=False), "").fillna("").to_numpy(dtype=object)


def normal_phones(values: pd.Series) -> np.ndarray:
    """normal_phone of each value, at once."""
    digits = _texts(values).str.replace(r"[^0-9]", "", regex=True).fillna("")
    return digits.where(digits.str.len() >= 6, "").to_numpy(dtype=object)


def _normal_vat(value: object) -> str:
    return "".join(c for c in value.upper() if c.isalnum()) if isinstance(value, str) else ""


def _mapped(values: pd.Series, fn: Callable[[Any], str]) -> np.ndarray:
    """fn applied to each distinct value once (names repeat a lot): an object array."""
    codes, uniques = pd.factorize(values.astype(object).where(values.notna(), None), use_na_sentinel=True)
    done = np.empty(len(uniques) + 1, dtype=object)
    done[:] = [fn(v) for v in uniques] + [fn(None)]
    return done[codes]


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values as integers, -1 for empty (compared as numbers, not as strings), and the distinct values."""
    known = values.astype(bool)
    out = np.full(len(values), -1, dtype=np.int64)
    uniques = np.array([], dtype=object)
    if known.any():
        out[known], uniques = pd.factorize(values[known])
    return out, np.asarray(uniques, dtype=object)


def _counts(codes: np.ndarray) -> np.ndarray:
    """Per position: how many positions share its code (0 for empty)."""
    out = np.zeros(len(codes), dtype=np.int64)
    known = codes >= 0
    if known.any():
        out[known] = np.bincount(codes[known])[codes[known]]
    return out


@dataclass
class Part:
    """The customers of one group and kind, prepared for matching: codes and counts by position (0..n-1);
    a code is -1 where the value is missing."""

    kind: str
    name_texts: np.ndarray  # the distinct normal names, by name code
    mail_texts: np.ndarray  # the distinct normal e-mail addresses, by mail code
    name: np.ndarray
    mail: np.ndarray
    phone: np.ndarray
    phone_end: np.ndarray  # the phone number's last six digits
    city: np.ndarray
    company: np.ndarray
    name_count: np.ndarray
    mail_count: np.ndarray
    phone_count: np.ndarray
    vat: np.ndarray  # the VAT id, upper case, without spaces and dots
    city_share: np.ndarray  # the share of the customers with a city that live in this one
    company_share: np.ndarray

    @property
    def n(self) -> int:
        return len(self.name)

    @classmethod
    def of(cls, customers: pd.DataFrame, kind: str) -> Part:
        """From columns name, email, phone, city, company_id of customers of one group and kind."""
        name, name_texts = _codes(_mapped(customers["name"], lambda v: normal_name(v or "", kind)))
        mail, mail_texts = _codes(normal_emails(customers["email"]))
        phones = normal_phones(customers["phone"])
        phone, phone_end = _codes(phones)[0], _codes(pd.Series(phones).str[-6:].to_numpy(dtype=object))[0]
        vats = customers["vat_id"] if "vat_id" in customers else pd.Series([None] * len(customers))
        city, _ = _codes(_mapped(customers["city"], lambda c: normal_name(c, "city") if c else ""))
        company = customers["company_id"].astype(object)
        company_code = np.where(company.notna(), pd.factorize(company)[0], -1).astype(np.int64)
        return cls(
            kind=kind,
            name_texts=name_texts,
            mail_texts=mail_texts,
            name=name,
            mail=mail,
            phone=phone,
            phone_end=phone_end,
            city=city,
            company=company_code,
            name_count=_counts(name),
            mail_count=_counts(mail),
            phone_count=_counts(phone),
            vat=_codes(_mapped(vats, _normal_vat))[0],
            city_share=_counts(city) / max(1, int((city >= 0).sum())),
            company_share=_counts(company_code) / max(1, int((company_code >= 0).sum())),
        )


def _similarity(texts: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """fuzz.ratio (0-100) of texts[a] and texts[b] for codes a, b >= 0; each distinct pair computed once."""
    if not len(a):
        return np.zeros(0, dtype=np.int64)
    width = len(texts) + 1
    combos, which = np.unique(np.minimum(a, b) * width + np.maximum(a, b), return_inverse=True)
    left, right = texts[combos // width], texts[combos % width]
    sims = process.cpdist(list(left), list(right), scorer=fuzz.ratio, workers=-1)
    return np.asarray(sims, dtype=np.int64)[which.reshape(-1)]


def name_similarity(part: Part, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """fuzz.ratio of the normal names of positions a and b (0-100)."""
    return _similarity(part.name_texts, part.name[a], part.name[b])


@dataclass
class Evidence:
    """What a pair's records say besides their names: booleans and points per pair."""

    both_mail: np.ndarray
    same_mail: np.ndarray
    same_phone: np.ndarray
    other_phone: np.ndarray
    same_vat: np.ndarray
    other_vat: np.ndarray
    has_company: np.ndarray
    other_company: np.ndarray
    both_city: np.ndarray
    other_city: np.ndarray
    common: np.ndarray  # points the name loses for being common
    rest: np.ndarray  # points added to the name (and e-mail) similarity

    @classmethod
    def of(cls, part: Part, a: np.ndarray, b: np.ndarray) -> Evidence:
        mail_a, mail_b = part.mail[a], part.mail[b]
        both_mail = (mail_a >= 0) & (mail_b >= 0)
        same_mail = both_mail & (mail_a == mail_b)
        same_phone = (part.phone[a] >= 0) & (part.phone[a] == part.phone[b])
        end_a, end_b = part.phone_end[a], part.phone_end[b]
        other_phone = (end_a >= 0) & (end_b >= 0) & (end_a != end_b)
        both_vat = (part.vat[a] >= 0) & (part.vat[b] >= 0)
        same_vat = both_vat & (part.vat[a] == part.vat[b])
        other_vat = both_vat & ~same_vat
        both_city = (part.city[a] >= 0) & (part.city[b] >= 0)
        other_city = both_city & (part.city[a] != part.city[b])
        has_company = (part.company[a] >= 0) & (part.company[b] >= 0)
        other_company = has_company & (part.company[a] != part.company[b])
        strong = (
            (same_mail & (part.mail_count[a] <= SHARED_MAX))
            | (same_phone & (part.phone_count[a] <= SHARED_MAX))
            | same_vat
        )
        chance = (np.maximum(part.name_count[a], part.name_count[b]) - 1).astype(float)
        chance *= np.where(both_city & ~other_city, part.city_share[a], 1.0)
        chance *= np.where(has_company & ~other_company, part.company_share[a], 1.0)
        chance *= part.n / (part.n + PRIOR_CUSTOMERS)
        common = np.where(strong, 0, np.rint(RARITY_POINTS * np.log2(1 + chance))).astype(np.int64)
        common = np.minimum(common, 100)
        rest = 10 * same_mail + 5 * same_phone - 10 * other_phone + 10 * same_vat - 15 * other_vat
        rest = rest - 15 * other_company - 15 * other_city - common
        return cls(
            both_mail,
            same_mail,
            same_phone,
            other_phone,
            same_vat,
            other_vat,
            has_company,
            other_company,
            both_city,
            other_city,
            common,
            rest,
        )


def best_scores(part: Part, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The most pairs (a, b) can score, with the same names: to leave out the hopeless before the
    names are compared."""
    return 100 + Evidence.of(part, a, b).rest


def score_pairs(
    part: Part, a: np.ndarray, b: np.ndarray, name_score: np.ndarray, min_score: int
) -> pd.DataFrame:
    """Score candidate pairs (positions a, b; their name similarity) and keep those scoring at least
    `min_score`: columns a, b (positions), score, reason."""
    name_score = name_score.astype(float)
    ev = Evidence.of(part, a, b)
    both_mail, same_mail, rest = ev.both_mail, ev.same_mail, ev.rest
    # the e-mail similarity only where it can matter: the score with a perfect one reaches min_score
    mail_score = np.where(same_mail, 100.0, 0.0)
    todo = both_mail & ~same_mail & (0.7 * name_score + 30 + rest >= min_score - 0.5)
    if todo.any():
        mail_score[todo] = _similarity(part.mail_texts, part.mail[a[todo]], part.mail[b[todo]])
    score = np.where(both_mail, 0.7 * name_score + 0.3 * mail_score, name_score) + rest
    score = np.clip(np.rint(score), 0, 100).astype(int)
    keep = score >= min_score
    a, b, score = a[keep], b[keep], score[keep]
    # the reason depends on a few small numbers: build each distinct text once (mixed-radix code per pair)
    radix = (101, 102, 2, 3, 3, 3, 3, 101)
    digits = (
        name_score[keep].astype(np.int64),
        np.where(both_mail[keep], mail_score[keep].astype(np.int64), -1) + 1,
        same_mail[keep],
        np.where(ev.same_phone[keep], 1, np.where(ev.other_phone[keep], 2, 0)),
        np.where(ev.same_vat[keep], 1, np.where(ev.other_vat[keep], 2, 0)),
        np.where(ev.has_company[keep], 1 + ev.other_company[keep], 0),
        np.where(ev.both_city[keep], 1 + ev.other_city[keep], 0),
        ev.common[keep],
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
    name, mail, same_mail, phone, vat, company, city, common = reversed(values)
    parts = [f"name {name}"]
    if mail:
        parts.append("same e-mail" if same_mail else f"e-mail {mail - 1}")
    if phone:
        parts.append("same phone" if phone == 1 else "other phone")
    if vat:
        parts.append("same VAT id" if vat == 1 else "other VAT id")
    if company:
        parts.append("other company" if company == 2 else "same company")
    if city:
        parts.append("other city" if city == 2 else "same city")
    if common:
        parts.append(f"common name -{common}")
    return "; ".join(parts)
