"""Input cases shared by the unit tier (checked against cmkit.domain directly) and the database tests
(checked through CustomerManager and init, which must refuse them and change nothing)."""

from __future__ import annotations

import copy
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


# -- configuration: (change to the base configuration, the dotted key the ConfigError must name)
BAD_CONFIGS: list[Any] = [
    pytest.param(lambda c: _set(c, "colour", "blue"), "colour", id="unknown-top-level-key"),
    pytest.param(
        lambda c: _set(c, "groups.retail.colour", "blue"), "groups.retail.colour", id="unknown-group-key"
    ),
    pytest.param(lambda c: _set(c, "groups", ["retail"]), "groups", id="groups-not-a-table"),
    pytest.param(
        lambda c: _set(c, "groups.retail.model", "three-level"), "groups.retail.model", id="bad-model"
    ),
    pytest.param(lambda c: _drop(c, "groups.retail.model"), "groups.retail.model", id="missing-model"),
    pytest.param(
        lambda c: _set(c, "groups.partners.tickets_for_companies", "yes"),
        "groups.partners.tickets_for_companies",
        id="bool-as-text",
    ),
    pytest.param(
        lambda c: _set(c, "groups.retail.contact_fields.last_name.max_length", "x"),
        "groups.retail.contact_fields.last_name.max_length",
        id="max-length-text",
    ),
    pytest.param(
        lambda c: _set(c, "groups.retail.contact_fields.last_name.max_length", 0),
        "groups.retail.contact_fields.last_name.max_length",
        id="max-length-zero",
    ),
    pytest.param(
        lambda c: _set(c, "groups.retail.contact_fields.last_name.required", 1),
        "groups.retail.contact_fields.last_name.required",
        id="required-number",
    ),
    pytest.param(
        lambda c: _set(c, "groups.retail.contact_fields.seats.type", "integer"),
        "groups.retail.contact_fields.seats.type",
        id="unknown-field-type",
    ),
    pytest.param(
        lambda c: _set(c, "groups.retail.contact_fields.seats.unit", "pcs"),
        "groups.retail.contact_fields.seats.unit",
        id="unknown-field-key",
    ),
    pytest.param(
        lambda c: _set(c, "groups.retail.contact_fields.tier", {"type": "choice"}),
        "groups.retail.contact_fields.tier.choices",
        id="choice-without-choices",
    ),
    pytest.param(
        lambda c: _set(c, "groups.retail.contact_fields.tier.choices", []),
        "groups.retail.contact_fields.tier.choices",
        id="choice-empty-choices",
    ),
    pytest.param(
        lambda c: _set(c, "groups.retail.contact_fields.city", {"type": "text", "choices": ["a"]}),
        "groups.retail.contact_fields.city.choices",
        id="choices-on-text",
    ),
    pytest.param(
        lambda c: _set(c, "groups.retail.contact_fields.city", "text"),
        "groups.retail.contact_fields.city",
        id="field-not-a-table",
    ),
    pytest.param(
        lambda c: _set(c, "groups.private.company_fields", {"name": {"type": "text"}}),
        "groups.private.company_fields",
        id="one-level-with-companies",
    ),
    pytest.param(
        lambda c: _drop(c, "groups.retail.company_fields.name"),
        "groups.retail.company_fields.name",
        id="company-without-name",
    ),
    pytest.param(
        lambda c: _set(c, "groups.bad name", {"model": "one-level"}), "groups.bad name", id="bad-group-name"
    ),
    pytest.param(
        lambda c: _set(c, "queues.helpdesk.groups", ["retail", "wholesale"]),
        "queues.helpdesk.groups",
        id="queue-unknown-group",
    ),
    pytest.param(
        lambda c: _set(c, "queues.helpdesk.owner", "x"), "queues.helpdesk.owner", id="unknown-queue-key"
    ),
    pytest.param(
        lambda c: _set(c, "roles.agent.fly", ["retail"]), "roles.agent.fly", id="role-unknown-permission"
    ),
    pytest.param(
        lambda c: _set(c, "roles.agent.write", ["wholesale"]), "roles.agent.write", id="role-unknown-group"
    ),
    pytest.param(lambda c: _set(c, "roles.agent.read", 5), "roles.agent.read", id="role-grant-not-a-list"),
    pytest.param(
        lambda c: _set(c, "users.alice", ["agent", "superhero"]), "users.alice", id="user-unknown-role"
    ),
    pytest.param(lambda c: _set(c, "users.admin", ["agent"]), "users.admin", id="admin-listed"),
    pytest.param(
        lambda c: _set(c, "activities.wholesale", ["export_vcard"]),
        "activities.wholesale",
        id="activities-unknown-group",
    ),
    pytest.param(
        lambda c: _set(c, "attachments", {"max_bytes": -1}), "attachments.max_bytes", id="negative-size"
    ),
    pytest.param(
        lambda c: _set(c, "attachments", {"virus_scan": True}),
        "attachments.virus_scan",
        id="unknown-attachment-key",
    ),
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
