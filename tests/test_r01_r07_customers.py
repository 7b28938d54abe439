"""R1-R7: one record per customer, groups and models, contacts and companies, data fields, edit, change of company."""

from __future__ import annotations

from typing import Any

import pytest
from cases import (
    BAD_COMPANY_VALUES,
    BAD_CONTACT_VALUES,
    GOOD_CONTACT_EDIT,
    GOOD_CONTACT_STORED,
    GOOD_CONTACT_VALUES,
)

from cmkit import (
    CustomerManager,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    StaleVersion,
    ValidationError,
)

# -- R1 one customer, one record -------------------------------------------------------------------------------


def test_r1_edit_is_seen_everywhere_the_customer_is_used(cm: CustomerManager, world, as_user) -> None:
    anna = world["anna"]
    t = cm.create_ticket(anna.id, "helpdesk", "Printer")
    cm.edit(anna.id, last_name="Schmidt", email="anna.schmidt@acme.example")

    assert cm.customer(anna.id).name == "Anna Schmidt"
    assert cm.ticket(t.id).main_customer_id == anna.id
    assert list(cm.tickets(anna.id)["id"]) == [t.id]
    contacts = cm.contacts(world["acme"].id).set_index("id")
    assert contacts.loc[anna.id, "name"] == "Anna Schmidt"
    assert contacts.loc[anna.id, "email"] == "anna.schmidt@acme.example"
    frame = cm.frame("customers").set_index("id")
    assert frame.loc[anna.id, "last_name"] == "Schmidt"
    assert (frame["name"] == "Anna Schmidt").sum() == 1  # one record, not a copy per place
    links = cm.frame("ticket_customers")
    assert list(links["customer_id"]) == [anna.id]
    # another admin sees the same record
    assert as_user("alice").customer(anna.id).fields["email"] == "anna.schmidt@acme.example"


def test_r1_customer_is_stored_once(cm: CustomerManager, world) -> None:
    frame = cm.frame("customers")
    assert len(frame) == len(world)
    assert frame["id"].is_unique
    assert cm.customer(world["bert"].id) == world["bert"]


def test_r1_frame_through_arrow_equals_the_generic_path(
    cm: CustomerManager, world, monkeypatch, db_url: str
) -> None:
    """The fast frame (SQLite: rows rendered as CSV and JSON by SQLite and parsed by Arrow; PostgreSQL:
    ADBC) gives the same table as the plain query, filters included, for names with quotes, commas, tabs
    and spaces at either end, and times stored with a zone by a writer around cmkit."""
    import pandas as pd
    import sqlalchemy as sa

    from cmkit.db import arrow_frames
    from cmkit.db.engine import engine_for

    cm.edit(world["anna"].id, email="anna.b@acme.example")
    cm.deactivate(world["zeta"].id)
    odd = cm.create_company("retail", name=' "Quote", comma;\ttab \\ back ', city="Köln")
    cm.create_contact("retail", company=odd.id, first_name='"', last_name="O'Brien, Jr.")
    with engine_for(db_url).begin() as conn:
        if conn.dialect.name == "sqlite":  # a time as a writer around cmkit may leave it
            stamp = "UPDATE customers SET updated_at = updated_at || '+00:00' WHERE id = :i"
            conn.execute(sa.text(stamp), {"i": odd.id})
    asks = [{}, {"include_deactivated": False}, {"kind": "company"}, {"group": "retail", "kind": "contact"}]
    made = []
    real = arrow_frames.customers_frame
    monkeypatch.setattr(
        arrow_frames, "customers_frame", lambda *a, **k: made.append(real(*a, **k)) or made[-1]
    )
    fast = [cm.frame("customers", **a) for a in asks]
    assert len(made) == len(asks) and all(f is not None for f in made)  # the fast path was taken
    monkeypatch.setattr(arrow_frames, "customers_frame", lambda *a, **k: None)
    for ask, got in zip(asks, fast, strict=True):
        want = cm.frame("customers", **ask)
        assert len(got) and list(got.columns) == list(want.columns), ask
        pd.testing.assert_frame_equal(
            got.astype(object).where(got.notna(), None),
            want.astype(object).where(want.notna(), None),
            check_dtype=False,
        )


# -- R2 customer groups ------------------------------------------------------------------------------------------


def test_r2_every_customer_belongs_to_one_group_with_its_model(cm: CustomerManager, world) -> None:
    assert {k: c.group for k, c in world.items()} == {
        "acme": "retail",
        "zeta": "retail",
        "anna": "retail",
        "bert": "retail",
        "carl": "retail",
        "part": "partners",
        "pete": "partners",
        "priv": "private",
    }
    assert world["acme"].kind == "company" and world["acme"].company_id is None
    assert world["anna"].kind == "contact" and world["anna"].company_id == world["acme"].id
    assert world["priv"].kind == "contact" and world["priv"].company_id is None
    assert cm.config.groups["retail"].model == "two-level"
    assert cm.config.groups["private"].model == "one-level"
    assert cm.config.groups["retail"].tickets_for_companies is False
    assert cm.config.groups["partners"].tickets_for_companies is True


def test_r2_company_in_one_level_group_refused(cm: CustomerManager, refused) -> None:
    err = refused(ValidationError, cm.create_company, "private", name="Solo GmbH")
    assert err.field == "group"
    assert str(err).startswith("group: R2:")
    assert "create_contact" in str(err)


@pytest.mark.parametrize("create", ["create_company", "create_contact"])
def test_r2_unknown_group_refused(cm: CustomerManager, refused, create: str) -> None:
    err = refused(ValidationError, getattr(cm, create), "wholesale", name="X", last_name="X")
    assert err.field == "group"
    assert "'wholesale'" in str(err)
    for known in ("retail", "partners", "private"):
        assert known in str(err)


# -- R3 contacts and companies -----------------------------------------------------------------------------------


def test_r3_contact_of_two_level_group_belongs_to_a_company_of_its_group(cm: CustomerManager, world) -> None:
    acme = world["acme"]
    dora = cm.create_contact("retail", company=acme.id, first_name="Dora", last_name="Dahl")
    assert dora.company_id == acme.id
    assert set(cm.contacts(acme.id)["id"]) == {world["anna"].id, world["bert"].id, dora.id}
    # the Customer value itself may be passed as company
    emil = cm.create_contact("retail", company=acme, last_name="Ernst")
    assert emil.company_id == acme.id


def test_r3_contact_of_two_level_group_without_company_refused(cm: CustomerManager, world, refused) -> None:
    err = refused(ValidationError, cm.create_contact, "retail", last_name="Niemand")
    assert err.field == "company"
    assert "R3" in str(err) and "company=" in str(err)


@pytest.mark.parametrize("company", ["part", "anna", "priv"])
def test_r3_company_of_other_group_or_not_a_company_refused(
    cm: CustomerManager, world, refused, company: str
) -> None:
    err = refused(ValidationError, cm.create_contact, "retail", company=world[company].id, last_name="Falsch")
    assert err.field == "company"
    assert "R3" in str(err) and "retail" in str(err)


def test_r3_unknown_company_refused(cm: CustomerManager, world, refused) -> None:
    refused(NotFound, cm.create_contact, "retail", company=999_999, last_name="Falsch")


def test_r3_contact_of_deactivated_company_refused(cm: CustomerManager, world, refused) -> None:
    cm.deactivate(world["zeta"].id)
    err = refused(PreconditionFailed, cm.create_contact, "retail", company=world["zeta"].id, last_name="Neu")
    assert err.problems[0].startswith("R20: ")
    assert "reactivate" in err.problems[0]


def test_r3_one_level_contact_with_company_refused(cm: CustomerManager, world, refused) -> None:
    err = refused(ValidationError, cm.create_contact, "private", company=world["acme"].id, last_name="Privat")
    assert err.field == "company"
    assert "one-level" in str(err)


# -- R4 data fields ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), BAD_CONTACT_VALUES)
def test_r4_bad_value_refused_on_create(cm: CustomerManager, world, refused, field: str, value: Any) -> None:
    fields = {"first_name": "Gerd", "last_name": "Gut", field: value}
    err = refused(ValidationError, cm.create_contact, "retail", company=world["acme"].id, **fields)
    assert err.field == field
    assert str(err).startswith(f"{field}: ")


@pytest.mark.parametrize(("field", "value"), BAD_CONTACT_VALUES)
def test_r4_bad_value_refused_on_edit(cm: CustomerManager, world, refused, field: str, value: Any) -> None:
    anna = world["anna"]
    err = refused(ValidationError, cm.edit, anna.id, **{field: value})
    assert err.field == field
    assert cm.customer(anna.id) == anna


@pytest.mark.parametrize(("field", "value"), BAD_COMPANY_VALUES)
def test_r4_bad_company_value_refused(cm: CustomerManager, world, refused, field: str, value: Any) -> None:
    err = refused(ValidationError, cm.create_company, "retail", **{"name": "Neu AG", field: value})
    assert err.field == field
    err = refused(ValidationError, cm.edit, world["acme"].id, **{field: value})
    assert err.field == field


def test_r4_one_bad_field_among_good_ones_stores_nothing(cm: CustomerManager, world, refused) -> None:
    anna = world["anna"]
    err = refused(ValidationError, cm.edit, anna.id, first_name="Anne", city_of_birth="Köln")
    assert err.field == "city_of_birth"
    err = refused(ValidationError, cm.edit, anna.id, first_name="Anne", email="kaputt")
    assert err.field == "email"
    assert cm.customer(anna.id).fields["first_name"] == "Anna"


def test_r4_max_length_is_inclusive(cm: CustomerManager, world) -> None:
    c = cm.create_contact("retail", company=world["acme"].id, last_name="x" * 100)
    assert c.fields["last_name"] == "x" * 100
    company = cm.create_company("retail", name="n" * 200)
    assert company.name == "n" * 200


def test_r4_good_values_are_stored_normalised(cm: CustomerManager, world) -> None:
    c = cm.create_contact("retail", company=world["acme"].id, **GOOD_CONTACT_VALUES)
    stored = cm.customer(c.id)
    assert dict(stored.fields) == GOOD_CONTACT_STORED
    assert stored.name == "Jörg Müller"
    updated = cm.edit(c.id, **GOOD_CONTACT_EDIT)
    assert updated.fields["seats"] == 4 and isinstance(updated.fields["seats"], int)
    assert updated.fields["newsletter"] is False
    assert updated.fields["birthday"] == "1991-01-02"
    assert "first_name" not in updated.fields  # a blank optional value is no value
    assert updated.name == "Müller"
    assert cm.customer(c.id) == updated
    row = cm.frame("customers").set_index("id").loc[c.id]
    assert row["birthday"] == "1991-01-02" and row["seats"] == 4


def test_r4_optional_fields_may_be_left_out(cm: CustomerManager, world) -> None:
    c = cm.create_contact("retail", company=world["acme"].id, last_name="Kurz")
    assert dict(c.fields) == {"last_name": "Kurz"}
    assert c.name == "Kurz"


# -- R5 edit -----------------------------------------------------------------------------------------------------


def test_r5_edit_needs_write_permission(cm: CustomerManager, world, as_user, refused) -> None:
    rita = as_user("rita")  # reader: read on retail only
    anna = world["anna"]
    assert rita.customer(anna.id) == anna
    err = refused(PermissionDenied, rita.edit, anna.id, email="rita@example.org")
    assert str(err).startswith("R5: ")
    assert "'write'" in str(err) and "'retail'" in str(err) and "grant" in str(err)
    refused(PermissionDenied, rita.create_contact, "retail", company=world["acme"].id, last_name="Neu")
    refused(PermissionDenied, rita.create_company, "retail", name="Neu AG")
    refused(PermissionDenied, rita.change_company, anna.id, world["zeta"].id)
    assert cm.customer(anna.id) == anna


def test_r5_write_permission_is_per_group(world, as_user, refused) -> None:
    alice = as_user("alice")  # agent: write on retail only
    assert alice.edit(world["anna"].id, tier="silver").fields["tier"] == "silver"
    err = refused(PermissionDenied, alice.edit, world["pete"].id, first_name="Peter")
    assert "'partners'" in str(err)
    refused(PermissionDenied, alice.create_contact, "private", last_name="Neu")


def test_r5_edit_increments_version_and_refuses_a_stale_one(cm: CustomerManager, world, refused) -> None:
    anna = world["anna"]
    assert anna.version == 1
    v2 = cm.edit(anna.id, version=1, tier="gold")
    assert v2.version == 2
    err = refused(StaleVersion, cm.edit, anna.id, version=1, tier="silver")
    assert err.current_version == 2
    assert str(err).startswith("R5: ") and "reload" in str(err)
    assert cm.customer(anna.id).fields["tier"] == "gold"
    assert cm.edit(anna.id, version=2, tier="silver").version == 3
    assert cm.edit(anna.id, tier="gold").version == 4  # without a version: last write wins


@pytest.mark.parametrize("version", ["latest", [2], 1.5j])
def test_r5_version_that_is_no_number_refused(cm: CustomerManager, world, refused, version: Any) -> None:
    err = refused(ValidationError, cm.edit, world["anna"].id, version=version, tier="gold")
    assert err.field == "version" and "Customer.version" in str(err)


def test_r5_version_read_from_a_table_is_accepted(cm: CustomerManager, world) -> None:
    row = cm.contacts(world["acme"].id).set_index("id").loc[world["anna"].id]
    assert cm.edit(world["anna"].id, version=row["version"], tier="gold").version == 2


def test_r5_two_admins_editing_the_same_customer_lose_no_update(
    cm: CustomerManager, world, as_user, refused
) -> None:
    alice = as_user("alice")
    seen_by_admin = cm.customer(world["anna"].id)
    seen_by_alice = alice.customer(world["anna"].id)
    cm.edit(seen_by_admin.id, version=seen_by_admin.version, email="admin@acme.example")
    refused(
        StaleVersion, alice.edit, seen_by_alice.id, version=seen_by_alice.version, email="alice@acme.example"
    )
    fresh = alice.customer(world["anna"].id)
    assert fresh.fields["email"] == "admin@acme.example"
    assert alice.edit(fresh.id, version=fresh.version, tier="gold").fields["email"] == "admin@acme.example"


def test_r5_noop_edit_keeps_version_and_writes_nothing(cm: CustomerManager, world, snapshot) -> None:
    anna = world["anna"]
    before = snapshot()
    same = cm.edit(anna.id, version=1, first_name=" Anna ", email="anna@acme.example")
    assert same == anna
    assert snapshot() == before


def test_r5_none_clears_a_field(cm: CustomerManager, world) -> None:
    anna = cm.edit(world["anna"].id, email=None)
    assert "email" not in anna.fields
    assert anna.version == 2
    assert "email" not in cm.customer(anna.id).fields


def test_r5_clearing_a_required_field_refused(cm: CustomerManager, world, refused) -> None:
    err = refused(ValidationError, cm.edit, world["anna"].id, last_name=None)
    assert err.field == "last_name" and "required" in str(err)
    err = refused(ValidationError, cm.edit, world["acme"].id, name="")
    assert err.field == "name"


def test_r5_edit_of_missing_customer_refused(cm: CustomerManager, world, refused) -> None:
    err = refused(NotFound, cm.edit, 999_999, first_name="Niemand")
    assert "999999" in str(err)


# -- R6 deactivated customers can be edited -----------------------------------------------------------------------


def test_r6_deactivated_customer_can_be_edited(cm: CustomerManager, world) -> None:
    cm.deactivate(world["zeta"].id)  # takes carl along (R19)
    carl = cm.customer(world["carl"].id)
    assert not carl.active
    edited = cm.edit(carl.id, version=carl.version, email="carl@zeta.example")
    assert edited.fields["email"] == "carl@zeta.example"
    assert edited.version == carl.version + 1
    assert not edited.active
    zeta = cm.edit(world["zeta"].id, city="Graz")
    assert zeta.fields["city"] == "Graz" and not zeta.active


def test_r6_deactivated_customer_edit_is_still_validated(cm: CustomerManager, world, refused) -> None:
    cm.deactivate(world["priv"].id)
    err = refused(ValidationError, cm.edit, world["priv"].id, email="kaputt")
    assert err.field == "email"


# -- R7 change of company -----------------------------------------------------------------------------------------


def test_r7_contact_moves_to_another_company_of_its_group(cm: CustomerManager, world) -> None:
    anna, acme, zeta = world["anna"], world["acme"], world["zeta"]
    moved = cm.change_company(anna.id, zeta.id)
    assert moved.company_id == zeta.id
    assert moved.version == anna.version + 1
    assert dict(moved.fields) == dict(anna.fields)
    assert anna.id not in set(cm.contacts(acme.id)["id"])
    assert anna.id in set(cm.contacts(zeta.id)["id"])
    entry = cm.history(customer_id=anna.id).iloc[-1]
    assert entry["action"] == "change_company"
    assert entry["before"] == {"company_id": acme.id}
    assert entry["after"] == {"company_id": zeta.id}


def test_r7_contact_moves_to_a_company_created_on_the_spot(cm: CustomerManager, world) -> None:
    new = cm.create_company("retail", name="Neu GmbH")
    assert cm.change_company(world["anna"].id, new.id).company_id == new.id


def test_r7_move_to_current_company_changes_nothing(cm: CustomerManager, world, snapshot) -> None:
    before = snapshot()
    assert cm.change_company(world["anna"].id, world["acme"].id) == world["anna"]
    assert snapshot() == before


def test_r7_deactivated_contact_cannot_move(cm: CustomerManager, world, refused) -> None:
    cm.deactivate(world["anna"].id)
    err = refused(PreconditionFailed, cm.change_company, world["anna"].id, world["zeta"].id)
    assert any(p.startswith("R7: ") and "reactivate" in p for p in err.problems)


def test_r7_contact_cannot_move_into_deactivated_company(cm: CustomerManager, world, refused) -> None:
    cm.deactivate(world["zeta"].id)
    err = refused(PreconditionFailed, cm.change_company, world["anna"].id, world["zeta"].id)
    assert [p[:4] for p in err.problems] == ["R7: "]
    assert "deactivated" in err.problems[0] and "reactivate" in err.problems[0]


def test_r7_company_of_another_group_refused(cm: CustomerManager, world, refused) -> None:
    err = refused(PreconditionFailed, cm.change_company, world["anna"].id, world["part"].id)
    assert err.problems[0].startswith("R3: ")
    assert "'partners'" in err.problems[0] and "'retail'" in err.problems[0]


@pytest.mark.parametrize(
    ("contact", "target"), [("anna", "bert"), ("anna", "priv"), ("priv", "acme"), ("acme", "zeta")]
)
def test_r7_only_contacts_move_and_only_to_companies(
    cm: CustomerManager, world, refused, contact: str, target: str
) -> None:
    err = refused(PreconditionFailed, cm.change_company, world[contact].id, world[target].id)
    assert err.problems and all(p[:3] in ("R7:", "R3:") for p in err.problems)


def test_r7_unknown_company_refused(cm: CustomerManager, world, refused) -> None:
    refused(NotFound, cm.change_company, world["anna"].id, 999_999)
