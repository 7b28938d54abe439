"""R29 the audit log; R30 no silent damage: a refusal changes nothing and says which rule and what would help."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from helpers import Snapshot

import cmkit
from cmkit import (
    CMError,
    CustomerManager,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    StaleVersion,
    ValidationError,
)
from cmkit.db import uow


def rows(history: pd.DataFrame) -> list[tuple[Any, ...]]:
    """The log as (user, action, customer_id, before, after) tuples, oldest first."""
    cols = ["user", "action", "customer_id", "before", "after"]
    return [
        tuple(None if v is None or v is pd.NA else v for v in r)
        for r in history[cols].itertuples(index=False)
    ]


# -- R29 audit ----------------------------------------------------------------------------------------------------


def test_r29_create_records_the_new_values(cm: CustomerManager, world) -> None:
    anna = world["anna"]
    log = rows(cm.history(customer_id=anna.id))
    assert log == [
        (
            "admin",
            "create",
            anna.id,
            None,
            {
                "kind": "contact",
                "group": "retail",
                "company_id": world["acme"].id,
                "name": "Anna Müller",
                "fields": {"first_name": "Anna", "last_name": "Müller", "email": "anna@acme.example"},
            },
        )
    ]


def test_r29_edit_records_before_and_after_of_the_changed_fields(cm: CustomerManager, world) -> None:
    anna = world["anna"]
    cm.edit(anna.id, email="anna.mueller@acme.example", tier="gold")
    cm.edit(anna.id, email=None)
    log = rows(cm.history(customer_id=anna.id))
    assert log[1:] == [
        (
            "admin",
            "edit",
            anna.id,
            {"email": "anna@acme.example", "tier": None},
            {"email": "anna.mueller@acme.example", "tier": "gold"},
        ),
        ("admin", "edit", anna.id, {"email": "anna.mueller@acme.example"}, {"email": None}),
    ]


def test_r29_change_company_records_old_and_new_company(cm: CustomerManager, world) -> None:
    cm.change_company(world["anna"].id, world["zeta"].id)
    assert rows(cm.history(customer_id=world["anna"].id))[-1] == (
        "admin",
        "change_company",
        world["anna"].id,
        {"company_id": world["acme"].id},
        {"company_id": world["zeta"].id},
    )


def test_r29_deactivate_records_one_row_per_customer(cm: CustomerManager, world) -> None:
    acme, anna, bert = world["acme"], world["anna"], world["bert"]
    start = len(cm.history())
    cm.deactivate(acme.id)
    log = cm.history().iloc[start:]
    assert sorted(log["customer_id"]) == sorted([acme.id, anna.id, bert.id])
    assert set(log["action"]) == {"deactivate"}
    assert all(b == {"active": True} for b in log["before"])
    assert all(a == {"active": False} for a in log["after"])
    assert rows(cm.history(customer_id=bert.id))[-1] == (
        "admin",
        "deactivate",
        bert.id,
        {"active": True},
        {"active": False},
    )


def test_r29_a_bulk_change_is_recorded_as_single_changes_are(db_url: str, cm: CustomerManager) -> None:
    """A deactivation of more customers than uow.BULK_AUDIT_ROWS goes by the driver (SQLite: one
    INSERT ... SELECT; PostgreSQL: COPY): its entries read back, filter by time and chain (R33) as an entry
    written one by one does."""
    firm = cm.create_company("retail", name="Viele GmbH")
    staff = [
        cm.create_contact("retail", company=firm.id, first_name="Kim", last_name=f"Nr{i}")
        for i in range(uow.BULK_AUDIT_ROWS)
    ]
    cut = dt.datetime.now(dt.UTC)
    cm.deactivate(firm.id)
    bulk = cm.history(since=cut)
    assert list(bulk["customer_id"]) == [firm.id, *(c.id for c in staff)]
    assert set(bulk["action"]) == {"deactivate"}
    assert all(b == {"active": True} for b in bulk["before"])
    assert all(a == {"active": False} for a in bulk["after"])
    single = cm.history(customer_id=staff[0].id)
    assert single.iloc[-1]["at"] == bulk.iloc[0]["at"]
    assert (bulk["at"] > cut).all() and cm.history(
        since=bulk["at"].max() + dt.timedelta(microseconds=1)
    ).empty
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:  # stored as the ORM stores a time (SQLite: text without a zone)
        stored = conn.execute(sa.text("SELECT at FROM audit_log ORDER BY id")).scalars().all()
    engine.dispose()
    assert len({type(v) for v in stored}) == 1
    if isinstance(stored[0], str):
        assert {len(v) for v in stored} == {len("2026-11-29 09:00:00.000000")}
    assert cm.verify_audit().ok


def test_r29_the_acting_user_is_recorded(cm: CustomerManager, world, as_user) -> None:
    lena = as_user("lena")
    lena.edit(world["pete"].id, first_name="Peter")
    lena.create_ticket(world["anna"].id, "helpdesk", "By Lena")
    mine = cm.history(user="lena")
    assert list(mine["action"]) == ["edit", "create_ticket"]
    assert set(mine["user"]) == {"lena"}
    assert "lena" not in set(cm.history(user="admin")["user"])
    assert cm.history(user="nobody").empty


def test_r29_history_filters_by_customer(cm: CustomerManager, world) -> None:
    cm.edit(world["bert"].id, tier="silver")
    t = cm.create_ticket(world["anna"].id, "helpdesk", "Anna's")
    bert = cm.history(customer_id=world["bert"].id)
    assert set(bert["customer_id"]) == {world["bert"].id}
    assert list(bert["action"]) == ["create", "edit"]
    anna = cm.history(customer_id=world["anna"])  # a Customer value works as well as its id
    assert list(anna["action"]) == ["create", "create_ticket"]
    assert anna.iloc[-1]["entity"] == "ticket" and anna.iloc[-1]["entity_id"] == t.id
    assert cm.history(customer_id=999_999).empty


def test_r29_history_filters_by_time(cm: CustomerManager, world) -> None:
    time.sleep(0.01)
    cut = dt.datetime.now(dt.UTC)
    time.sleep(0.01)
    cm.edit(world["anna"].id, tier="gold")
    cm.edit(world["bert"].id, tier="silver")
    later = cm.history(since=cut)
    assert list(later["action"]) == ["edit", "edit"]
    assert list(later["customer_id"]) == [world["anna"].id, world["bert"].id]
    # the same instant written in another time zone, as an ISO string, or without a zone (taken as UTC)
    elsewhere = cut.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert list(cm.history(since=elsewhere)["id"]) == list(later["id"])
    assert list(cm.history(since=cut.isoformat())["id"]) == list(later["id"])
    assert list(cm.history(since=cut.replace(tzinfo=None))["id"]) == list(later["id"])
    assert len(cm.history(since=cut - dt.timedelta(days=1))) == len(cm.history())
    assert cm.history(since=cut + dt.timedelta(days=1)).empty


def test_r29_history_times_are_utc_on_every_database(cm: CustomerManager, world) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    log = cm.history()
    at = log.loc[log["entity"] == "customer", "at"]  # the world's creations, made just now
    assert len(at) == len(world)
    assert str(at.dt.tz) == "UTC"
    assert (at >= before).all() and (at <= dt.datetime.now(dt.UTC)).all()


def test_r29_bad_since_refused(cm: CustomerManager) -> None:
    with pytest.raises(ValidationError) as info:
        cm.history(since="last tuesday")
    assert info.value.field == "since"


def test_r29_history_is_a_table_overall_and_in_frame(cm: CustomerManager, world) -> None:
    log = cm.history()
    assert {"id", "at", "user", "action", "entity", "entity_id", "customer_id", "before", "after"} <= set(
        log.columns
    )
    creates = log[log["entity"] == "customer"]
    assert len(creates) == len(world)  # one create each
    assert set(creates["action"]) == {"create"}
    assert log["id"].is_monotonic_increasing
    assert list(cm.frame("history")["id"]) == list(log["id"])


def test_r29_deleted_customer_history_stays_readable(cm: CustomerManager, world) -> None:
    carl = world["carl"]
    cm.delete(carl.id)
    log = rows(cm.history(customer_id=carl.id))
    assert [r[1] for r in log] == ["create", "delete"]
    # readable: who did what when; the deleted contact's values are scrubbed (R24)
    assert log[-1][3]["name"] == "removed" and log[-1][3]["kind"] == "contact" and log[-1][4] is None


def test_r29_reading_a_customers_history_needs_read_permission(world, as_user) -> None:
    rita = as_user("rita")  # reads retail only
    assert not rita.history(customer_id=world["anna"].id).empty
    with pytest.raises(PermissionDenied):
        rita.history(customer_id=world["pete"].id)


# -- R30 no silent damage -----------------------------------------------------------------------------------------

RULE_OR_FIELD = re.compile(r"^(R\d+|[a-z_]+): ")

# Every kind of refusal: (error type, call, words that say what would make it possible).
REFUSALS: dict[str, tuple[type[CMError], Callable[[CustomerManager, dict[str, Any], Any], Any], str]] = {
    "permission-edit": (
        PermissionDenied,
        lambda cm, w, u: u("rita").edit(w["anna"].id, tier="gold"),
        "grant",
    ),
    "permission-transfer": (
        PermissionDenied,
        lambda cm, w, u: u("alice").transfer_tickets(w["anna"].id, w["bert"].id),
        "grant",
    ),
    "validation-email": (
        ValidationError,
        lambda cm, w, u: cm.edit(w["anna"].id, email="anna"),
        "name@example.org",
    ),
    "validation-required": (
        ValidationError,
        lambda cm, w, u: cm.edit(w["anna"].id, last_name=""),
        "give it a value",
    ),
    "validation-unknown-field": (
        ValidationError,
        lambda cm, w, u: cm.edit(w["anna"].id, hobby="x"),
        "fields:",
    ),
    "validation-control": (
        ValidationError,
        lambda cm, w, u: cm.edit(w["anna"].id, first_name="A\x00"),
        "remove it",
    ),
    "validation-length": (
        ValidationError,
        lambda cm, w, u: cm.edit(w["anna"].id, last_name="x" * 101),
        "at most 100",
    ),
    "validation-choice": (
        ValidationError,
        lambda cm, w, u: cm.edit(w["anna"].id, tier="platinum"),
        "gold, silver",
    ),
    "validation-group": (
        ValidationError,
        lambda cm, w, u: cm.create_company("private", name="X"),
        "create_contact",
    ),
    "validation-queue": (
        ValidationError,
        lambda cm, w, u: cm.create_ticket(w["anna"].id, "nowhere", "X"),
        "billing, helpdesk",
    ),
    "precondition-queue": (
        PreconditionFailed,
        lambda cm, w, u: cm.create_ticket(w["anna"].id, "partnerdesk", "X"),
        "choose one of",
    ),
    "precondition-company-ticket": (
        PreconditionFailed,
        lambda cm, w, u: cm.create_ticket(w["acme"].id, "helpdesk", "X"),
        "choose one of its contacts",
    ),
    "precondition-other-group": (
        PreconditionFailed,
        lambda cm, w, u: cm.change_company(w["anna"].id, w["part"].id),
        "of its own group",
    ),
    "precondition-deactivated-company": (
        PreconditionFailed,
        lambda cm, w, u: cm.change_company(w["anna"].id, w["gone"].id),
        "reactivate",
    ),
    "precondition-deactivate-open-ticket": (
        PreconditionFailed,
        lambda cm, w, u: cm.deactivate(w["acme"].id),
        "transfer_tickets",
    ),
    "precondition-duplicate-customer": (
        PreconditionFailed,
        lambda cm, w, u: cm.add_customer(w["ticket"].id, w["anna"].id),
        "nothing to add",
    ),
    "stale": (StaleVersion, lambda cm, w, u: cm.edit(w["anna"].id, version=1, tier="gold"), "reload"),
    "not-found": (NotFound, lambda cm, w, u: cm.edit(999_999, tier="gold"), "search for it"),
}


@pytest.fixture
def busy_world(cm: CustomerManager, world) -> dict[str, Any]:
    """The world with an open ticket for Anna, a newer version of Anna, and a deactivated company."""
    w: dict[str, Any] = dict(world)
    w["ticket"] = cm.create_ticket(world["anna"].id, "helpdesk", "Open")
    w["anna"] = cm.edit(world["anna"].id, first_name="Anne")
    w["gone"] = cm.create_company("retail", name="Gone GmbH")
    cm.deactivate(w["gone"].id)
    return w


@pytest.mark.parametrize("case", list(REFUSALS))
def test_r30_refusal_changes_nothing_and_says_why(
    cm: CustomerManager, busy_world, as_user, snapshot: Snapshot, case: str
) -> None:
    error, call, hint = REFUSALS[case]
    before = snapshot()
    with pytest.raises(error) as info:
        call(cm, busy_world, as_user)
    assert snapshot() == before
    message = str(info.value)
    if isinstance(info.value, PreconditionFailed):
        assert info.value.problems
        assert all(RULE_OR_FIELD.match(p) for p in info.value.problems), info.value.problems
    elif not isinstance(info.value, NotFound):
        assert RULE_OR_FIELD.match(message), message
    if isinstance(info.value, ValidationError):
        assert message.startswith(f"{info.value.field}: ")
    assert hint in message, message


def test_r30_failure_while_writing_rolls_everything_back(
    cm: CustomerManager, world, snapshot: Snapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edit is one transaction: when something fails after the row was updated, the update is undone."""

    def broken_audit(self: uow.UnitOfWork, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    before = snapshot()
    monkeypatch.setattr(uow.UnitOfWork, "audit", broken_audit)
    with pytest.raises(RuntimeError):
        cm.edit(world["anna"].id, tier="gold")
    with pytest.raises(RuntimeError):
        cm.create_ticket(world["anna"].id, "helpdesk", "Half")
    with pytest.raises(RuntimeError):
        cm.change_company(world["anna"].id, world["zeta"].id)
    monkeypatch.undo()
    assert snapshot() == before
    assert cm.customer(world["anna"].id) == world["anna"]


def test_r30_refusal_leaves_the_connection_usable(cm: CustomerManager, world) -> None:
    with pytest.raises(ValidationError):
        cm.edit(world["anna"].id, email="broken")
    assert cm.edit(world["anna"].id, email="fixed@acme.example").version == 2


def test_r30_refused_connection_names_what_to_do(db_url: str) -> None:
    with pytest.raises(PermissionDenied) as info:
        cmkit.connect(db_url, user="mallory")
    assert "'mallory'" in str(info.value) and "[users]" in str(info.value)


def test_r29_overall_history_shows_a_restricted_user_only_readable_groups(cm, world, as_user) -> None:
    """rita may read retail only: the overall log shows her retail customers' entries and nothing else."""
    cm.edit(world["part"].id, name="Partner SE & Co")
    cm.edit(world["acme"].id, city="Bonn")
    rita = as_user("rita")
    seen = rita.history()
    assert world["acme"].id in set(seen["customer_id"])
    assert world["part"].id not in set(seen["customer_id"])
    assert world["priv"].id not in set(seen["customer_id"])
    assert set(cm.history()["customer_id"].dropna()) >= {world["part"].id, world["priv"].id}


def test_r29_configuration_change_is_audited(db_url: str, cm: CustomerManager) -> None:
    import tomllib
    from pathlib import Path

    import cmkit

    config = tomllib.loads(Path(__file__).with_name("config_test.toml").read_text())
    config["queues"]["returns"] = {"groups": ["retail"]}
    cmkit.init(db_url, config)
    entry = cm.history().iloc[-1]
    assert entry["action"] == "configure" and entry["entity"] == "configuration"
    assert "returns" not in entry["before"]["queues"] and "returns" in entry["after"]["queues"]
    n = len(cm.history())
    cmkit.init(db_url, config)  # the same configuration again changes nothing and logs nothing
    assert len(cm.history()) == n
