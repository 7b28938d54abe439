"""cmkit.domain.matching: duplicate candidates without a database. Names are compared folded and sorted,
only within blocks that share a name beginning, an e-mail or a phone number; scores add the other evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cmkit.domain.matching import (
    PAIR_COLUMNS,
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
