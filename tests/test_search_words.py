"""The word indexes stay true under random changes: after edits, ticket transfers, merges, deletes,
deactivations, bulk imports and set-based SQL updates, what the index finds for a prefix or a whole word is
what a plain scan of the stored keys finds (PostgreSQL: the word table `customer_words` of migration 0006,
row for row; SQLite: the FTS5 tables). Searches through cmkit agree with the folded reference too, both
when a rare word drives the search and when every word counts as common (cmkit.db.search_pg's ways)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import BACKENDS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import DBAPIError
from test_invariants_stateful import fresh_database
from test_r31_r33_trust import login  # noqa: F401 - the fixture of logins

import cmkit
from cmkit import CMError
from cmkit.db import search_pg, search_queries
from cmkit.db.engine import engine_for
from cmkit.domain.text import key_parts, query_terms

NAMES = ["Müller", "Mueller", "Meier", "Maier", "Öztürk", "Straße", "Schön", "Schmidt", "Lee", "Acme"]
CITIES = ["Köln", "Kiel", "Münster", "Bern", "Hauptstraße"]
PROBES = [
    "m",
    "mu",
    "mue",
    "mul",
    "muller",
    "me",
    "s",
    "sch",
    "strasse",
    "k",
    "koln",
    "lee",
    "oz",
    "b",
    "x",
    "fr",
]

name = st.sampled_from(NAMES)
city = st.sampled_from(CITIES)
pick = st.integers(min_value=0, max_value=1_000)
OPS = st.one_of(
    st.tuples(st.just("company"), name, city),
    st.tuples(st.just("contact"), name, name),
    st.tuples(st.just("edit"), pick, name),
    st.tuples(st.just("merge"), pick, pick),
    st.tuples(st.just("delete"), pick),
    st.tuples(st.just("deactivate"), pick),
    st.tuples(st.just("ticket"), pick),
    st.tuples(st.just("transfer"), pick, pick),
    st.tuples(st.just("import"), st.lists(st.tuples(name, name), min_size=1, max_size=6)),
    st.tuples(st.just("bulk"), name),
    st.tuples(st.just("bulk_tickets"), name),
    st.tuples(st.just("bulk_delete"), pick),
)


def _ids(conn: sa.Connection, sql: str, **params: Any) -> set[int]:
    return {int(r[0]) for r in conn.execute(sa.text(sql), params)}


def _apply(cm: cmkit.CustomerManager, url: str, op: tuple[Any, ...]) -> None:
    """One change; a refusal (a cmkit error) changes nothing and is fine."""
    engine = engine_for(url)
    with engine.connect() as conn:
        ids = sorted(_ids(conn, "SELECT id FROM customers"))
        companies = sorted(_ids(conn, "SELECT id FROM customers WHERE kind = 'company'"))
        tickets = sorted(_ids(conn, "SELECT id FROM tickets"))
    kind = op[0]
    with contextlib.suppress(CMError):
        if kind == "company":
            cm.create_company("retail", name=f"{op[1]} GmbH", city=op[2], street=f"{op[1]}weg 1")
        elif kind == "contact":
            cm.create_contact("private", first_name=op[1], last_name=op[2], email=f"{op[2]}@example.org")
        elif kind == "edit" and ids:
            c = cm.customer(ids[op[1] % len(ids)])
            field = "name" if c.kind == "company" else "last_name"
            cm.edit(c.id, **{field: op[2]})
        elif kind == "merge" and len(ids) > 1:
            a, b = ids[op[1] % len(ids)], ids[op[2] % len(ids)]
            if a != b:
                cm.merge(a, [b])
        elif kind == "delete" and ids:
            cm.delete(ids[op[1] % len(ids)])
        elif kind == "deactivate" and ids:
            cm.deactivate(ids[op[1] % len(ids)])
        elif kind == "ticket" and ids:
            subject = f"Frage zu {NAMES[op[1] % len(NAMES)]}"
            cm.create_ticket(ids[op[1] % len(ids)], "helpdesk" if op[1] % 2 else "billing", subject)
        elif kind == "transfer" and tickets and len(ids) > 1:
            source = cm.ticket(tickets[op[1] % len(tickets)]).main_customer_id
            cm.transfer_tickets(source, ids[op[2] % len(ids)])
        elif kind == "import":
            frame = pd.DataFrame({"first_name": [a for a, _ in op[1]], "last_name": [b for _, b in op[1]]})
            cm.import_customers(frame, "private", dry_run=False)
        elif kind == "bulk" and ids:  # one set-based UPDATE of many keys (what a repair script does)
            with engine.begin() as conn:
                conn.execute(
                    sa.text("UPDATE customers SET search_key = search_key || :w WHERE id % 2 = 0"),
                    {"w": " " + query_terms(op[1])[0][0]},
                )
        elif kind == "bulk_tickets" and tickets:
            with engine.begin() as conn:
                conn.execute(
                    sa.text("UPDATE tickets SET search_key = search_key || :w WHERE id % 2 = 1"),
                    {"w": " " + query_terms(op[1])[0][0]},
                )
        elif kind == "bulk_delete" and companies:  # many rows in one statement: unused companies
            with engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "DELETE FROM customers WHERE kind = 'contact' AND company_id IS NULL AND id % 3 = :r "
                        "AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.main_customer_id = customers.id) "
                        "AND NOT EXISTS (SELECT 1 FROM ticket_additional_customers a WHERE a.customer_id = customers.id)"
                    ),
                    {"r": op[1] % 3},
                )


def _expected_words(conn: sa.Connection) -> set[tuple[str, int, int, bool]]:
    out: set[tuple[str, int, int, bool]] = set()
    for cid, gid, key in conn.execute(sa.text("SELECT id, group_id, search_key FROM customers")):
        names, more = key_parts(key)
        out |= {(w, cid, gid, True) for w in names.split()}
        out |= {(w, cid, gid, False) for w in more.split() if w not in names.split()}
    return out


def _scan(conn: sa.Connection, probe: str, names_only: bool, active_only: bool = False) -> set[int]:
    """The customers with a word starting with `probe` (of the name, if `names_only`), by reading every key."""
    out = set()
    for cid, active, key in conn.execute(sa.text("SELECT id, active, search_key FROM customers")):
        words = (key_parts(key)[0] if names_only else key).split()
        if any(w.startswith(probe) for w in words) and (active or not active_only):
            out.add(int(cid))
    return out


def _check_index(url: str) -> None:
    with engine_for(url).connect() as conn:
        pg = conn.dialect.name == "postgresql"
        if pg:
            have = {
                (r[0], int(r[1]), int(r[2]), bool(r[3]))
                for r in conn.execute(
                    sa.text("SELECT word, customer_id, group_id, in_name FROM customer_words")
                )
            }
            assert have == _expected_words(conn)
            tickets = {
                (r[0], int(r[1])) for r in conn.execute(sa.text("SELECT word, ticket_id FROM ticket_words"))
            }
            keys = conn.execute(sa.text("SELECT id, search_key FROM tickets"))
            assert tickets == {(w, int(tid)) for tid, key in keys for w in key.split()}
        for probe in PROBES:
            for names_only in (False, True):
                if pg:
                    found = _ids(
                        conn,
                        "SELECT customer_id FROM customer_words WHERE word ~>=~ :a AND word ~<~ :b"
                        + (" AND in_name" if names_only else ""),
                        a=probe,
                        b=probe + chr(0x10FFFF),
                    )
                else:
                    table = "customer_name_fts" if names_only else "customer_fts"
                    found = _ids(
                        conn,
                        f"SELECT rowid FROM {table} WHERE {table} MATCH :m",  # noqa: S608 - fixed table names
                        m=f'"{probe}"*',
                    )
                assert found == _scan(conn, probe, names_only), (probe, names_only)


def _check_searches(cm: cmkit.CustomerManager, url: str) -> None:
    with engine_for(url).connect() as conn:
        for probe in PROBES:
            names = _scan(conn, probe, names_only=True, active_only=True)
            assert set(cm.autocomplete(probe, limit=1000)["id"]) == names, probe
            anywhere = _scan(conn, probe, names_only=False, active_only=True)
            assert set(cm.quick_search(probe, limit=1000).customers["id"]) == anywhere, probe
            subjects = {
                int(tid)
                for tid, key in conn.execute(sa.text("SELECT id, search_key FROM tickets"))
                if any(w.startswith(probe) for w in key.split())
            }
            assert set(cm.ticket_search(subject=probe)["id"]) == subjects, probe


@pytest.fixture
def scratch(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    template = request.getfixturevalue("sqlite_template") if db_url.startswith("sqlite") else None

    def new() -> tuple[str, cmkit.CustomerManager]:
        url = fresh_database(db_url, template, tmp_path)
        return url, cmkit.connect(url)

    yield new


@pytest.mark.parametrize("common", [False, True], ids=["rare", "common"])
def test_word_index_matches_a_plain_scan_after_random_changes(
    scratch: Any, common: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if common:  # PostgreSQL: every word counts as common, none has few words: the walk, then the ranges
        monkeypatch.setattr(search_pg, "CAP", 0)
        monkeypatch.setattr(search_pg, "SPELLINGS", 0)
    search_queries._budgeted.cache_clear()

    @settings(
        max_examples=8,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(st.lists(OPS, min_size=3, max_size=14))
    def run(ops: list[tuple[Any, ...]]) -> None:
        url, cm = scratch()
        for op in ops:
            _apply(cm, url, op)
        _check_index(url)
        _check_searches(cm, url)

    try:
        run()
    finally:
        search_queries._budgeted.cache_clear()


pg_only = pytest.mark.parametrize("db_url", [BACKENDS[1]], indirect=True)


@pg_only
def test_a_login_reads_only_the_words_of_its_groups_on_the_word_index(
    cm: cmkit.CustomerManager,
    db_url: str,
    world: dict[str, cmkit.Customer],
    login: Any,  # noqa: F811 - the fixture imported above
) -> None:
    """Row-level security on customer_words: a login reading retail sees retail's words only, its searches
    are driven from the word index (its operators are leakproof), and its own edits reach the index."""
    _agent, agent_url = login("agent")  # reads everything, writes retail
    _reader, reader_url = login("reader")  # reads retail
    with engine_for(reader_url).connect() as conn:
        groups = {int(g) for (g,) in conn.execute(sa.text("SELECT DISTINCT group_id FROM customer_words"))}
        assert groups == {cm.group_id("retail")}
        plan = "\n".join(
            conn.execute(
                sa.text(
                    "EXPLAIN SELECT customer_id FROM customer_words WHERE word ~>=~ 'mu' AND word ~<~ 'mv'"
                )
            ).scalars()
        )
        assert "ix_search_customer_words" in plan
    reader = cmkit.connect(reader_url)
    assert set(reader.autocomplete("p")["id"]) == set()  # Partner, Petra Privat: not retail
    assert list(reader.autocomplete("mul")["id"]) == [world["anna"].id]
    agent = cmkit.connect(agent_url)
    agent.edit(world["anna"].id, last_name="Zuckmayer")
    assert list(reader.autocomplete("zuck")["id"]) == [world["anna"].id]
    assert reader.autocomplete("mul").empty
    with engine_for(agent_url).connect() as conn:
        with pytest.raises(DBAPIError):  # nobody but the owner's triggers writes the index
            conn.execute(sa.text("DELETE FROM customer_words"))
    _check_index(db_url)


@pg_only
def test_a_search_connection_closed_by_the_server_is_replaced(
    cm: cmkit.CustomerManager, db_url: str, world: dict[str, cmkit.Customer]
) -> None:
    """A pooled search connection the server closed while it waited (a restart, an idle timeout) is
    dropped when the search's first round trip finds it broken, and the search is asked again."""
    assert world["anna"].id in set(cm.autocomplete("mül")["id"])  # a search connection waits in the pool
    with engine_for(db_url).connect() as conn:
        closed = conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    assert closed >= 1
    assert world["anna"].id in set(cm.autocomplete("mül")["id"])
    assert world["anna"].id in set(cm.quick_search("müller").customers["id"])
