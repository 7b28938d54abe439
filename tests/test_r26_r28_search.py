"""R26-R28: autocomplete, quick search, detail search and ticket search, on SQLite and PostgreSQL.

Folding (case, accents, German transliteration), R20 (deactivated customers hidden unless asked for,
their closed tickets found by name, deleted contacts gone), limits, permissions, best matches first, and
search text that is data, never syntax.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cmkit
from cmkit import PermissionDenied, ValidationError
from cmkit.domain.keys import key_for
from cmkit.domain.text import key_parts, matches, query_terms, search_key
from cmkit.services.search import number_prefixes

World = dict[str, cmkit.Customer]
HOSTILE = [
    '"',
    "'",
    "*",
    "**",
    '"OR"',
    "OR",
    "AND",
    "NOT anna",
    "NEAR(anna müller)",
    "anna NEAR müller",
    "%",
    "%%",
    "_",
    "\\",
    "\x00",
    "mül\x00ler",
    "😀",
    "👩‍👩‍👧",
    'a" OR "b',
    "müller*",
    "mül%",
    "mül_",
    "-anna",
    "^anna",
    "anna:",
    "{k}: anna",
    "k:anna",
    "(anna",
    "anna)",
    "'; DROP TABLE customers; --",
    "\u202e",
    "\ufeffanna",
    " ",
    "",
    "\t\n",
    "a" * 2000,
    "anna " * 300,
    "ǅ ß ẞ ı İ",
    "ｍüｌｌｅｒ",
]


def ids(df) -> list[int]:  # type: ignore[no-untyped-def]
    return [int(i) for i in df["id"]]


# -- R26 autocomplete -------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["mul", "Mül", "muel", "MÜLLER", "müller", "Mueller", "MUEL", "  mül  "])
def test_r26_autocomplete_folds_case_accents_and_transliteration(
    cm: cmkit.CustomerManager, world: World, typed: str
) -> None:
    found = cm.autocomplete(typed)
    assert ids(found) == [world["anna"].id]
    row = found.iloc[0]
    assert (row["name"], row["kind"], row["group"], bool(row["active"]), row["company"]) == (
        "Anna Müller",
        "contact",
        "retail",
        True,
        "Acme GmbH",
    )


def test_r26_autocomplete_prefixes_of_company_names_first_and_last_names_and_email(
    cm: cmkit.CustomerManager, world: World
) -> None:
    assert ids(cm.autocomplete("ze")) == [world["zeta"].id]
    assert ids(cm.autocomplete("za")) == [world["carl"].id]
    assert ids(cm.autocomplete("car")) == [world["carl"].id]
    assert (
        ids(cm.autocomplete("öz"))
        == ids(cm.autocomplete("oez"))
        == ids(cm.autocomplete("OZT"))
        == [world["bert"].id]
    )
    assert ids(cm.autocomplete("petra@exa")) == [world["priv"].id]
    assert ids(cm.autocomplete("anna mü")) == [world["anna"].id]
    assert ids(cm.autocomplete("anna zan")) == []
    # autocomplete looks at names and e-mail only, not at other fields (Acme is in Köln)
    assert ids(cm.autocomplete("köln")) == []


def test_r26_autocomplete_finds_no_deactivated_customer(cm: cmkit.CustomerManager, world: World) -> None:
    cm.deactivate(world["bert"].id)
    assert ids(cm.autocomplete("bert")) == []
    cm.deactivate(world["zeta"].id)  # takes Carl along (R19)
    assert ids(cm.autocomplete("z")) == []
    cm.reactivate(world["bert"].id)
    assert ids(cm.autocomplete("bert")) == [world["bert"].id]


def test_r26_autocomplete_whole_words_before_prefixes(cm: cmkit.CustomerManager, world: World) -> None:
    hof = cm.create_company("retail", name="Wolfsburger Hof")
    eva = cm.create_contact("retail", company=hof.id, first_name="Eva", last_name="Wolf")
    assert ids(cm.autocomplete("wolf")) == [eva.id, hof.id]
    assert ids(cm.autocomplete("wol")) == [hof.id, eva.id]  # both prefixes: the index order (oldest first)


def test_r26_long_prefixes_match_in_full_beyond_the_indexed_length(
    cm: cmkit.CustomerManager, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prefixes longer than the prefix indexes are looked up by their indexed start and checked in full,
    within a scan budget; a match beyond the budget is still found (the exact lookup follows)."""
    from cmkit.db import search_queries

    monkeypatch.setattr(search_queries, "SCAN_BUDGET", 3)
    acme = world["acme"].id
    near = [
        cm.create_contact("retail", company=acme, first_name="Ida", last_name=f"Kaltenbrunner{c}")
        for c in "abcd"
    ]  # share the first 8 letters ("kaltenbr") with the one asked for, and more
    far = cm.create_contact("retail", company=acme, first_name="Ida", last_name="Kaltenbrücke")
    ticket = cm.create_ticket(far.id, "helpdesk", "Kaltenbrückenbau verzögert")
    for _ in range(4):
        cm.create_ticket(near[0].id, "helpdesk", "Kaltenbrunnerei geschlossen")
    assert ids(cm.autocomplete("kaltenbrüc")) == ids(cm.autocomplete("Kaltenbruec")) == [far.id]
    assert ids(cm.autocomplete("kaltenbrun", limit=50)) == [c.id for c in near]
    assert ids(cm.autocomplete("kaltenbrunnerc")) == [near[2].id]
    assert ids(cm.autocomplete("kaltenbrunnerx")) == []
    found = cm.quick_search("kaltenbrücken")
    assert ids(found.customers) == [] and ids(found.tickets) == [ticket.id]
    assert ids(cm.quick_search("kaltenbrück").customers) == [far.id]
    assert ids(cm.quick_search("kaltenbrück").tickets) == [ticket.id]
    assert ids(cm.ticket_search(customer_name="kaltenbrück")) == [ticket.id]


def test_r26_autocomplete_limit_kind_and_group(cm: cmkit.CustomerManager, world: World) -> None:
    for i in range(14):
        cm.create_contact("retail", company=world["acme"].id, first_name=f"Max{i}", last_name="Mustermann")
    assert len(cm.autocomplete("muster")) == 10
    assert len(cm.autocomplete("muster", limit=3)) == 3
    assert len(cm.autocomplete("muster", limit=50)) == 14
    assert cm.autocomplete("muster", limit=0).empty
    assert ids(cm.autocomplete("p", kind="company")) == [world["part"].id]
    assert set(ids(cm.autocomplete("p", kind="contact"))) == {world["pete"].id, world["priv"].id}
    assert ids(cm.autocomplete("p", group="private")) == [world["priv"].id]
    for bad in ({"limit": -1}, {"limit": "5"}, {"kind": "person"}, {"group": "nope"}):
        with pytest.raises(ValidationError):
            cm.autocomplete("p", **bad)  # type: ignore[arg-type]


def test_r26_autocomplete_only_readable_groups(
    as_user: Callable[[str], cmkit.CustomerManager], world: World
) -> None:
    rita = as_user("rita")  # reads retail only
    assert ids(rita.autocomplete("p")) == []
    assert ids(rita.autocomplete("acme")) == [world["acme"].id, world["anna"].id]
    with pytest.raises(PermissionDenied):
        rita.autocomplete("p", group="private")


def test_r26_autocomplete_result_columns(cm: cmkit.CustomerManager, world: World) -> None:
    empty = cm.autocomplete("xyzzy")
    full = cm.autocomplete("anna")
    for df in (empty, full):
        assert list(df.columns) == ["id", "name", "kind", "group", "active", "company_id", "company"]
    assert full.iloc[0]["company_id"] == world["acme"].id


# -- R27 quick search and ticket search -------------------------------------------------------------------


def test_r27_quick_search_matches_every_word_over_names_email_and_text_fields(
    cm: cmkit.CustomerManager, world: World
) -> None:
    assert ids(cm.quick_search("anna müller").customers) == [world["anna"].id]
    assert ids(cm.quick_search("MUELLER anna").customers) == [world["anna"].id]
    assert ids(cm.quick_search("anna zander").customers) == []
    assert ids(cm.quick_search("acme.example").customers) == [world["anna"].id]
    assert ids(cm.quick_search("köln").customers) == [world["acme"].id]
    assert ids(cm.quick_search("koeln acme").customers) == [world["acme"].id]
    assert ids(cm.quick_search("strasse").customers) == [world["acme"].id]
    assert ids(cm.quick_search("hauptstr").customers) == [world["acme"].id]
    assert ids(cm.quick_search("Hauptstraße 1").customers) == [world["acme"].id]
    assert ids(cm.quick_search("wien").customers) == [world["zeta"].id]


def test_r27_quick_search_names_before_other_fields(cm: cmkit.CustomerManager, world: World) -> None:
    koelner = cm.create_contact("private", first_name="Karla", last_name="Kölner")
    assert ids(cm.quick_search("köln").customers) == [koelner.id, world["acme"].id]


def test_r27_quick_search_finds_tickets_by_subject_number_and_customer(
    cm: cmkit.CustomerManager, world: World
) -> None:
    t1 = cm.create_ticket(world["anna"].id, "helpdesk", "Drucker druckt nicht")
    t2 = cm.create_ticket(
        world["carl"].id, "billing", "Rechnung doppelt erhalten", additional=[world["bert"].id]
    )
    found = cm.quick_search("drucker")
    assert ids(found.tickets) == [t1.id] and ids(found.customers) == []
    row = found.tickets.iloc[0]
    assert (
        row["number"],
        row["subject"],
        row["queue"],
        row["state"],
        row["main_customer_id"],
        row["customer"],
    ) == (t1.number, "Drucker druckt nicht", "helpdesk", "open", world["anna"].id, "Anna Müller")
    for typed in (t2.number, t2.number.lower(), str(t2.id), f"#{t2.id}"):
        assert ids(cm.quick_search(typed).tickets) == [t2.id], typed
    assert ids(cm.quick_search("T000000").tickets) == [t2.id, t1.id]
    assert ids(cm.quick_search("rechnung doppelt").tickets) == [t2.id]
    assert ids(cm.quick_search("rechnung drucker").tickets) == []
    # by the name of the main or of an additional customer
    assert ids(cm.quick_search("zander").tickets) == [t2.id]
    assert ids(cm.quick_search("öztürk").tickets) == [t2.id]
    assert ids(cm.quick_search("müller").tickets) == [t1.id]


def test_r27_tickets_by_customer_name_come_once_and_fill_the_limit_from_both_roles(
    cm: cmkit.CustomerManager, world: World
) -> None:
    """Tickets found by their customers' names: a ticket naming two such customers (main and additional)
    comes once; tickets where one is only additional customer fill the limit after those where one is main."""
    ida = cm.create_contact("private", first_name="Ida", last_name="Quandtmeier")
    ole = cm.create_contact("private", first_name="Ole", last_name="Quandtmeier")
    both = [cm.create_ticket(ida.id, "helpdesk", f"Anfrage {n}", additional=[ole.id]).id for n in range(3)]
    extra = [
        cm.create_ticket(world["priv"].id, "helpdesk", f"Frage {n}", additional=[ole.id]).id for n in range(3)
    ]
    found = cm.quick_search("quandtmeier", limit=5).tickets
    assert len(found) == 5 and found["id"].is_unique
    assert set(found["id"]) >= set(both)  # those with a main customer of that name first
    assert set(found["id"]) <= set(both) | set(extra)
    every = cm.quick_search("quandtmeier").tickets
    assert sorted(every["id"]) == sorted(both + extra)


def test_r27_closed_tickets_of_a_deactivated_customer_are_found_by_its_name(
    cm: cmkit.CustomerManager, world: World
) -> None:
    t = cm.create_ticket(world["bert"].id, "helpdesk", "Passwort zurücksetzen")
    cm.close_ticket(t.id)
    cm.deactivate(world["bert"].id)
    found = cm.quick_search("öztürk")
    assert ids(found.customers) == []
    assert ids(found.tickets) == [t.id] and found.tickets.iloc[0]["state"] == "closed"
    assert ids(cm.ticket_search(customer_name="oeztuerk")) == [t.id]
    assert ids(cm.ticket_search(customer_name="bert öz", state="closed")) == [t.id]
    assert ids(cm.autocomplete("öztürk")) == []


def test_r27_a_deleted_contact_and_tickets_by_its_name_are_not_found(
    cm: cmkit.CustomerManager, world: World
) -> None:
    dora = cm.create_contact("retail", company=world["acme"].id, first_name="Dora", last_name="Dreher")
    t = cm.create_ticket(dora.id, "helpdesk", "Lieferung verspätet")
    assert ids(cm.quick_search("dreher").tickets) == [t.id]
    cm.transfer_tickets(dora.id, world["anna"].id, only_open=False)
    cm.delete(dora.id)
    assert ids(cm.autocomplete("dora")) == []
    found = cm.quick_search("dreher")
    assert ids(found.customers) == [] and ids(found.tickets) == []
    assert ids(cm.ticket_search(customer_name="dreher")) == []
    assert ids(cm.detail_search(include_deactivated=True, last_name="Dreher")) == []
    # the ticket itself is found by its new customer; its protocol still names Dora (R16, R24)
    assert ids(cm.ticket_search(customer_name="anna")) == [t.id]
    assert "Dora Dreher" in set(cm.protocol(t.id)["old_customer_name"].dropna())


def test_r27_ticket_search_by_customer_subject_state_and_queue(
    cm: cmkit.CustomerManager, world: World
) -> None:
    t1 = cm.create_ticket(world["anna"].id, "helpdesk", "Drucker druckt nicht")
    t2 = cm.create_ticket(world["anna"].id, "billing", "Rechnung doppelt erhalten")
    t3 = cm.create_ticket(world["carl"].id, "helpdesk", "Drucker streikt", additional=[world["anna"].id])
    cm.close_ticket(t2.id)
    assert ids(cm.ticket_search(customer_name="mül")) == [t3.id, t2.id, t1.id]
    assert ids(cm.ticket_search(customer_name="mül", subject="druck")) == [t3.id, t1.id]
    assert ids(cm.ticket_search(subject="DRUCKER")) == [t3.id, t1.id]
    assert ids(cm.ticket_search(customer_name="anna", state="closed")) == [t2.id]
    assert ids(cm.ticket_search(customer_name="anna", queue="billing")) == [t2.id]
    assert ids(cm.ticket_search(customer_name="anna", limit=2)) == [t3.id, t2.id]
    assert ids(cm.ticket_search()) == [t3.id, t2.id, t1.id]
    assert ids(cm.ticket_search(customer_name="%")) == []
    with pytest.raises(ValidationError):
        cm.ticket_search(queue="nope")
    with pytest.raises(ValidationError):
        cm.ticket_search(state="pending")


def test_r27_quick_search_limit_and_permissions(
    cm: cmkit.CustomerManager, world: World, as_user: Callable[[str], cmkit.CustomerManager]
) -> None:
    for i in range(7):
        c = cm.create_contact("private", first_name=f"Lia{i}", last_name="Lindner")
        cm.create_ticket(c.id, "helpdesk", f"Anfrage {i}")
    found = cm.quick_search("lindner", limit=5)
    assert len(found.customers) == 5 and len(found.tickets) == 5
    assert len(cm.quick_search("lindner").customers) == 7
    empty = cm.quick_search("lindner", limit=0)
    assert empty.customers.empty and empty.tickets.empty
    rita = as_user("rita")  # retail only: no private customers, no tickets of private customers
    found = rita.quick_search("lindner")
    assert found.customers.empty and found.tickets.empty
    with pytest.raises(ValidationError):
        cm.quick_search("x", limit=-3)


def test_r27_searches_follow_permissions_changed_by_another_connection(
    cm: cmkit.CustomerManager, world: World, as_user: Callable[[str], cmkit.CustomerManager]
) -> None:
    """A user's open connection searches with the permissions as they are now, changed elsewhere: a
    refusal made on the old ones is checked again, and so are results found with them."""
    lia = cm.create_contact("private", first_name="Lia", last_name="Lindner")
    rita = as_user("rita")  # a reader of retail only
    assert rita.quick_search("lindner").customers.empty
    with pytest.raises(PermissionDenied):
        rita.autocomplete("lind", group="private")
    cm.add_user("rita", ["agent"])  # reads every group now
    assert ids(rita.autocomplete("lind", group="private")) == [lia.id]
    cm.add_user("rita", ["reader"])
    assert rita.quick_search("lindner").customers.empty
    cm.add_user("rita", ["agent"])
    assert ids(rita.quick_search("lindner").customers) == [lia.id]


# -- R28 detail search ------------------------------------------------------------------------------------


def test_r28_detail_search_matches_whole_values_folded(cm: cmkit.CustomerManager, world: World) -> None:
    for value in ("Müller", "müller", "MUELLER", "Muller", " müller "):
        assert ids(cm.detail_search(last_name=value)) == [world["anna"].id], value
    assert ids(cm.detail_search(last_name="Müll")) == []  # the whole value, not a prefix
    assert ids(cm.detail_search(last_name="Mü*")) == [world["anna"].id]
    assert ids(cm.detail_search(last_name="*LLER")) == [world["anna"].id]
    assert ids(cm.detail_search(last_name="*ü*")) == [world["anna"].id, world["bert"].id]
    assert ids(cm.detail_search(email="ANNA@ACME.EXAMPLE")) == [world["anna"].id]
    assert ids(cm.detail_search(street="hauptstrasse 1")) == [world["acme"].id]
    assert ids(cm.detail_search(city="K*", kind="company")) == [world["acme"].id]
    assert ids(cm.detail_search(first_name="anna", last_name="zander")) == []
    found = cm.detail_search(group="retail", kind="contact", last_name="Müller")
    assert found.iloc[0]["email"] == "anna@acme.example" and found.iloc[0]["company"] == "Acme GmbH"
    assert {"first_name", "last_name", "email", "tier"} <= set(found.columns)


def test_r28_detail_search_includes_deactivated_only_when_asked(
    cm: cmkit.CustomerManager, world: World
) -> None:
    cm.deactivate(world["zeta"].id)
    assert ids(cm.detail_search(last_name="Zander")) == []
    assert ids(cm.detail_search(name="Zeta AG")) == []
    found = cm.detail_search(include_deactivated=True, last_name="Zander")
    assert ids(found) == [world["carl"].id] and not found.iloc[0]["active"]
    assert ids(cm.detail_search(include_deactivated=True, group="retail", kind="company")) == [
        world["acme"].id,
        world["zeta"].id,
    ]


def test_r28_detail_search_by_group_kind_and_company(cm: cmkit.CustomerManager, world: World) -> None:
    assert ids(cm.detail_search(company=world["acme"].id)) == [world["anna"].id, world["bert"].id]
    assert ids(cm.detail_search(company=world["acme"])) == [world["anna"].id, world["bert"].id]
    assert ids(cm.detail_search(company="acme gmbh")) == [world["anna"].id, world["bert"].id]
    assert ids(cm.detail_search(company="*eta*")) == [world["carl"].id]
    assert ids(cm.detail_search(company="Nobody GmbH")) == []
    assert ids(cm.detail_search(group="partners")) == [world["part"].id, world["pete"].id]
    assert ids(cm.detail_search(group="retail", kind="company")) == [world["acme"].id, world["zeta"].id]
    assert ids(cm.detail_search(group="retail", limit=1)) == [world["acme"].id]
    assert cm.detail_search(group="retail", limit=0).empty


def test_r28_detail_search_typed_fields(cm: cmkit.CustomerManager, world: World) -> None:
    gold = cm.create_contact(
        "retail",
        company=world["zeta"].id,
        last_name="Gold",
        tier="gold",
        seats=3,
        newsletter=True,
        birthday="1980-02-29",
    )
    assert ids(cm.detail_search(tier="GOLD")) == [gold.id]
    assert ids(cm.detail_search(seats=3)) == ids(cm.detail_search(seats="3")) == [gold.id]
    assert ids(cm.detail_search(newsletter=True)) == [gold.id]
    assert ids(cm.detail_search(birthday="1980-02-29")) == [gold.id]
    assert ids(cm.detail_search(tier=None, group="retail", kind="contact")) == [
        world["anna"].id,
        world["bert"].id,
        world["carl"].id,
    ]
    for bad in ({"seats": "many"}, {"nonsense": "x"}, {"kind": "person"}, {"limit": -1}, {"last_name": 5}):
        with pytest.raises(ValidationError):
            cm.detail_search(**bad)  # type: ignore[arg-type]


def test_r28_detail_search_only_readable_groups(
    as_user: Callable[[str], cmkit.CustomerManager], world: World
) -> None:
    rita = as_user("rita")
    assert ids(rita.detail_search(last_name="Privat")) == []
    with pytest.raises(PermissionDenied):
        rita.detail_search(group="private")


# -- search text is data, never syntax (R26-R28) ---------------------------------------------------------


def _reference_customers(cm: cmkit.CustomerManager, text: str, *, names_only: bool) -> set[int]:
    """The active customers whose folded words start with every word typed (what the indexes must find)."""
    terms = query_terms(text)
    out = set()
    for _, row in cm.frame(include_deactivated=False).iterrows():
        c = cm.customer(int(row["id"]))
        key = key_for(c.kind, dict(c.fields), cm.group(c.group).fields_for(c.kind))
        if terms and matches(key_parts(key)[0] if names_only else key, terms):
            out.add(c.id)
    return out


@pytest.mark.parametrize("text", HOSTILE)
def test_r27_hostile_search_text_neither_raises_nor_changes_what_matches(
    cm: cmkit.CustomerManager, world: World, text: str
) -> None:
    cm.create_ticket(world["anna"].id, "helpdesk", 'Quote "OR" * 100% _x_ NEAR(a b)')
    auto = set(ids(cm.autocomplete(text, limit=100)))
    quick = cm.quick_search(text, limit=100)
    assert auto == _reference_customers(cm, text, names_only=True)
    assert set(ids(quick.customers)) == _reference_customers(cm, text, names_only=False)
    cm.ticket_search(customer_name=text, subject=text)
    if text.strip():
        cm.detail_search(include_deactivated=True, last_name=text)
    if not query_terms(text):
        assert auto == set() and quick.customers.empty and quick.tickets.empty


def test_r28_hostile_detail_values_are_literal(cm: cmkit.CustomerManager, world: World) -> None:
    assert ids(cm.detail_search(last_name="%")) == []
    assert ids(cm.detail_search(last_name="_üller")) == []
    assert ids(cm.detail_search(last_name="M%")) == []
    assert ids(cm.detail_search(last_name="\x00")) == []
    assert ids(cm.detail_search(last_name='"OR"')) == []
    weird = cm.create_contact("private", last_name='100% _Sicher_ "OR"')
    assert ids(cm.detail_search(last_name='100% _sicher_ "or"')) == [weird.id]
    assert ids(cm.detail_search(last_name="100%*")) == [weird.id]
    assert ids(cm.detail_search(last_name="*")) == sorted(
        [world[k].id for k in ("anna", "bert", "carl", "pete", "priv")] + [weird.id],
        key=lambda i: cm.customer(i).name.casefold(),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(max_size=30) | st.sampled_from(["mül", "Zeta", "anna", "petra@", "T000", "1", "acme köln"])
)
def test_r27_arbitrary_text_never_raises_nor_matches_more_than_its_words(
    cm: cmkit.CustomerManager, world: World, text: str
) -> None:
    if cm.ticket_search(subject="drucker").empty:  # once: the data stays the same for every example
        cm.create_ticket(
            world["anna"].id, "helpdesk", "Drucker *druckt* 100% nicht", additional=[world["carl"].id]
        )
    terms = query_terms(text)
    numbers = number_prefixes(text)
    keys = {}
    for c in (world[k] for k in world):
        keys[c.id] = key_for(c.kind, dict(c.fields), cm.group(c.group).fields_for(c.kind))
    for df in (cm.autocomplete(text, limit=100), cm.quick_search(text, limit=100).customers):
        for cid in ids(df):
            assert terms and matches(keys[cid], terms), (text, cid)
    for _, t in cm.quick_search(text, limit=100).tickets.iterrows():
        on_ticket = [t["main_customer_id"], *cm.ticket(int(t["id"])).additional_customer_ids]
        by_subject = bool(terms) and matches(search_key(t["subject"]), terms)
        by_customer = bool(terms) and any(
            matches(key_parts(keys[c])[0], terms) for c in on_ticket if c in keys
        )
        by_number = bool(numbers) and any(t["number"].startswith(n) for n in numbers)
        assert by_subject or by_customer or by_number, (text, t["number"])


# -- the large demo data set --------------------------------------------------------------------------------


def test_demo_scale_keys_are_key_for_and_the_data_keeps_the_rules(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cmkit import demo, demo_scale
    from cmkit.db.engine import engine_for

    url = f"sqlite:///{tmp_path / 'scale.db'}"
    cmkit.init(url, demo.DEMO_CONFIG)
    counts = demo_scale.populate(engine_for(url), demo.Plan(customers=3000, tickets=6000), progress=False)
    assert counts["tickets"] == 6000 and counts["customers"] > 2500
    cm = cmkit.connect(url)
    frame = cm.frame()
    with engine_for(url).connect() as conn:
        keys = dict(conn.exec_driver_sql("SELECT id, search_key FROM customers").all())
        bad_open = conn.exec_driver_sql(
            "SELECT count(*) FROM tickets t JOIN customers c ON c.id = t.main_customer_id "
            "WHERE t.state = 'open' AND c.active = 0"
        ).scalar()
        bad_company = conn.exec_driver_sql(
            "SELECT count(*) FROM customers c JOIN customers co ON co.id = c.company_id "
            "WHERE c.active = 1 AND co.active = 0"
        ).scalar()
        protocol = conn.exec_driver_sql(
            "SELECT count(*) FROM ticket_protocol WHERE action = 'created'"
        ).scalar()
    assert bad_open == 0 and bad_company == 0 and protocol == 6000
    for cid in frame["id"].sample(300, random_state=1):
        c = cm.customer(int(cid))
        assert keys[c.id] == key_for(c.kind, dict(c.fields), cm.group(c.group).fields_for(c.kind)), c
    someone = cm.customer(int(frame[frame["active"] & (frame["kind"] == "contact")]["id"].iloc[0]))
    assert someone.id in ids(cm.autocomplete(someone.fields["last_name"][:3], limit=1000))
    t = cm.tickets(someone.id)
    if len(t):
        assert int(t["id"].iloc[0]) in ids(cm.ticket_search(subject=t["subject"].iloc[0]))


def test_r26_autocomplete_tickets_by_customer_name_closed_ones_of_deactivated_too(
    cm: cmkit.CustomerManager, world: World
) -> None:
    anna, bert = world["anna"], world["bert"]
    old = cm.create_ticket(bert.id, "helpdesk", "Old laptop")
    cm.close_ticket(old.id)
    now = cm.create_ticket(anna.id, "helpdesk", "New printer", additional=[bert.id])
    cm.remove_customer(now.id, bert.id)
    cm.deactivate(bert.id)
    assert cm.autocomplete("oezt").empty  # the customer is not suggested (R26) ...
    found = cm.autocomplete_tickets("oezt")  # ... but its closed ticket is
    assert list(found["number"]) == [old.number] and list(found["customer"]) == ["Bert Öztürk"]
    assert set(found.columns) >= {"id", "number", "subject", "state", "customer"}
    both = cm.autocomplete_tickets("MÜL")
    assert list(both["id"]) == [now.id]
    assert cm.autocomplete_tickets("").empty and cm.autocomplete_tickets("anna", limit=0).empty


def test_r28_ticket_search_by_number_and_without_deactivated_customers(
    cm: cmkit.CustomerManager, world: World
) -> None:
    anna, bert = world["anna"], world["bert"]
    t1 = cm.create_ticket(anna.id, "helpdesk", "Printer")
    t2 = cm.create_ticket(bert.id, "helpdesk", "Laptop")
    cm.close_ticket(t2.id)
    cm.deactivate(bert.id)
    assert list(cm.ticket_search(number=t1.number)["id"]) == [t1.id]
    assert list(cm.ticket_search(number=str(t2.id))["id"]) == [t2.id]
    assert list(cm.ticket_search(state="closed")["id"]) == [t2.id]
    assert cm.ticket_search(state="closed", include_deactivated=False).empty
    assert list(cm.ticket_search(customer_name="bert", include_deactivated=True)["id"]) == [t2.id]
    with pytest.raises(ValidationError, match="number"):
        cm.ticket_search(number="printer")
