"""cmkit.domain.criteria (R28): a detail-search criterion matches a field's whole value, folded; `*` stands
for any text; typed fields compare values; the index terms never leave out a value that matches."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmkit import ValidationError
from cmkit.domain.config import FieldDef
from cmkit.domain.criteria import criterion, index_terms, text_matcher
from cmkit.domain.text import tokens

TEXT = FieldDef("last_name")


def hits(query: Any, *stored: Any, fd: FieldDef = TEXT) -> list[bool]:
    c = criterion(fd, query)
    return [c.matches({fd.name: s}) for s in stored]


def test_r28_whole_value_folded() -> None:
    assert (
        hits("müller", "Müller", "MUELLER", "Muller", "Müllerin", "Anna Müller") == [True] * 3 + [False] * 2
    )
    assert hits("anna müller", "  Anna   Müller ", "Anna Mueller") == [True, True]  # white space runs as one
    assert hits("Straße", "strasse", "STRASSE") == [True, True]


def test_r28_star_stands_for_any_text() -> None:
    assert hits("Mül*", "Müller", "Mülheim", "Mueller", "Anna Müller") == [True, True, True, False]
    assert hits("*ller", "Müller", "Keller", "Müllers") == [True, True, False]
    assert hits("M*r", "Müller", "Maier", "Meyers") == [True, True, False]
    assert hits("*", "x", " ", "Müller") == [True, True, True]


def test_r28_everything_but_star_is_literal() -> None:
    assert hits("a.c", "abc", "a.c") == [False, True]
    assert hits("a.*", "a.b", "ab") == [True, False]
    assert hits("100%", "100%", "1000") == [True, False]
    assert hits("_üller", "Müller", "_Müller", "_üller") == [False, False, True]
    assert hits("(a|b)", "a", "(A|B)") == [False, True]


def test_r28_none_finds_customers_without_a_value() -> None:
    c = criterion(TEXT, None)
    assert [c.matches(d) for d in ({}, None, {"last_name": None}, {"last_name": "x"})] == [
        True,
        True,
        True,
        False,
    ]
    assert not criterion(TEXT, "*").matches({})  # a star needs a value
    assert not text_matcher("x")(None)


def test_r28_typed_fields_compare_values() -> None:
    seats, news, day = (
        FieldDef("seats", "number"),
        FieldDef("newsletter", "bool"),
        FieldDef("birthday", "date"),
    )
    assert hits("3", 3, 3.0, "3", True, 4, fd=seats) == [True, True, False, False, False]
    assert hits(1, 1, True, fd=seats) == [True, False]  # a bool is no number
    assert hits("yes", True, False, "yes", fd=news) == [True, False, False]
    assert hits(dt.date(1990, 5, 17), "1990-05-17", "1990-05-18", fd=day) == [True, False]
    assert hits(dt.datetime(1990, 5, 17, 8), "1990-05-17", fd=day) == [True]
    assert hits("1990-*", "1990-05-17", "1991-05-17", fd=day) == [True, False]  # a star: text after all
    assert criterion(seats, "3,0").value == 3


@pytest.mark.parametrize(
    ("fd", "value", "message"),
    [
        (FieldDef("seats", "number"), "many", "must be a number"),
        (FieldDef("birthday", "date"), "17.05.1990", "must be a date"),
        (FieldDef("newsletter", "bool"), "maybe", "must be true or false"),
        (TEXT, 5, "search for text in this text field, got int"),
        (TEXT, "   ", "give a value to search for"),
    ],
)
def test_r28_value_the_field_could_never_hold_refused(fd: FieldDef, value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        criterion(fd, value)
    assert info.value.field == fd.name


def test_r28_index_terms() -> None:
    assert index_terms("Anna Müller") == [(("anna",), False), (("muller", "mueller"), False)]
    assert index_terms("Mül*") == [(("mul", "muel"), True)]
    assert index_terms("*ller") == []  # may be the end of a longer word
    assert index_terms("Anna *") == [(("anna",), False)]
    assert index_terms("Anna*Müller") == [(("anna",), True)]
    assert index_terms("*") == [] and criterion(TEXT, "*").terms == ()


def _star(text: str, cut: tuple[int, int]) -> str:
    a, b = sorted(cut)
    return text[:a] + "*" + text[b:]


@settings(max_examples=200, deadline=None)
@given(
    value=st.text(alphabet="aäAÄoöuüUÜßsSe -.1", min_size=1, max_size=14),
    cut=st.tuples(st.integers(0, 14), st.integers(0, 14)),
    star=st.booleans(),
)
def test_r28_index_terms_never_leave_out_a_match(value: str, cut: tuple[int, int], star: bool) -> None:
    """Where a criterion matches a value, each index term is among the value's search-key words (whole,
    or as a prefix where the term is one): narrowing by the index loses nothing."""
    query = _star(value, cut) if star else value.swapcase()
    if not query.strip():
        return
    c = criterion(TEXT, query)
    if not c.matches({"last_name": value}):
        return
    key_words = tokens(value)
    for alternatives, prefix in c.terms:
        assert any((w.startswith(alt) if prefix else w == alt) for alt in alternatives for w in key_words), (
            query,
            value,
            alternatives,
        )
