"""Detail-search criteria (R28): a field criterion matches the whole value, case- and accent-insensitively
(folded as in cmkit.domain.text); a text containing `*` is a wildcard pattern. Pure functions, no SQL.

`index_terms` says which folded words every matching value must contain (exactly, or as a prefix before
a `*`), so that the search index can narrow the candidates; `matches` decides each candidate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cmkit.domain.config import FieldDef
from cmkit.domain.fields import validate_value
from cmkit.domain.text import fold_variants, query_terms
from cmkit.errors import ValidationError

IndexTerm = tuple[tuple[str, ...], bool]  # (alternatives, prefix)
EXACT_TYPES = ("number", "bool", "date")


def _squash(text: str) -> str:
    return " ".join(text.split())


@lru_cache(maxsize=1 << 14)
def _folded(text: str) -> frozenset[str]:
    return frozenset(fold_variants(_squash(text)))


@lru_cache(maxsize=1024)
def _pattern(text: str) -> tuple[tuple[str, ...], ...]:
    """The parts between the `*` of each folded variant of `text`."""
    return tuple(tuple(variant.split("*")) for variant in fold_variants(_squash(text)))


def glob_match(parts: tuple[str, ...], text: str) -> bool:
    """Whether `text` is parts[0], any text, parts[1], ..., any text, parts[-1] (at least two parts).

    Each middle part is taken at its leftmost place, which finds a match whenever there is one: time
    linear in the text per part, where a backtracking regular expression took seconds for `*a*a*a*a`."""
    first, *middle, last = parts
    if len(text) < len(first) + len(last) or not text.startswith(first) or not text.endswith(last):
        return False
    pos, end = len(first), len(text) - len(last)
    for part in middle:
        found = text.find(part, pos, end)
        if found < 0:
            return False
        pos = found + len(part)
    return True


def text_matcher(value: str) -> Callable[[Any], bool]:
    """Whole-value match of a stored value, folded; `*` in `value` stands for any text."""
    if "*" in value:
        patterns = _pattern(value)
        return lambda stored: (
            stored is not None and any(glob_match(p, v) for p in patterns for v in _folded(str(stored)))
        )
    wanted = _folded(value)
    return lambda stored: stored is not None and not wanted.isdisjoint(_folded(str(stored)))


def index_terms(value: str) -> list[IndexTerm]:
    """The folded words that every value matching `value` contains: whole words, or word prefixes where
    a `*` follows. Words that a `*` precedes may be the end of a longer word and are left out."""
    segments = value.split("*")
    out: list[IndexTerm] = []
    for i, seg in enumerate(segments):
        terms = query_terms(seg)
        open_left = i > 0 and seg[:1].isalnum()
        open_right = i < len(segments) - 1 and seg[-1:].isalnum()
        for j, alts in enumerate(terms):
            if j == 0 and open_left:
                continue
            out.append((alts, j == len(terms) - 1 and open_right))
    return out


@dataclass(frozen=True)
class Criterion:
    """One `field=value` of detail_search, normalised for the field's type."""

    field: str
    value: Any
    test: Callable[[Any], bool]
    terms: tuple[IndexTerm, ...]  # empty: the index cannot help

    def matches(self, data: Any) -> bool:
        return self.test((data or {}).get(self.field))


def criterion(fd: FieldDef, value: Any) -> Criterion:
    """A criterion on field `fd`. None matches an empty field. Refuses (ValidationError naming the field)
    a value that the field could never hold, like a word for a number field."""
    if value is None:
        return Criterion(fd.name, None, lambda stored: stored is None, ())
    if fd.type in EXACT_TYPES and not (isinstance(value, str) and "*" in value):
        if isinstance(value, dt.datetime):
            value = value.date()
        want = validate_value(fd, value)
        if fd.type == "number":
            return Criterion(
                fd.name,
                want,
                lambda s: isinstance(s, int | float) and not isinstance(s, bool) and float(s) == float(want),
                (),
            )
        return Criterion(fd.name, want, lambda s: s == want, ())
    if not isinstance(value, str):
        raise ValidationError(fd.name, f"search for text in this {fd.type} field, got {type(value).__name__}")
    if not value.strip():
        raise ValidationError(fd.name, "give a value to search for (None finds customers without one)")
    return Criterion(fd.name, value, text_matcher(value), tuple(index_terms(value)))
