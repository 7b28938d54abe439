"""Configuration: validation names the dotted key at fault; init refuses changes that would strand data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cases import BAD_CONFIGS, BASE, base
from helpers import Snapshot

import cmkit
from cmkit import CMError, ConfigError, CustomerManager, PermissionDenied, ValidationError
from cmkit.domain.config import load_config


@pytest.mark.parametrize(("change", "key"), BAD_CONFIGS)
def test_config_refused_with_the_dotted_key(
    db_url: str, snapshot: Snapshot, change: Callable[..., Any], key: str
) -> None:
    before = snapshot()
    with pytest.raises(ConfigError) as info:
        cmkit.init(db_url, change(base()))
    assert info.value.field == key
    assert str(info.value).startswith(f"{key}: ")
    assert isinstance(info.value, ValidationError)
    assert snapshot() == before


def test_config_stored_in_the_database_is_the_one_given(cm: CustomerManager) -> None:
    assert cm.config == load_config(BASE)


def test_config_model_change_refused_while_group_has_customers(
    db_url: str, cm: CustomerManager, world, snapshot: Snapshot
) -> None:
    cfg = base()
    retail = cfg["groups"]["retail"]
    retail["model"] = "one-level"
    del retail["company_fields"], retail["tickets_for_companies"]
    before = snapshot()
    with pytest.raises(ConfigError) as info:
        cmkit.init(db_url, cfg)
    assert info.value.field == "groups.retail.model"
    assert "new group" in str(info.value)
    assert snapshot() == before
    assert cmkit.connect(db_url).config.groups["retail"].model == "two-level"
    assert cm.create_company("retail", name="Still two-level").kind == "company"


def test_config_model_change_allowed_while_group_is_empty(db_url: str) -> None:
    cfg = base()
    cfg["groups"]["private"] = {
        "model": "two-level",
        "company_fields": {"name": {"type": "text", "required": True}},
        "contact_fields": {"last_name": {"type": "text", "required": True}},
    }
    cmkit.init(db_url, cfg)
    cm = cmkit.connect(db_url)
    assert cm.config.groups["private"].two_level
    assert cm.create_company("private", name="Now possible").group == "private"


def test_config_group_with_customers_cannot_be_removed(db_url: str, world, snapshot: Snapshot) -> None:
    cfg = base()
    del cfg["groups"]["private"]
    cfg["queues"]["helpdesk"]["groups"] = ["retail"]
    before = snapshot()
    with pytest.raises(ConfigError) as info:
        cmkit.init(db_url, cfg)
    assert info.value.field == "groups.private"
    assert snapshot() == before


def test_config_queue_with_tickets_cannot_be_removed(
    db_url: str, cm: CustomerManager, world, snapshot: Snapshot
) -> None:
    cm.create_ticket(world["anna"].id, "billing", "Invoice")
    cfg = base()
    del cfg["queues"]["billing"]
    before = snapshot()
    with pytest.raises(ConfigError) as info:
        cmkit.init(db_url, cfg)
    assert info.value.field == "queues.billing"
    assert "1 ticket" in str(info.value)
    assert snapshot() == before
    assert "billing" in cmkit.connect(db_url).config.queues


def test_config_unused_queue_and_group_can_be_removed(db_url: str, world) -> None:
    cfg = base()
    del cfg["queues"]["billing"]
    cmkit.init(db_url, cfg)
    cm = cmkit.connect(db_url)
    assert "billing" not in cm.config.queues
    assert cm.config.queues_for("retail") == ["helpdesk"]
    assert cm.customer(world["anna"].id) == world["anna"]


def test_config_init_is_idempotent(db_url: str, cm: CustomerManager, world, snapshot: Snapshot) -> None:
    t = cm.create_ticket(world["anna"].id, "helpdesk", "Kept")
    customers, history = cm.frame("customers"), cm.history()
    cmkit.init(db_url, base())
    cmkit.init(db_url, base())
    cmkit.init(db_url)  # without a configuration: the stored one stays
    again = cmkit.connect(db_url)
    assert again.config == load_config(BASE)
    assert again.frame("customers").equals(customers)
    assert again.history().equals(history)
    assert again.ticket(t.id) == t
    assert cm.customer(world["anna"].id) == world["anna"]  # an open connection keeps working


def test_config_change_reaches_open_connections(db_url: str, world, as_user) -> None:
    alice = as_user("alice")
    assert alice.edit(world["anna"].id, tier="gold").version == 2
    cfg = base()
    cfg["roles"]["agent"]["write"] = []
    cfg["queues"]["express"] = {"groups": ["retail"]}
    cmkit.init(db_url, cfg)
    with pytest.raises(PermissionDenied):
        alice.edit(world["anna"].id, tier="silver")
    assert cmkit.connect(db_url).create_ticket(world["anna"].id, "express", "New queue").queue == "express"


def test_config_from_a_toml_file(db_url: str, tmp_path: Path) -> None:
    text = Path(__file__).with_name("config_test.toml").read_text(encoding="utf-8")
    path = tmp_path / "cmkit.toml"
    path.write_text(text + '\n[queues.vip]\ngroups = ["partners"]\n', encoding="utf-8")
    cmkit.init(db_url, path)
    assert cmkit.connect(db_url).config.queues_for("partners") == ["partnerdesk", "vip"]
    cmkit.init(db_url, str(path))
    assert "vip" in cmkit.connect(db_url).config.queues


def test_config_bad_toml_file_refused(db_url: str, tmp_path: Path, snapshot: Snapshot) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[groups.retail\nmodel = ", encoding="utf-8")
    before = snapshot()
    with pytest.raises(ConfigError) as info:
        cmkit.init(db_url, broken)
    assert info.value.field == str(broken) and "TOML" in str(info.value)
    with pytest.raises(ConfigError) as info:
        cmkit.init(db_url, tmp_path / "missing.toml")
    assert "not found" in str(info.value)
    assert snapshot() == before


def test_config_unknown_user_cannot_connect(db_url: str) -> None:
    with pytest.raises(PermissionDenied) as info:
        cmkit.connect(db_url, user="nobody")
    assert "'nobody'" in str(info.value) and "[users]" in str(info.value)
    for known in ("admin", "alice", "lena", "rita"):
        assert cmkit.connect(db_url, user=known).user == known


def test_config_missing_sqlite_database_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "cmkit.db"
    with pytest.raises(CMError) as info:
        cmkit.connect(f"sqlite:///{missing}")
    assert "cmkit.init" in str(info.value)
    assert not missing.exists() and not missing.parent.exists()


def test_config_field_names_reach_frames_and_searches_as_names(db_url: str) -> None:
    """Field names are letters (any script), digits, '_' and '-' (others are refused); whatever they are,
    the frame (SQLite's JSON path, PostgreSQL's ADBC path) and the detail search take them as names."""
    with pytest.raises(ConfigError, match="letters, digits"):
        cfg = base()
        cfg["groups"]["private"]["contact_fields"]["it's"] = {"type": "text"}
        cmkit.init(db_url, cfg)
    odd = ["Größe", "über-maß", "Ωmega_2", "x-1"]
    cfg = base()
    fields = cfg["groups"]["private"]["contact_fields"]
    fields.update({name: {"type": "text"} for name in odd})
    fields["flag-ä"] = {"type": "bool"}
    fields["n2"] = {"type": "number"}
    cmkit.init(db_url, cfg)
    cm = cmkit.connect(db_url)
    values = {name: f"value {i}" for i, name in enumerate(odd)}
    priv = cm.create_contact("private", last_name="Odd", **values, **{"flag-ä": True, "n2": 2.5})
    other = cm.create_contact("private", last_name="Plain")
    frame = cm.frame("customers", group="private").set_index("id")
    for name, value in values.items():
        assert frame.loc[priv.id, name] == value
        assert frame.loc[other.id, name] is None or frame.loc[other.id, name] != frame.loc[other.id, name]
    assert bool(frame.loc[priv.id, "flag-ä"]) is True and float(frame.loc[priv.id, "n2"]) == 2.5
    assert list(cm.detail_search(group="private", **{"über-maß": "value 1"})["id"]) == [priv.id]
