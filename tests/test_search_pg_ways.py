"""PostgreSQL finds customers and tickets by one of several ways (cmkit.db.search_pg): a rare term drives,
common prefixes are searched as their words, the first rows are walked, or the terms' ranges are
intersected whole. Which way runs depends on how common the words are; each must give the answer of
the others, in the same order and with the same limit. Forced here by making every word common."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import BACKENDS

import cmkit
from cmkit.db import search_pg

pytestmark = pytest.mark.parametrize("db_url", [BACKENDS[1]], indirect=True)

#: the module's thresholds per way (every term common; prefixes with few words or not; no walk), and
#: the way it must then take at least once
WAYS = {
    "words of a common prefix": ({"CAP": 0}, "all words"),
    "words of some prefixes, the others checked": ({"CAP": 0, "SPELLINGS": 2}, "some words"),
    "first rows walked": ({"CAP": 0, "SPELLINGS": 0}, "walk"),
    "ranges intersected": ({"CAP": 0, "SPELLINGS": 0, "WALK_ROWS": 0}, "exact"),
}
TEXTS = [
    "m",
    "mü",
    "muell",
    "Müller",
    "a",
    "an",
    "anna m",
    "p",
    "pa",
    "partner",
    "k",
    "koln",
    "gmbh",
    "s z",
    "x",
]


def _people(cm: cmkit.CustomerManager) -> None:
    """Customers and tickets enough that limits cut: names sharing prefixes, spellings with umlauts."""
    firsts = ["Anna", "Andreas", "Anke", "Paul", "Petra", "Max", "Moritz", "Marie", "Sören", "Karl"]
    lasts = ["Müller", "Mueller", "Maier", "Meyer", "Partner", "Schulz", "Zander", "Köhler", "Kahn"]
    acme = cm.create_company("retail", name="Acme GmbH", city="Köln")
    for i in range(60):
        c = cm.create_contact(
            "retail" if i % 3 else "private",
            company=acme.id if i % 3 else None,
            first_name=firsts[i % len(firsts)],
            last_name=lasts[(i * 7) % len(lasts)],
            email=f"{firsts[i % len(firsts)].lower()}.{i}@{['koeln', 'kiel', 'muenchen'][i % 3]}.example",
        )
        if i % 4 == 0:
            cm.create_ticket(c.id, "helpdesk", f"Drucker {lasts[i % len(lasts)]} Anfrage {i}")
        if i % 11 == 0 and i % 4:
            cm.deactivate(c.id)


def _answers(cm: cmkit.CustomerManager) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for text in TEXTS:
        for limit in (1, 3, 10, 1000):
            out[f"autocomplete {text} {limit}"] = list(cm.autocomplete(text, limit=limit)["id"])
        quick = cm.quick_search(text, limit=5)
        out[f"quick {text}"] = (list(quick.customers["id"]), list(quick.tickets["id"]))
        out[f"quick all {text}"] = list(cm.quick_search(text, limit=1000).customers["id"])
        out[f"tickets by subject {text}"] = list(cm.ticket_search(subject=text)["id"])
        out[f"tickets by name {text}"] = list(cm.ticket_search(customer_name=text)["id"])
        out[f"ticket autocomplete {text}"] = list(cm.autocomplete_tickets(text, limit=3)["id"])
    for last in ["Müller", "Mueller", "Zander", "Kahn"]:
        found = cm.detail_search(last_name=last, include_deactivated=True)
        out[f"detail {last}"] = list(found["id"])
        out[f"detail {last} Anna"] = list(cm.detail_search(last_name=last, first_name="Anna")["id"])
    out["detail company"] = list(cm.detail_search(company="Acme GmbH")["id"])
    return out


@pytest.mark.parametrize("way", WAYS)
def test_r26_r28_every_postgresql_way_finds_what_the_rare_way_finds(
    cm: cmkit.CustomerManager, way: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _people(cm)
    expected = _answers(cm)
    assert expected["autocomplete m 3"] and expected["quick all mü"], "the data must give the searches work"
    assert len(expected["autocomplete m 1000"]) > 10
    settings, taken = WAYS[way]
    for name, value in settings.items():
        monkeypatch.setattr(search_pg, name, value)
    ways: set[str] = set()
    cls = search_pg._Search

    def ordered(self: Any, limit: int | None, drivers: Any = None) -> list[Any]:
        if drivers is not None:
            ways.add("all words" if len(drivers) == len(self.terms) else "some words")
        return original["ordered"](self, limit, drivers)

    original = {"ordered": cls.ordered, "walk": cls.walk, "exact": cls.exact}
    monkeypatch.setattr(cls, "ordered", ordered)
    monkeypatch.setattr(cls, "walk", lambda self, limit: ways.add("walk") or original["walk"](self, limit))
    monkeypatch.setattr(cls, "exact", lambda self, limit: ways.add("exact") or original["exact"](self, limit))
    got = _answers(cm)
    assert taken in ways
    assert {k: (v, expected[k]) for k, v in got.items() if v != expected[k]} == {}
