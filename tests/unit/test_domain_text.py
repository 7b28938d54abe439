"""cmkit.domain.text: folding for search keys and queries (R26, R27). Case, accents and German
transliteration fold away; what a user types is words only, never search syntax."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmkit.domain.text import (
    PART_SEP,
    customer_key,
    fold_variants,
    key_parts,
    matches,
    query_terms,
    search_key,
    strip_accents,
    tokens,
    words,
)

#: letters that fold in more than one way, and separators, to make texts of
FOLDING = "aAäÄeoOöÖuUüÜßẞsSøæıİé -.,*%_\"'1 9"


def test_r26_fold_variants_strip_accents_and_transliterate() -> None:
    assert fold_variants("Müller") == ["muller", "mueller"]
    assert fold_variants("MÜLLER") == ["muller", "mueller"]
    assert fold_variants("Straße") == ["strasse"]  # one spelling: one variant
    assert fold_variants("Søren Ærø") == ["soren aero"]
    assert fold_variants("Mu\u0308ller") == ["muller", "mueller"]  # decomposed as composed
    assert strip_accents("Crème brûlée") == "Creme brulee"


@pytest.mark.parametrize("typed", ["mul", "Mül", "muel", "MÜLLER", "müller", "Mueller", "MUEL", "  mül  "])
def test_r26_every_spelling_of_a_prefix_finds_mueller(typed: str) -> None:
    assert matches(search_key("Anna Müller"), query_terms(typed))


def test_r26_query_terms_are_words_with_their_alternatives() -> None:
    assert query_terms("Mül") == [("mul", "muel")]
    assert query_terms("mul") == [("mul",)]
    assert query_terms("Mül mül MÜL") == [("mul", "muel")]  # each term once
    assert query_terms("mueller123") == [("mueller",), ("123",)]  # letters and digits are separate words
    assert query_terms("ｍüｌｌｅｒ") == [("muller", "mueller")]  # full-width letters too


@pytest.mark.parametrize(
    ("typed", "terms"),
    [
        ('a" OR "b', ["a", "or", "b"]),
        ("a* b%", ["a", "b"]),
        ("a_b", ["a", "b"]),
        ("NEAR(a b)", ["near", "a", "b"]),
        ("a\x00b", ["a", "b"]),
        ("{k}: a", ["k", "a"]),
        ("-a ^b", ["a", "b"]),
        ("'; DROP TABLE customers; --", ["drop", "table", "customers"]),
    ],
)
def test_r27_quotes_operators_and_wildcards_are_separators(typed: str, terms: list[str]) -> None:
    assert query_terms(typed) == [(t,) for t in terms]


@pytest.mark.parametrize("typed", ["", " ", "\t\n", "*", "%%", "_", '"', "😀", "👩‍👩‍👧", "\u202e"])
def test_r27_text_without_words_gives_no_terms(typed: str) -> None:
    assert query_terms(typed) == []
    assert words(typed) == []


def test_r26_search_key_has_both_variants_and_compound_tails() -> None:
    assert search_key("Anna Müller") == "anna muller mueller"
    assert search_key("Hauptstraße 1") == "hauptstrasse strasse 1"  # 'strasse' finds Hauptstraße
    assert search_key("Gartenweg", None, "") == "gartenweg weg"
    assert search_key("Weg") == "weg"  # a word that is only the tail stays one word
    assert tokens("Müller", "Mueller") == ["muller", "mueller"]  # each token once


def test_r26_customer_key_names_first_then_other_fields() -> None:
    key = customer_key(["Anna Müller", "anna@acme.example"], ["Köln", "Anna"])
    assert key == "anna muller mueller acme example" + PART_SEP + "koln koeln"  # 'anna' once, in the name
    assert key_parts(key) == ("anna muller mueller acme example", "koln koeln")
    assert customer_key(["Anna"]) == "anna" and key_parts("anna") == ("anna", "")


def test_r26_matches_prefixes_or_whole_words() -> None:
    key = customer_key(["Anna Müller"], ["Köln"])
    assert matches(key, query_terms("ann mül"))
    assert matches(key, query_terms("köln anna"))  # both parts, any order
    assert not matches(key, query_terms("anna zander"))  # every term must match
    assert not matches(key, query_terms("nna"))  # prefixes, not substrings
    assert not matches(key, query_terms("Mül"), prefix=False)
    assert matches(key, query_terms("MÜLLER"), prefix=False)
    assert matches(key, []) and matches("", [])  # no terms: nothing to fail (callers find nothing then)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40) | st.text(alphabet=FOLDING, max_size=20))
def test_r27_query_terms_are_plain_words(text: str) -> None:
    """No character a user types survives as syntax: every alternative is a run of letters or of digits."""
    for alternatives in query_terms(text):
        assert alternatives and all(re.fullmatch(r"[^\W\d_]+|\d+", alt) for alt in alternatives), text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40) | st.text(alphabet=FOLDING, max_size=20))
def test_r26_a_text_always_finds_itself(text: str) -> None:
    """Typing a customer's name (or any part of it) finds the customer: the key matches its own words,
    in whole and as prefixes, and each word alone."""
    key = search_key(text)
    assert matches(key, query_terms(text), prefix=False), text
    for word in words(text):
        assert matches(key, query_terms(word[: max(1, len(word) // 2)])), (text, word)
