"""Size limits on what a user types to look for something: one limit for every text (TYPED_MAX characters),
at most TERMS_MAX words, at most LIMIT_MAX hits asked for. Each refusal is a ValidationError naming the
parameter, before any query runs; the same text within the limits is searched as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cmkit import CustomerManager, ValidationError
from cmkit.domain.text import TERMS_MAX, TYPED_MAX
from cmkit.services.search import LIMIT_MAX

MANY_WORDS = " ".join(f"w{i}" for i in range(100_000))  # 100,000 search terms
HUGE = "a" * 10_000_000  # 10 MB in one word

#: name -> (call with a text, the parameter the refusal names)
TEXT_INPUTS: dict[str, tuple[Callable[[CustomerManager, Any, str], object], str]] = {
    "autocomplete": (lambda cm, w, t: cm.autocomplete(t), "text"),
    "quick_search": (lambda cm, w, t: cm.quick_search(t), "text"),
    "ticket_search-customer": (lambda cm, w, t: cm.ticket_search(customer_name=t), "customer_name"),
    "ticket_search-subject": (lambda cm, w, t: cm.ticket_search(subject=t), "subject"),
    "detail_search-field": (lambda cm, w, t: cm.detail_search(group="retail", last_name=t), "last_name"),
    "detail_search-company": (lambda cm, w, t: cm.detail_search(company=t), "company"),
    "comments-text": (lambda cm, w, t: cm.comments(w["anna"].id, text=t), "text"),
    "attachments-name": (lambda cm, w, t: cm.attachments(w["anna"].id, name=t), "name"),
}


@pytest.mark.parametrize("text", [MANY_WORDS, HUGE], ids=["100000-terms", "10MB"])
@pytest.mark.parametrize("where", TEXT_INPUTS)
def test_hostile_limits_long_texts_are_refused_naming_the_parameter(
    cm: CustomerManager, world: dict[str, Any], where: str, text: str
) -> None:
    call, field = TEXT_INPUTS[where]
    with pytest.raises(ValidationError) as info:
        call(cm, world, text)
    assert info.value.field == field
    assert f"{TYPED_MAX:,}" in str(info.value) or str(TERMS_MAX) in str(info.value)


@pytest.mark.parametrize("where", TEXT_INPUTS)
def test_hostile_limits_too_many_words_within_the_characters_are_refused(
    cm: CustomerManager, world: dict[str, Any], where: str
) -> None:
    call, field = TEXT_INPUTS[where]
    words = " ".join(f"w{i}" for i in range(TERMS_MAX + 1))
    assert len(words) < TYPED_MAX
    with pytest.raises(ValidationError, match=f"at most {TERMS_MAX}") as info:
        call(cm, world, words)
    assert info.value.field == field


def test_hostile_limits_texts_within_the_limits_are_searched(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    padded = "Müller " + " ".join(["anna"] * (TERMS_MAX - 1))  # repeats count once
    assert list(cm.autocomplete(padded)["name"]) == ["Anna Müller"]
    assert list(cm.quick_search("Anna " + " " * (TYPED_MAX - 20)).customers["name"]) == ["Anna Müller"]


@pytest.mark.parametrize("limit", [10**20, LIMIT_MAX + 1, -1, 2**63])
@pytest.mark.parametrize(
    "search",
    [
        lambda cm, n: cm.autocomplete("a", limit=n),
        lambda cm, n: cm.quick_search("a", limit=n),
        lambda cm, n: cm.ticket_search(limit=n),
        lambda cm, n: cm.detail_search(limit=n),
    ],
    ids=["autocomplete", "quick_search", "ticket_search", "detail_search"],
)
def test_hostile_limits_a_huge_limit_is_refused_naming_it(
    cm: CustomerManager, world: dict[str, Any], search: Callable[[CustomerManager, int], object], limit: int
) -> None:
    with pytest.raises(ValidationError, match=f"from 0 to {LIMIT_MAX:,}") as info:
        search(cm, limit)
    assert info.value.field == "limit"
    assert search(cm, LIMIT_MAX) is not None  # the largest allowed one works


@pytest.mark.parametrize(
    ("pattern", "found"),
    [
        ("*a*a*a*a*a*b", False),  # took seconds per stored name with a backtracking regular expression
        ("*ü*e*", True),
        ("M*ller", True),
        ("M*lle", False),
        ("*", True),
    ],
)
def test_hostile_limits_wildcards_match_without_backtracking(
    cm: CustomerManager, world: dict[str, Any], pattern: str, found: bool
) -> None:
    cm.edit(world["anna"].id, world["anna"].version, first_name="a" * 300)
    hits = cm.detail_search(group="retail", kind="contact", last_name=pattern)
    assert (world["anna"].id in set(hits["id"])) is found
    hits = cm.detail_search(group="retail", kind="contact", first_name="*a*a*a*a*a*b")
    assert hits.empty
