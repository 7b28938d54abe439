"""Input cases shared by the unit tier (checked against cmkit.domain directly) and the database tests
(checked through CustomerManager and init, which must refuse them and change nothing)."""

from __future__ import annotations

import copy
import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

import pytest

CONFIG = Path(__file__).with_name("config_test.toml")

BASE: dict[str, Any] = tomllib.loads(CONFIG.read_text(encoding="utf-8"))


def base() -> dict[str, Any]:
    """A fresh deep copy of the test configuration, to modify."""
    return copy.deepcopy(BASE)


def _set(cfg: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    *path, last = dotted.split(".")
    node = cfg
    for key in path:
        node = node[key]
    node[last] = value
    return cfg


def _drop(cfg: dict[str, Any], dotted: str) -> dict[str, Any]:
    *path, last = dotted.split(".")
    node = cfg
    for key in path:
        node = node[key]
    del node[last]
    return cfg


def setting(id: str, dotted: str, value: Any, key: str | None = None) -> Any:
    """A bad configuration: the base with `dotted` set to `value`; the ConfigError names `key` (or `dotted`)."""
    return pytest.param(lambda c: _set(c, dotted, copy.deepcopy(value)), key or dotted, id=id)


def dropping(id: str, dotted: str) -> Any:
    """A bad configuration: the base without `dotted`; the ConfigError names it."""
    return pytest.param(lambda c: _drop(c, dotted), dotted, id=id)


# -- configuration: (change to the base configuration, the dotted key the ConfigError must name)
CONTACT = "groups.retail.contact_fields"
BAD_CONFIGS: list[Any] = [
    setting("unknown-top-level-key", "colour", "blue"),
    setting("unknown-group-key", "groups.retail.colour", "blue"),
    setting("groups-not-a-table", "groups", ["retail"]),
    setting("bad-model", "groups.retail.model", "three-level"),
    dropping("missing-model", "groups.retail.model"),
    setting("bool-as-text", "groups.partners.tickets_for_companies", "yes"),
    setting("max-length-text", f"{CONTACT}.last_name.max_length", "x"),
    setting("max-length-zero", f"{CONTACT}.last_name.max_length", 0),
    setting("required-number", f"{CONTACT}.last_name.required", 1),
    setting("unknown-field-type", f"{CONTACT}.seats.type", "integer"),
    setting("unknown-field-key", f"{CONTACT}.seats.unit", "pcs"),
    setting("choice-without-choices", f"{CONTACT}.tier", {"type": "choice"}, f"{CONTACT}.tier.choices"),
    setting("choice-empty-choices", f"{CONTACT}.tier.choices", []),
    setting(
        "choices-on-text", f"{CONTACT}.city", {"type": "text", "choices": ["a"]}, f"{CONTACT}.city.choices"
    ),
    setting("field-not-a-table", f"{CONTACT}.city", "text"),
    setting("one-level-with-companies", "groups.private.company_fields", {"name": {"type": "text"}}),
    dropping("company-without-name", "groups.retail.company_fields.name"),
    setting("bad-group-name", "groups.bad name", {"model": "one-level"}),
    setting("queue-unknown-group", "queues.helpdesk.groups", ["retail", "wholesale"]),
    setting("unknown-queue-key", "queues.helpdesk.owner", "x"),
    setting("role-unknown-permission", "roles.agent.fly", ["retail"]),
    setting("role-unknown-group", "roles.agent.write", ["wholesale"]),
    setting("role-grant-not-a-list", "roles.agent.read", 5),
    setting("user-unknown-role", "users.alice", ["agent", "superhero"]),
    setting("admin-listed", "users.admin", ["agent"]),
    setting("activities-unknown-group", "activities.wholesale", ["export_vcard"]),
    setting("negative-size", "attachments", {"max_bytes": -1}, "attachments.max_bytes"),
    setting("unknown-attachment-key", "attachments", {"virus_scan": True}, "attachments.virus_scan"),
]


# -- R4 data fields: (field, value) that a retail contact (with first and last name) must refuse, naming the field
BAD_CONTACT_VALUES = [
    pytest.param("last_name", "x" * 101, id="text-too-long"),
    pytest.param("last_name", 42, id="text-not-text"),
    pytest.param("first_name", "An\x00na", id="text-nul"),
    pytest.param("first_name", "An\x1bna", id="text-escape"),
    pytest.param("first_name", "An\x7fna", id="text-del"),
    pytest.param("first_name", "An\ud800na", id="text-lone-surrogate"),
    pytest.param("email", "anna-at-acme", id="email-no-at"),
    pytest.param("email", "anna@acme", id="email-no-domain"),
    pytest.param("email", "a b@acme.example", id="email-space"),
    pytest.param("phone", "call me", id="phone-letters"),
    pytest.param("phone", "+49\x00221", id="phone-nul"),
    pytest.param("seats", "many", id="number-text"),
    pytest.param("seats", float("nan"), id="number-nan"),
    pytest.param("seats", "1e999", id="number-infinite"),
    pytest.param("seats", True, id="number-bool"),
    pytest.param("birthday", "2024-02-30", id="date-impossible"),
    pytest.param("birthday", "31.12.1990", id="date-german"),
    pytest.param("newsletter", "maybe", id="bool-text"),
    pytest.param("newsletter", 2, id="bool-number"),
    pytest.param("tier", "bronze", id="choice-unknown"),
    pytest.param("tier", "Gold", id="choice-case"),
    pytest.param("last_name", "", id="required-empty"),
    pytest.param("last_name", "   ", id="required-blank"),
    pytest.param("last_name", None, id="required-none"),
    pytest.param("shoe_size", "42", id="unknown-field"),
    pytest.param("name", "Anna", id="company-field-on-contact"),
]

# (field, value) that a retail company (named "Neu AG") must refuse, naming the field
BAD_COMPANY_VALUES = [
    pytest.param("name", "x" * 201, id="too-long"),
    pytest.param("name", None, id="required"),
    pytest.param("phone", "phone me", id="phone"),
    pytest.param("last_name", "Müller", id="contact-field-on-company"),
]


# -- R4 data fields: what a retail contact is given, and the normalised values it stores
GOOD_CONTACT_VALUES: dict[str, Any] = {
    "first_name": "  Jörg ",
    "last_name": "Mu\u0308ller",  # decomposed umlaut: stored composed (NFC)
    "email": " joerg@acme.example ",
    "phone": "+49 (221) 123-456",
    "tier": "gold",
    "birthday": dt.date(1990, 5, 17),
    "newsletter": "yes",
    "seats": "3,5",
}
GOOD_CONTACT_STORED: dict[str, Any] = {
    "first_name": "Jörg",
    "last_name": "Müller",
    "email": "joerg@acme.example",
    "phone": "+49 (221) 123-456",
    "tier": "gold",
    "birthday": "1990-05-17",
    "newsletter": True,
    "seats": 3.5,
}
#: an edit of that contact: a whole number, a bool and a date as text, a blank optional value (no value)
GOOD_CONTACT_EDIT: dict[str, Any] = {
    "seats": "4.0",
    "newsletter": "0",
    "birthday": " 1991-01-02 ",
    "first_name": "  ",
}
