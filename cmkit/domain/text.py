"""Folding of names for search keys: case, accents and German transliteration."""

from __future__ import annotations

import unicodedata

_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ł": "l"})


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold_variants(text: str) -> list[str]:
    """The folded forms of `text`: accents stripped ('muller') and transliterated ('mueller')."""
    low = text.casefold()
    plain = strip_accents(low.replace("ß", "ss").replace("ø", "o").replace("ł", "l").replace("đ", "d"))
    german = strip_accents(low.translate(_GERMAN))
    return list(dict.fromkeys([plain, german]))


def search_key(*parts: str | None) -> str:
    """One space-separated string of the folded words of `parts`, both variants, for prefix search."""
    words: list[str] = []
    for part in parts:
        if not part:
            continue
        for variant in fold_variants(part):
            for word in "".join(c if c.isalnum() or c == "@" else " " for c in variant).split():
                if word not in words:
                    words.append(word)
    return " ".join(words)
