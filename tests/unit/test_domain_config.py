"""cmkit.domain.config: the configuration is parsed and validated before anything is stored; every refusal
is a ConfigError naming the dotted key at fault. Roles grant permissions per group (R25)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cases import BAD_CONFIGS, BASE, CONFIG, base

from cmkit import ConfigError, ValidationError
from cmkit.domain.config import PERMISSIONS, AttachmentPolicy, Config, load_config, parse_config


def test_config_base_is_valid_and_round_trips() -> None:
    cfg = load_config(BASE)
    assert set(cfg.groups) == {"retail", "partners", "private"}
    assert cfg.queues_for("retail") == ["billing", "helpdesk"]
    assert load_config(cfg.to_dict()) == cfg
    assert load_config(BASE) == load_config(CONFIG) == load_config(str(CONFIG))


@pytest.mark.parametrize(("change", "key"), BAD_CONFIGS)
def test_config_refused_with_the_dotted_key(change: Callable[..., Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(change(base()))
    assert info.value.field == key
    assert str(info.value).startswith(f"{key}: ")
    assert isinstance(info.value, ValidationError)


def test_config_files_that_are_missing_or_not_toml_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found") as info:
        load_config(tmp_path / "nowhere.toml")
    assert info.value.field == str(tmp_path / "nowhere.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[groups.retail\nmodel = ", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_config(bad)
    assert info.value.field == str(bad)


def test_config_nothing_given_is_the_empty_configuration() -> None:
    assert load_config(None) == Config()
    empty = parse_config({})
    assert empty.groups == {} and empty.queues_for("retail") == [] and empty.activities == {}
    assert empty.users == {"admin": ()}  # admin is always there
    assert empty.allowed("admin", "delete", "retail") and not empty.allowed("alice", "read", "retail")


def test_config_groups_models_and_fields(config: Config) -> None:
    retail, partners, private = (config.group(g) for g in ("retail", "partners", "private"))
    assert retail.two_level and not retail.tickets_for_companies
    assert partners.two_level and partners.tickets_for_companies
    assert not private.two_level and dict(private.company_fields) == {}
    assert list(retail.fields_for("company")) == ["name", "city", "street", "phone"]
    last_name = retail.fields_for("contact")["last_name"]
    assert (last_name.type, last_name.required, last_name.max_length) == ("text", True, 100)
    assert retail.fields_for("contact")["tier"].choices == ("gold", "silver")
    assert config.queues_for("partners") == ["partnerdesk"] and config.queues_for("private") == ["helpdesk"]
    assert "company_fields" not in config.to_dict()["groups"]["private"]


def test_config_attachments_default_and_normalised() -> None:
    assert parse_config({}).attachments == AttachmentPolicy()
    policy = parse_config(
        {"attachments": {"allowed_types": [".PDF", "Png"], "searchable": False}}
    ).attachments
    assert policy == AttachmentPolicy(allowed_types=("pdf", "png"), max_bytes=10_000_000, searchable=False)


def test_config_lists_of_names_drop_repeats_and_take_one_name() -> None:
    cfg = base()
    cfg["users"]["alice"] = ["agent", "agent", "reader"]
    cfg["queues"]["billing"]["groups"] = "retail"
    parsed = parse_config(cfg)
    assert parsed.users["alice"] == ("agent", "reader")
    assert parsed.queues["billing"] == ("retail",)


@pytest.mark.parametrize(
    ("user", "permission", "group", "allowed"),
    [
        ("admin", "delete", "partners", True),  # admin holds every permission
        ("alice", "read", "partners", True),  # read = ["*"]
        ("alice", "write", "retail", True),
        ("alice", "write", "partners", False),
        ("alice", "delete", "retail", False),
        ("rita", "read", "retail", True),
        ("rita", "read", "private", False),
        ("lena", "transfer", "retail", True),
        ("lena", "transfer", "private", False),
        ("nobody", "read", "retail", False),  # an unknown user holds nothing
    ],
)
def test_r25_permissions_come_from_the_roles_per_group(
    config: Config, user: str, permission: str, group: str, allowed: bool
) -> None:
    assert config.allowed(user, permission, group) is allowed


def test_r25_every_permission_is_known_to_roles(config: Config) -> None:
    assert set(config.roles["agent"]) == set(PERMISSIONS)
    assert config.roles["reader"]["delete"] == frozenset()
