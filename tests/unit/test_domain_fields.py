"""cmkit.domain.fields (R4): values are validated against the group's field definitions, stored normalised,
and refused with a ValidationError that names the field; display names come from the fields."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest
from cases import (
    BAD_COMPANY_VALUES,
    BAD_CONTACT_VALUES,
    GOOD_CONTACT_EDIT,
    GOOD_CONTACT_STORED,
    GOOD_CONTACT_VALUES,
)

from cmkit import ValidationError
from cmkit.domain.config import Config, FieldDef
from cmkit.domain.fields import display_name, lone_surrogate, validate_fields, validate_value


@pytest.fixture
def contact_fields(config: Config) -> Mapping[str, FieldDef]:
    return config.group("retail").fields_for("contact")


@pytest.fixture
def company_fields(config: Config) -> Mapping[str, FieldDef]:
    return config.group("retail").fields_for("company")


@pytest.mark.parametrize(("field", "value"), BAD_CONTACT_VALUES)
def test_r4_bad_value_refused_naming_the_field(
    contact_fields: Mapping[str, FieldDef], field: str, value: Any
) -> None:
    with pytest.raises(ValidationError) as info:
        validate_fields(contact_fields, {"first_name": "Gerd", "last_name": "Gut", field: value})
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


@pytest.mark.parametrize(("field", "value"), BAD_COMPANY_VALUES)
def test_r4_bad_company_value_refused(company_fields: Mapping[str, FieldDef], field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        validate_fields(company_fields, {"name": "Neu AG", field: value})
    assert info.value.field == field


def test_r4_unknown_field_refusal_lists_the_known_ones(contact_fields: Mapping[str, FieldDef]) -> None:
    with pytest.raises(ValidationError, match=r"not a field of this customer kind \(fields: first_name, "):
        validate_fields(contact_fields, {"shoe_size": 42})
    with pytest.raises(ValidationError, match=r"\(fields: none\)"):
        validate_fields({}, {"shoe_size": 42})


def test_r4_max_length_is_inclusive(contact_fields: Mapping[str, FieldDef]) -> None:
    assert validate_fields(contact_fields, {"last_name": "x" * 100}) == {"last_name": "x" * 100}
    text = FieldDef("note")  # no max_length: the default limit
    assert validate_value(text, "y" * 10_000) == "y" * 10_000
    with pytest.raises(ValidationError, match="at most 10000"):
        validate_value(text, "y" * 10_001)


def test_r4_good_values_are_stored_normalised(contact_fields: Mapping[str, FieldDef]) -> None:
    data = validate_fields(contact_fields, GOOD_CONTACT_VALUES)
    assert data == GOOD_CONTACT_STORED
    again = validate_fields(contact_fields, GOOD_CONTACT_EDIT, current=data)
    assert again["seats"] == 4 and isinstance(again["seats"], int)
    assert again["newsletter"] is False and again["birthday"] == "1991-01-02"
    assert "first_name" not in again  # a blank optional value is no value


@pytest.mark.parametrize(
    ("type_", "given", "stored"),
    [
        ("number", 7, 7),
        ("number", -2.5, -2.5),
        ("number", " 12 ", 12),
        ("bool", True, True),
        ("bool", " NO ", False),
        ("date", dt.datetime(2024, 2, 29, 13, 5), "2024-02-29"),
        ("text", "tab\tkept", "tab\tkept"),
        ("text", "Mu\u0308ller", "Müller"),  # NFC
    ],
)
def test_r4_typed_values(type_: str, given: Any, stored: Any) -> None:
    got = validate_value(FieldDef("f", type_), given)
    assert got == stored and type(got) is type(stored)


def test_r4_empty_values_are_none_and_none_clears_a_field(contact_fields: Mapping[str, FieldDef]) -> None:
    for empty in (None, "", "  \t"):
        assert validate_value(FieldDef("f", "number"), empty) is None
    current = {"first_name": "Anna", "last_name": "Müller", "retired_field": "x"}
    data = validate_fields(contact_fields, {"first_name": None}, current=current)
    assert data == {"last_name": "Müller"}  # a field no longer defined is dropped too
    assert current == {"first_name": "Anna", "last_name": "Müller", "retired_field": "x"}  # not changed


def test_r5_clearing_a_required_field_refused(contact_fields: Mapping[str, FieldDef]) -> None:
    with pytest.raises(ValidationError, match="last_name: is required"):
        validate_fields(contact_fields, {"last_name": None}, current={"last_name": "Müller"})
    with pytest.raises(ValidationError, match="last_name: is required"):
        validate_fields(contact_fields, {"first_name": "Anna"})


def test_r4_lone_surrogates_are_found() -> None:
    assert lone_surrogate("Müller") is None
    assert lone_surrogate("ab\udc80c") == "\udc80"
    assert lone_surrogate("😀") is None  # a whole character outside the BMP is fine


def test_display_name_of_companies_and_contacts() -> None:
    assert display_name("company", {"name": " Acme GmbH "}) == "Acme GmbH"
    assert display_name("company", {}) == ""
    assert display_name("contact", {"first_name": "Anna", "last_name": "Müller"}) == "Anna Müller"
    assert display_name("contact", {"last_name": "Müller"}) == "Müller"
    assert display_name("contact", {"first_name": "Anna"}) == "Anna"
    assert display_name("contact", {"name": "Petra P."}) == "Petra P."
