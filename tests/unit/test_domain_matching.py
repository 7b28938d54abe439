"""cmkit.domain.matching: duplicate candidates without a database. Names are compared folded and sorted,
only within blocks that share a name beginning, an e-mail or a phone number; scores add the other evidence."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from cmkit.domain import matching
from cmkit.domain.matching import (
    PAIR_COLUMNS,
    Part,
    candidate_pairs,
    clusters,
    find_pairs,
    normal_email,
    normal_name,
    normal_phone,
)


def _pairs(df: pd.DataFrame) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for a, b in zip(df["id_a"], df["id_b"], strict=True)}


def frame(**columns: list[object]) -> pd.DataFrame:
    """Customers of one group, contacts unless `kind` says otherwise, with empty columns filled in."""
    n = len(columns["name"])
    base: dict[str, list[object]] = {
        "id": list(range(1, n + 1)),
        "group": ["g"] * n,
        "kind": ["contact"] * n,
        "company_id": [None] * n,
        "email": [None] * n,
        "phone": [None] * n,
        "city": [None] * n,
    }
    return pd.DataFrame(base | columns)


def test_normal_name_folds_umlauts_order_and_legal_forms() -> None:
    assert normal_name("Anna Müller", "contact") == normal_name("MUELLER, Anna", "contact") == "anna muller"
    assert normal_name("Müller GmbH & Co. KG", "company") == normal_name("Mueller AG", "company") == "muller"
    assert normal_name("S.à r.l.", "company") == "a l r s"  # nothing but a legal form: kept, not emptied


def test_blocking_does_not_compare_unrelated_names() -> None:
    names = ["anna muller", "anna mueler", "bert ozturk", "carl zander", "zoe koch"]
    pairs = candidate_pairs(names, [""] * 5, [""] * 5, name_cutoff=80)
    assert [tuple(p[:2]) for p in pairs] == [(0, 1)]
    # a shared e-mail makes a candidate whatever the names
    pairs = candidate_pairs(names, ["x@y.de", "", "", "", "x@y.de"], [""] * 5, name_cutoff=80)
    assert {tuple(p[:2]) for p in pairs} == {(0, 1), (0, 4)}


def test_clusters_are_connected_components() -> None:
    labels = clusters(7, np.array([0, 2, 3, 5]), np.array([1, 3, 4, 6]))
    assert labels.tolist() == [0, 0, 2, 2, 2, 5, 5]
    assert clusters(3, np.array([], dtype=int), np.array([], dtype=int)).tolist() == [0, 1, 2]


def test_find_pairs_on_a_frame() -> None:
    frame = pd.DataFrame(
        {
            "id": [5, 9, 12],
            "group": "g",
            "kind": "contact",
            "company_id": None,
            "name": ["Jörg Weiß", "Joerg Weiss", "Jörg Weiß"],
            "email": [None, None, None],
            "phone": [None, None, None],
            "city": ["Köln", None, "Wien"],
        }
    )
    pairs = find_pairs(frame, 90)
    assert _pairs(pairs) == {(5, 9), (9, 12)}  # 5 and 12 live in different cities
    assert set(pairs["cluster"]) == {5}


def test_normal_email_and_phone_are_comparable_or_empty() -> None:
    assert normal_email(" Anna@Acme.Example ") == "anna@acme.example"
    assert normal_email("no address") == normal_email(None) == ""
    assert normal_phone("+49 (221) 555-0") == "492215550"
    assert normal_phone("12345") == normal_phone(None) == ""  # fewer than six digits: not comparable


def test_scores_and_reasons_weigh_every_piece_of_evidence() -> None:
    customers = frame(
        name=["Anna Müller", "Anna Mueller", "Anna Müller", "Zoe Koch", "Zoé Koch", "Bert Brot"],
        company_id=[7, 7, 8, None, None, None],
        email=["anna@x.de", "anna@x.de", None, "z@k.de", "zk@k.de", None],
        city=[None, None, None, "Köln", "Koeln", None],
    )
    pairs = find_pairs(customers, 50)
    assert list(pairs.columns) == PAIR_COLUMNS
    rows = {(r.id_a, r.id_b): (r.score, r.reason) for r in pairs.itertuples()}
    assert rows == {
        (1, 2): (100, "name 100; same e-mail; same company"),  # 70 % name, 30 % e-mail, +10: at most 100
        (4, 5): (98, "name 100; e-mail 92; same city"),  # Köln and Koeln are one city
        (1, 3): (85, "name 100; other company"),  # minus 15
        (2, 3): (85, "name 100; other company"),
    }
    assert list(pairs["id"]) == [1, 2, 3, 4] and list(pairs["score"]) == sorted(pairs["score"], reverse=True)
    assert list(pairs["cluster"]) == [1, 4, 1, 1]


def test_same_phone_adds_and_other_city_takes_away() -> None:
    customers = frame(
        name=["Jörg Weiß", "Jörg Weiss", "Jörg Weiß"],
        phone=["+49 221 555 01", "0049 221 55501", None],
        city=["Köln", "Köln", "Wien"],
    )
    rows = {(r.id_a, r.id_b): (r.score, r.reason) for r in find_pairs(customers, 0).itertuples()}
    assert rows[(1, 2)] == (100, "name 100; same city")  # other digits (0049...): no phone bonus
    assert rows[(1, 3)] == (85, "name 100; other city")
    phones = frame(name=["Jörg Weiß", "Jörg Weiss"], phone=["+49 221 555 01", "49-221-55501"])
    assert find_pairs(phones, 0)["reason"].tolist() == ["name 100; same phone"]


def test_only_one_group_and_kind_are_compared() -> None:
    customers = frame(
        name=["Acme", "Acme", "Acme", "Acme"],
        group=["g", "g", "h", "g"],
        kind=["company", "company", "company", "contact"],
    )
    assert _pairs(find_pairs(customers, 90)) == {(1, 2)}


def test_no_pairs_is_an_empty_table_with_the_columns() -> None:
    empty = find_pairs(frame(name=["Anna Müller", "Bert Brot"]), 90)
    assert empty.empty and list(empty.columns) == PAIR_COLUMNS
    assert str(empty["id_a"].dtype) == "int64" and str(empty["reason"].dtype) == "object"


def _population(n: int, seed: int = 3) -> pd.DataFrame:
    """`n` contacts of one group drawn like the demo data (names, cities, e-mails and phones at random)
    and a few hundred companies: mostly distinct customers."""
    from cmkit.demo_words import CITIES, FIRST, LAST

    rnd = random.Random(seed)
    syllables = "ber dor fel gra hel kan lin mar nor ost pet ros sel tan vol wen zim bre".split()
    lasts = list(LAST) + [a.title() + b for a in syllables for b in syllables]
    rows = []
    for i in range(n):
        first, last = rnd.choice(FIRST), rnd.choice(lasts)
        rows.append(
            {
                "kind": "contact",
                "name": f"{first} {last}",
                "email": f"{first[0]}.{last}{i}@example.org".lower(),
                "phone": f"+49 {rnd.randint(30, 999)} {rnd.randint(100000, 9999999)}",
                "city": rnd.choice(CITIES)[0],
            }
        )
    for i in range(300):
        rows.append(
            {
                "kind": "company",
                "name": f"{rnd.choice(lasts)} {rnd.choice(['Software', 'Bau', 'Handel'])} {i} GmbH",
                "email": None,
                "phone": f"+49 {rnd.randint(30, 999)} {rnd.randint(100000, 9999999)}",
                "city": rnd.choice(CITIES)[0],
            }
        )
    out = pd.DataFrame(rows)
    return out.assign(id=np.arange(1, len(out) + 1), group="g", company_id=None)


def _typo(name: str) -> str:
    first, last = name.split(" ", 1)
    return f"{first} {last[:2] + last[3] + last[2] + last[4:]}"  # two letters swapped


def test_planted_duplicates_of_every_kind_are_found() -> None:
    """Recall: a typo in the name, ü for ue, first and last name swapped, the e-mail in capitals, another
    legal form; each copy keeps the rest of its original's data, as a customer entered twice does."""
    people = _population(20_000)
    rnd = random.Random(5)
    umlauts = people.index[people["name"].str.contains("ü") & (people["kind"] == "contact")]
    contacts = people.index[(people["kind"] == "contact") & people["name"].str.len().gt(9)]
    companies = people.index[people["kind"] == "company"]
    kinds = {
        "typo": (rnd.sample(list(contacts), 40), lambda r: {"name": _typo(r["name"])}),
        "umlaut": (rnd.sample(list(umlauts), 40), lambda r: {"name": r["name"].replace("ü", "ue")}),
        "swapped": (rnd.sample(list(contacts), 40), lambda r: {"name": " ".join(r["name"].split()[::-1])}),
        "e-mail case": (rnd.sample(list(contacts), 40), lambda r: {"email": r["email"].upper()}),
        "legal form": (rnd.sample(list(companies), 40), lambda r: {"name": r["name"].replace("GmbH", "AG")}),
    }
    copies, planted = [], {}
    next_id = len(people) + 1
    for kind, (rows, change) in kinds.items():
        for i in rows:
            original = people.loc[i].to_dict()
            copies.append({**original, **change(original), "id": next_id})
            planted[(int(original["id"]), next_id)] = kind
            next_id += 1
    found = _pairs(find_pairs(pd.concat([people, pd.DataFrame(copies)], ignore_index=True), 90))
    missed = [kind for pair, kind in planted.items() if pair not in found]
    assert missed == []
    assert len(found) < len(planted) + 20  # and hardly anything else


def test_common_name_in_the_same_city_is_no_duplicate() -> None:
    """Two "Thomas Müller" in Köln are two people when hundreds bear that name; a rare name in the same
    city is a duplicate."""
    people = _population(5_000)
    many = pd.DataFrame(
        {
            "id": np.arange(10_001, 10_101),
            "group": "g",
            "kind": "contact",
            "company_id": None,
            "name": "Thomas Müller",
            "email": None,
            "phone": None,
            "city": ["Köln", "München", "Berlin", "Wien"] * 25,  # 25 a city: compared all against all
        }
    )
    rare = frame(name=["Xaver Quenzelbrück", "Xaver Quenzelbrueck"], city=["Köln", "Köln"])
    rare["id"] = [20_001, 20_002]
    pairs = find_pairs(pd.concat([people, many, rare], ignore_index=True), 90)
    assert (20_001, 20_002) in _pairs(pairs)
    assert not pairs["id_a"].between(10_001, 10_100).any()
    common = find_pairs(pd.concat([people, many], ignore_index=True), 0)
    thomas = common[common["id_a"].between(10_001, 10_100) & common["id_b"].between(10_001, 10_100)]
    assert len(thomas) == 4 * 25 * 24 // 2
    assert thomas["reason"].str.contains("same city; common name").all() and thomas["score"].max() < 60


def test_too_large_clusters_are_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matching, "CLUSTER_MAX", 3)
    customers = frame(
        name=["Info Desk", "Info Desk", "Info Desk", "Info Desk", "Anna Müller", "Anna Mueller"],
        email=["info@x.de"] * 4 + [None, None],
    )
    pairs = find_pairs(customers, 90)
    big = pairs[pairs["cluster"] == 1]
    assert (
        len(big) == 6
        and (big["note"] == "cluster of 4 customers: too many to merge at once; review its pairs").all()
    )
    assert (pairs[pairs["cluster"] == 5]["note"] == "").all()


def test_pairs_are_made_block_by_block_in_bounded_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory is bounded: candidate pairs come in chunks of at most CHUNK, only blocks of at most
    BLOCK_MAX customers are compared all against all, and the result does not depend on the chunk size."""
    people = _population(3_000)
    many = frame(name=["Thomas Müller"] * 1_000, city=["Köln", "Wien"] * 500)
    many["id"] = np.arange(5_001, 6_001)
    customers = pd.concat([people, many], ignore_index=True)
    whole = find_pairs(customers, 50)
    sizes: list[int] = []
    real = matching.score_pairs

    def counted(part: Part, a: np.ndarray, *args: object) -> pd.DataFrame:
        sizes.append(len(a))
        return real(part, a, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(matching, "CHUNK", 1_000)
    monkeypatch.setattr(matching, "score_pairs", counted)
    chunked = find_pairs(customers, 50)
    assert max(sizes) <= 1_000
    pd.testing.assert_frame_equal(whole, chunked)
    contacts = Part.of(customers[customers["kind"] == "contact"].reset_index(drop=True), "contact")
    made = sum(len(p) for _, p in matching.candidate_blocks(contacts))
    assert made < len(customers) * matching.BLOCK_MAX  # not the 500,000 pairs of 1,000 Thomas Müller


def test_same_vat_id_adds_and_another_takes_away() -> None:
    """A VAT id names one legal entity: the same one carries a common name, different ones part two
    companies of one name in one city."""
    companies = frame(
        name=["Köhler Chemie GmbH", "Köhler Chemie AG", "Köhler Chemie SE", "Koehler Chemie KG"],
        kind=["company"] * 4,
        city=["Köln"] * 4,
        vat_id=["DE 123.456.789", "de123456789", "DE999999999", None],
    )
    rows = {(r.id_a, r.id_b): (r.score, r.reason) for r in find_pairs(companies, 0).itertuples()}
    assert rows[(1, 2)] == (100, "name 100; same VAT id; same city")
    assert rows[(1, 3)] == (85, "name 100; other VAT id; same city")
    assert rows[(1, 4)] == (100, "name 100; same city")
