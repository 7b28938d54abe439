"""cmkit.domain.keys: which fields make up a customer's search key (R26 looks at the name part, R27 at all)."""

from __future__ import annotations

from cmkit.domain.config import Config
from cmkit.domain.keys import in_key, key_for
from cmkit.domain.text import key_parts


def test_r26_contact_key_has_name_and_email_first(config: Config) -> None:
    fields = config.group("retail").fields_for("contact")
    data = {"first_name": "Anna", "last_name": "Müller", "email": "anna@acme.example", "tier": "gold"}
    name, more = key_parts(key_for("contact", data, fields))
    assert name == "anna muller mueller acme example"
    assert more == ""  # a choice is not searched as text


def test_r27_company_key_has_its_other_text_fields_second(config: Config) -> None:
    fields = config.group("retail").fields_for("company")
    data = {"name": "Acme GmbH", "city": "Köln", "street": "Hauptstraße 1", "phone": "+49 221 555"}
    name, more = key_parts(key_for("company", data, fields))
    assert name == "acme gmbh"
    assert more == "koln koeln hauptstrasse strasse 1"  # not the phone number's digits


def test_r27_without_definitions_every_text_value_is_in_the_key() -> None:
    data = {"last_name": "Müller", "note": "VIP", "seats": 3, "phone": "+49 221"}
    assert key_parts(key_for("contact", data)) == ("muller mueller", "vip 49 221")
    assert key_for("contact", data, {}) == "muller mueller"  # stored fields that are no longer defined


def test_r26_in_key_agrees_with_key_for(config: Config) -> None:
    """For every field of every group and kind: its words are in the key exactly when in_key says so."""
    checked = 0
    for group in config.groups.values():
        for kind in ("company", "contact") if group.two_level else ("contact",):
            fields = group.fields_for(kind)
            for field, fd in fields.items():
                data = {"name": "Firma", "last_name": "Person", field: "Zwiebelkuchen"}
                key = key_for(kind, data, fields)
                assert ("zwiebelkuchen" in key.split()) == in_key(field, fd.type, kind), (
                    group.name,
                    kind,
                    field,
                )
                checked += 1
    assert checked == 18  # every field of tests/config_test.toml


def test_r26_in_key_name_fields_by_kind() -> None:
    assert in_key("email", "email", "contact") and in_key("email", "email", "company")
    assert in_key("name", "text", "company") and not in_key("first_name", "text", "company")
    assert in_key("first_name", "text", "contact") and in_key("last_name", "text", "contact")
    assert not in_key("name", "text", "contact")
    assert in_key("city", "text", "company") and not in_key("phone", "phone", "company")
