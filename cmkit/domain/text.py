"""Folding of text for search keys and search queries: case, accents and German transliteration.

A search key is a space-separated list of folded words (runs of letters, or of digits). Every word is stored in two variants, accents
stripped ('muller') and transliterated ('mueller'), so that 'mul', 'Mül', 'muel' and 'MÜLLER' all find
Müller, and 'strasse' finds Straße (also as the last part of a compound: Hauptstraße). Words are runs of letters and digits; everything else separates them,
so no character typed by a user can act as search syntax: queries are built from folded words only.

A customer's key has two parts, `name | more`: the words of its name and e-mail (what autocomplete
looks at), then the words of its other text fields (which quick search looks at too).
A ticket's key is the folded words of its subject.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from cmkit.errors import ValidationError

#: At most this many characters in any text a user types to look for something (searches and filters):
#: no stored name, field or subject is longer, and a longer text only costs memory and time.
TYPED_MAX = 10_000
#: At most this many words to look for in one text: each is one more condition on the indexes.
TERMS_MAX = 32
#: separates the name part of a customer's search key from the rest
PART_SEP = " | "

# Runs of letters, or of digits: 'mueller123' is the words 'mueller' and '123'.
_WORD = re.compile(r"[^\W\d_]+|\d+")
_SPECIAL = {
    "ß": "ss",
    "ø": "o",
    "ł": "l",
    "đ": "d",
    "ı": "i",
    "æ": "ae",
    "œ": "oe",
    "þ": "th",
    "ð": "d",
    "ŀ": "l",
}
_PLAIN = str.maketrans(_SPECIAL)
# German compounds whose last part is searched alone: 'strasse' finds Hauptstraße, 'weg' Gartenweg.
_COMPOUND = re.compile(r"(strasse|gasse|weg|platz|allee|ring|damm|ufer)$")
_GERMAN = str.maketrans({**_SPECIAL, "ä": "ae", "ö": "oe", "ü": "ue"})


def strip_accents(text: str) -> str:
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _casefold(text: str) -> str:
    return text.casefold() if text.isascii() else unicodedata.normalize("NFC", text).casefold()


def fold_variants(text: str) -> list[str]:
    """The folded forms of `text`: accents stripped ('muller') and transliterated ('mueller')."""
    low = _casefold(text)
    plain = strip_accents(low.translate(_PLAIN))
    german = strip_accents(low.translate(_GERMAN))
    return list(dict.fromkeys([plain, german]))


@lru_cache(maxsize=1 << 17)
def _word_variants(word: str) -> tuple[tuple[str, ...], ...]:
    """The folded variants of one casefolded word, each as its tokens (usually one token each)."""
    if word.isascii():
        return ((word,),)
    plain = tuple(_WORD.findall(strip_accents(word.translate(_PLAIN))))
    german = tuple(_WORD.findall(strip_accents(word.translate(_GERMAN))))
    return (plain,) if plain == german else (plain, german)


def words(text: str | None) -> list[str]:
    """The casefolded words of `text`, before accent folding."""
    if not text:
        return []
    return _WORD.findall(_casefold(str(text)))


@lru_cache(maxsize=1 << 17)
def _key_tokens(word: str) -> tuple[str, ...]:
    """The tokens a casefolded word puts into a search key: its variants, and a compound's last part."""
    out: dict[str, None] = {}
    for variant in _word_variants(word):
        for token in variant:
            out[token] = None
            head = _COMPOUND.search(token)
            if head and head.start() > 0:
                out[head.group()] = None
    return tuple(out)


@lru_cache(maxsize=1 << 18)
def _part_tokens(part: str) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for word in words(part):
        out.update(dict.fromkeys(_key_tokens(word)))
    return tuple(out)


def tokens(*parts: str | None) -> list[str]:
    """Every folded token of `parts`, both variants, each once, in order."""
    out: dict[str, None] = {}
    for part in parts:
        if part:
            out.update(dict.fromkeys(_part_tokens(str(part))))
    return list(out)


def search_key(*parts: str | None) -> str:
    """One space-separated string of the folded words of `parts`, both variants, for prefix search."""
    return " ".join(tokens(*parts))


def customer_key(names: Iterable[str | None], more: Iterable[str | None] = ()) -> str:
    """A customer's search key: the words of its names (and e-mail), then `PART_SEP` and the rest."""
    head = tokens(*names)
    seen = set(head)
    tail = [t for t in tokens(*more) if t not in seen]
    return " ".join(head) + (PART_SEP + " ".join(tail) if tail else "")


def key_parts(key: str) -> tuple[str, str]:
    """(name part, other part) of a customer's search key."""
    name, _, more = key.partition(PART_SEP)
    return name, more


def query_terms(text: str | None) -> list[tuple[str, ...]]:
    """What a user typed, as query words: for each word, the alternatives that may match it.

    'Mül' gives [('mul', 'muel')]: a key word starting with either matches. Punctuation, quotes, `*`,
    `%`, `_`, control characters and emoji are separators, never syntax.
    """
    out: list[tuple[str, ...]] = []
    for word in words(text):
        variants = _word_variants(word)
        if len(variants) == 1 or len(variants[0]) != len(variants[1]):
            out.extend((t,) for t in variants[0])
        else:
            out.extend(tuple(dict.fromkeys(pair)) for pair in zip(*variants, strict=True))
    return list(dict.fromkeys(out))


def typed(text: Any, field: str) -> str | None:
    """`text` as a user typed it to look for something, or ValidationError naming `field`: not text, or
    longer than TYPED_MAX characters. None stays None (nothing asked)."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValidationError(field, f"give text to look for, got {type(text).__name__}")
    if len(text) > TYPED_MAX:
        raise ValidationError(
            field, f"is {len(text):,} characters long; look for at most {TYPED_MAX:,} characters"
        )
    return text


def typed_terms(text: Any, field: str) -> list[tuple[str, ...]]:
    """The query words of what a user typed (query_terms), refusing (ValidationError naming `field`)
    text longer than TYPED_MAX characters and more than TERMS_MAX words."""
    terms = query_terms(typed(text, field))
    if len(terms) > TERMS_MAX:
        raise ValidationError(
            field,
            f"has {len(terms):,} words to look for; at most {TERMS_MAX}: leave out the less telling ones",
        )
    return terms


def matches(key: str, terms: list[tuple[str, ...]], *, prefix: bool = True) -> bool:
    """Whether a search key matches query terms: every term has an alternative that starts (or, with
    prefix=False, is) one of the key's words. The reference the indexed queries must agree with."""
    key_words = key.replace(PART_SEP, " ").split()
    if prefix:
        return all(any(w.startswith(alt) for alt in alts for w in key_words) for alts in terms)
    have = set(key_words)
    return all(any(alt in have for alt in alts) for alts in terms)
