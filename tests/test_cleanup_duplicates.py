"""find_duplicates and suggest_merges: fuzzy names and e-mail, within one group and kind, with blocking.

The matching itself (names, blocking, scores, clusters) is checked without a database in
tests/unit/test_domain_matching.py.
"""

from __future__ import annotations

import random
import time

import pandas as pd
import pytest
import sqlalchemy as sa

import cmkit
from cmkit import CustomerManager, ValidationError
from cmkit.db.engine import engine_for
from cmkit.db.schema import CustomerGroup, CustomerRow
from cmkit.domain import matching


def _pairs(df: pd.DataFrame) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for a, b in zip(df["id_a"], df["id_b"], strict=True)}


def test_finds_spelling_variants_and_same_email(cm: CustomerManager, world) -> None:
    acme = world["acme"]
    anna = world["anna"]
    mueller = cm.create_contact("retail", company=acme.id, first_name="Anna", last_name="Mueller")
    typo = cm.create_contact(
        "retail", company=acme.id, first_name="Ana", last_name="Müller", email="anna@acme.example"
    )
    nick = cm.create_contact(
        "retail", company=acme.id, first_name="A.", last_name="Müller", email="anna@acme.example"
    )
    pairs = cm.find_duplicates()
    found = _pairs(pairs)
    assert (anna.id, mueller.id) in found
    assert (anna.id, typo.id) in found  # typo in the first name and the same e-mail
    assert (typo.id, nick.id) in found  # only the same e-mail and a similar name
    assert (world["bert"].id, anna.id) not in found and all(world["carl"].id not in p for p in found)
    assert set(pairs["cluster"]) == {anna.id}
    row = pairs[(pairs["id_a"] == anna.id) & (pairs["id_b"] == typo.id)].iloc[0]
    assert row["score"] >= 90 and "same e-mail" in row["reason"] and "same company" in row["reason"]
    assert list(pairs.columns[:5]) == ["id", "id_a", "id_b", "score", "reason"]
    assert pairs["score"].is_monotonic_decreasing


def test_compares_within_group_and_kind_only(cm: CustomerManager, world) -> None:
    cm.create_contact("private", first_name="Anna", last_name="Müller")  # same name, other group
    cm.create_company("retail", name="Anna Müller")  # same name, other kind
    assert cm.find_duplicates().empty


def test_other_company_and_other_city_lower_the_score(cm: CustomerManager, world) -> None:
    cm.create_contact("retail", company=world["zeta"].id, first_name="Anna", last_name="Müller")
    assert cm.find_duplicates().empty  # contacts of different companies: 100 - 15 for the name alone
    assert len(cm.find_duplicates(min_score=85)) == 1
    berlin = cm.create_company("retail", name="Acme GmbH", city="Berlin")
    assert cm.find_duplicates().query("kind == 'company'").empty
    assert "other city" in cm.find_duplicates(min_score=85).query(f"id_b == {berlin.id}")["reason"].iloc[0]
    koeln = cm.create_company("retail", name="Acme AG", city="Köln")
    assert _pairs(cm.find_duplicates().query("kind == 'company'")) == {(world["acme"].id, koeln.id)}


def test_min_score_group_and_deactivated(cm: CustomerManager, world) -> None:
    twin = cm.create_contact("private", first_name="Petra", last_name="Privat", email="petra@example.org")
    assert _pairs(cm.find_duplicates(group="private")) == {(world["priv"].id, twin.id)}
    assert cm.find_duplicates(group="retail").empty
    cm.deactivate(twin.id)
    assert len(cm.find_duplicates()) == 1
    assert cm.find_duplicates(include_deactivated=False).empty
    with pytest.raises(ValidationError, match="min_score"):
        cm.find_duplicates(min_score=101)


def test_reads_only_groups_the_user_may_read(as_user, cm: CustomerManager, world) -> None:
    cm.create_contact("private", first_name="Petra", last_name="Privat")
    assert len(cm.find_duplicates()) == 1
    assert as_user("rita").find_duplicates().empty  # rita reads retail only


def test_suggest_merges_picks_the_active_record_with_most_tickets(cm: CustomerManager, world) -> None:
    anna = world["anna"]
    busy = cm.create_contact("retail", company=world["acme"].id, first_name="Anna", last_name="Müller")
    cm.create_ticket(busy.id, "helpdesk", "One")
    old = cm.create_contact("retail", company=world["acme"].id, first_name="Anna", last_name="Mueller")
    cm.deactivate(old.id)
    plan = cm.suggest_merges()
    assert len(plan) == 1
    row = plan.iloc[0]
    assert row["survivor_id"] == busy.id and sorted(row["duplicate_ids"]) == [anna.id, old.id]
    assert row["note"] == ""
    out = cm.merge(row["survivor_id"], row["duplicate_ids"])
    assert out.applied and cm.find_duplicates().empty


def test_suggest_merges_notes_a_cluster_without_active_record(cm: CustomerManager, world) -> None:
    twin = cm.create_contact("private", first_name="Petra", last_name="Privat")
    cm.deactivate(twin.id)
    cm.deactivate(world["priv"].id)
    assert "no active record" in cm.suggest_merges().iloc[0]["note"]


def _surnames() -> list[str]:
    """The demo's surnames and a few hundred more made of syllables, for a less crowded name space."""
    from cmkit.demo import LAST

    starts = "Ba Ber Dor Fel Gra Hel Kan Lin Mar Nor Ost Pet Ros Sel Tan Vol Wen Zim Al Bre".split()
    ends = "mann er ski berg feld hoff ler ner sen ow ic ez ke hardt".split()
    return list(LAST) + [a + e for a in starts for e in ends]


@pytest.mark.heavy
def test_100000_contacts_in_under_a_minute(db_url: str) -> None:
    """100,000 contacts of one group, 300 of them entered twice (same e-mail, a typo in the first name):
    every planted pair is found, in under a minute."""
    from cmkit.demo import FIRST

    cm = cmkit.connect(db_url)
    rnd = random.Random(7)
    last_names = _surnames()
    rows = []
    for _ in range(100_000):
        first, last = rnd.choice(FIRST), rnd.choice(last_names)
        mail = f"{first[:1]}{last}{rnd.randint(1, 9999)}@{rnd.choice(['web.de', 'gmx.net', 'example.org'])}".lower()
        rows.append({"first_name": first, "last_name": last, "email": mail})
    planted = rnd.sample(range(100_000), 300)
    rows += [{**rows[i], "first_name": rows[i]["first_name"] + "e"} for i in planted]
    with engine_for(db_url).begin() as conn:
        gid = conn.execute(sa.select(CustomerGroup.id).where(CustomerGroup.name == "private")).scalar_one()
        conn.execute(
            sa.insert(CustomerRow),
            [
                {
                    "kind": "contact",
                    "group_id": gid,
                    "active": True,
                    "name": f"{r['first_name']} {r['last_name']}",
                    "search_key": "",
                    "data": r,
                    "version": 1,
                }
                for r in rows
            ],
        )
    start = time.perf_counter()
    pairs = cm.find_duplicates(group="private")
    elapsed = time.perf_counter() - start
    assert elapsed < 60, f"find_duplicates took {elapsed:.1f} s"
    found = _pairs(pairs)
    ids = cm.frame("customers", group="private")["id"].tolist()
    assert all((ids[i], ids[100_000 + k]) in found for k, i in enumerate(planted))


def test_suggest_merges_does_not_propose_a_cluster_too_large_to_review(
    cm: CustomerManager, world, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(matching, "CLUSTER_MAX", 2)
    for _ in range(2):
        cm.create_contact("private", first_name="Petra", last_name="Privat", email="petra@example.org")
    pairs = cm.find_duplicates(group="private")
    assert len(pairs) == 3 and pairs["note"].str.startswith("cluster of 3 customers").all()
    [proposal] = cm.suggest_merges(pairs).itertuples()
    assert proposal.note.startswith("cluster of 3 customers: too many to merge at once")
    done = cm.merge_duplicates(pairs)
    assert list(done.clusters["status"]) == [proposal.note] and len(cm.find_duplicates(group="private")) == 3


def test_reads_and_compares_one_group_and_kind_at_a_time(
    cm: CustomerManager, world, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streaming: never all customers in memory at once, only one group and kind."""
    from cmkit.services import duplicates

    seen: list[int] = []
    real = duplicates.Part.of

    def recorded(customers: pd.DataFrame, kind: str) -> duplicates.Part:
        seen.append(len(customers))
        return real(customers, kind)

    monkeypatch.setattr(duplicates.Part, "of", recorded)
    cm.create_contact("retail", company=world["acme"].id, first_name="Anna", last_name="Mueller")
    assert len(cm.find_duplicates()) == 1
    assert seen == [2, 4]  # retail's companies, retail's contacts; the others have one customer of a kind
