"""R14-R16: creating tickets for a customer, additional customers, the ticket protocol."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from cmkit import (
    CustomerManager,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    ValidationError,
)


def entries(protocol: pd.DataFrame) -> list[tuple[Any, ...]]:
    """The protocol as (user, action, role, old name, new name) tuples, oldest first."""
    cols = ["user", "action", "role", "old_customer_name", "new_customer_name"]
    return [tuple(None if pd.isna(v) else v for v in row) for row in protocol[cols].itertuples(index=False)]


# -- R14 create a ticket for a customer ---------------------------------------------------------------------------


def test_r14_customer_becomes_main_customer(cm: CustomerManager, world) -> None:
    anna = world["anna"]
    t = cm.create_ticket(anna.id, "helpdesk", "  Printer jammed  ")
    assert t.main_customer_id == anna.id
    assert t.additional_customer_ids == ()
    assert (t.queue, t.state, t.subject) == ("helpdesk", "open", "Printer jammed")
    assert t.number.startswith("T")
    assert cm.ticket(t.id) == t
    mine = cm.tickets(anna.id)
    assert list(mine["id"]) == [t.id] and list(mine["role"]) == ["main"]
    assert list(mine["number"]) == [t.number]
    assert cm.tickets(world["bert"].id).empty


def test_r14_each_ticket_gets_its_own_number(cm: CustomerManager, world) -> None:
    numbers = {cm.create_ticket(world["anna"].id, "helpdesk", f"Issue {i}").number for i in range(3)}
    assert len(numbers) == 3


@pytest.mark.parametrize(
    ("who", "queue", "offered"),
    [
        ("anna", "partnerdesk", "billing, helpdesk"),
        ("priv", "billing", "helpdesk"),
        ("pete", "helpdesk", "partnerdesk"),
    ],
)
def test_r14_queue_must_be_assigned_to_the_group(
    cm: CustomerManager, world, refused, who: str, queue: str, offered: str
) -> None:
    err = refused(PreconditionFailed, cm.create_ticket, world[who].id, queue, "Wrong queue")
    assert len(err.problems) == 1
    assert err.problems[0].startswith("R14: ")
    assert f"'{queue}'" in err.problems[0]
    assert err.problems[0].endswith(f"choose one of its queues: {offered}")


@pytest.mark.parametrize(
    ("who", "queue"), [("anna", "billing"), ("priv", "helpdesk"), ("pete", "partnerdesk")]
)
def test_r14_assigned_queues_are_accepted(cm: CustomerManager, world, who: str, queue: str) -> None:
    assert cm.create_ticket(world[who].id, queue, "Right queue").queue == queue


def test_r14_unknown_queue_refused(cm: CustomerManager, world, refused) -> None:
    err = refused(ValidationError, cm.create_ticket, world["anna"].id, "nowhere", "Lost")
    assert err.field == "queue"
    assert "'nowhere'" in str(err) and "billing, helpdesk" in str(err)


def test_r14_deactivated_customer_refused(cm: CustomerManager, world, refused) -> None:
    cm.deactivate(world["carl"].id)
    err = refused(PreconditionFailed, cm.create_ticket, world["carl"].id, "helpdesk", "Too late")
    assert len(err.problems) == 1
    assert err.problems[0].startswith("R20: ")
    assert "deactivated" in err.problems[0] and "reactivate" in err.problems[0]


def test_r14_company_of_contacts_only_group_refused(cm: CustomerManager, world, refused) -> None:
    err = refused(PreconditionFailed, cm.create_ticket, world["acme"].id, "helpdesk", "For the company")
    assert len(err.problems) == 1
    assert err.problems[0].startswith("R14: ")
    assert "contacts only" in err.problems[0] and "tickets_for_companies" in err.problems[0]


def test_r14_company_allowed_where_group_takes_tickets_for_companies(cm: CustomerManager, world) -> None:
    t = cm.create_ticket(world["part"].id, "partnerdesk", "Contract")
    assert t.main_customer_id == world["part"].id
    assert list(cm.tickets(world["part"].id)["id"]) == [t.id]


@pytest.mark.parametrize(
    "subject",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param(None, id="none"),
        pytest.param(42, id="number"),
        pytest.param("two\nlines", id="newline"),
        pytest.param("nul\x00byte", id="nul"),
        pytest.param("broken \udcc3 text", id="lone-surrogate"),
        pytest.param("x" * 501, id="too-long"),
    ],
)
def test_r14_bad_subject_refused(cm: CustomerManager, world, refused, subject: Any) -> None:
    err = refused(ValidationError, cm.create_ticket, world["anna"].id, "helpdesk", subject)
    assert err.field == "subject"


def test_r14_subject_of_max_length_accepted(cm: CustomerManager, world) -> None:
    assert cm.create_ticket(world["anna"].id, "helpdesk", "x" * 500).subject == "x" * 500


def test_r14_missing_customer_refused(cm: CustomerManager, world, refused) -> None:
    refused(NotFound, cm.create_ticket, 999_999, "helpdesk", "Nobody")


def test_r14_creating_a_ticket_needs_write_permission(world, as_user, refused) -> None:
    err = refused(PermissionDenied, as_user("rita").create_ticket, world["anna"].id, "helpdesk", "Read only")
    assert str(err).startswith("R5: ")


# -- R15 main and additional customers ----------------------------------------------------------------------------


def test_r15_additional_customers_on_create_and_added_later(cm: CustomerManager, world) -> None:
    anna, bert, carl, pete = world["anna"], world["bert"], world["carl"], world["pete"]
    t = cm.create_ticket(anna.id, "helpdesk", "Shared", additional=[bert.id, pete])
    assert t.main_customer_id == anna.id
    assert set(t.additional_customer_ids) == {bert.id, pete.id}
    t2 = cm.add_customer(t.id, carl.id)
    assert set(t2.additional_customer_ids) == {bert.id, pete.id, carl.id}
    assert cm.ticket(t.id) == t2
    assert list(cm.tickets(carl.id)["role"]) == ["additional"]
    assert list(cm.tickets(pete.id)["id"]) == [t.id]
    links = cm.frame("ticket_customers")
    assert sorted(zip(links["customer_id"], links["role"], strict=True)) == sorted(
        [(anna.id, "main"), (bert.id, "additional"), (pete.id, "additional"), (carl.id, "additional")]
    )


def test_r15_deactivated_customer_cannot_be_additional(cm: CustomerManager, world, refused) -> None:
    cm.deactivate(world["carl"].id)
    err = refused(
        PreconditionFailed,
        cm.create_ticket,
        world["anna"].id,
        "helpdesk",
        "With Carl",
        additional=[world["bert"].id, world["carl"].id],
    )
    assert [p[:4] for p in err.problems] == ["R15:"]
    assert "reactivate" in err.problems[0]
    t = cm.create_ticket(world["anna"].id, "helpdesk", "Without Carl")
    err = refused(PreconditionFailed, cm.add_customer, t.id, world["carl"].id)
    assert err.problems[0].startswith("R15: ") and "deactivated" in err.problems[0]


def test_r15_customer_is_on_a_ticket_once(cm: CustomerManager, world, refused) -> None:
    anna, bert = world["anna"], world["bert"]
    t = cm.create_ticket(anna.id, "helpdesk", "Once", additional=[bert.id])
    err = refused(PreconditionFailed, cm.add_customer, t.id, bert.id)
    assert err.problems[0].startswith("R15: ") and "additional" in err.problems[0]
    err = refused(PreconditionFailed, cm.add_customer, t.id, anna.id)
    assert err.problems[0].startswith("R15: ") and "main" in err.problems[0]
    err = refused(
        PreconditionFailed, cm.create_ticket, anna.id, "helpdesk", "Twice", additional=[bert.id, bert.id]
    )
    assert "additional" in err.problems[0]
    err = refused(PreconditionFailed, cm.create_ticket, anna.id, "helpdesk", "Self", additional=[anna.id])
    assert "main" in err.problems[0]


def test_r15_remove_additional_customer(cm: CustomerManager, world) -> None:
    anna, bert = world["anna"], world["bert"]
    t = cm.create_ticket(anna.id, "helpdesk", "Shared", additional=[bert.id])
    assert cm.remove_customer(t.id, bert.id).additional_customer_ids == ()
    assert cm.tickets(bert.id).empty
    assert entries(cm.protocol(t.id))[-1] == ("admin", "customer_removed", "additional", "Bert Öztürk", None)


def test_r15_main_customer_cannot_be_removed(cm: CustomerManager, world, refused) -> None:
    t = cm.create_ticket(world["anna"].id, "helpdesk", "Mine")
    err = refused(PreconditionFailed, cm.remove_customer, t.id, world["anna"].id)
    assert err.problems[0].startswith("R15: ") and "transfer_tickets" in err.problems[0]
    err = refused(PreconditionFailed, cm.remove_customer, t.id, world["bert"].id)
    assert err.problems[0].startswith("R15: ") and "not a customer" in err.problems[0]


def test_r15_changing_customers_needs_write_permission(cm: CustomerManager, world, as_user, refused) -> None:
    t = cm.create_ticket(world["anna"].id, "helpdesk", "Guarded", additional=[world["bert"].id])
    rita = as_user("rita")
    refused(PermissionDenied, rita.add_customer, t.id, world["carl"].id)
    refused(PermissionDenied, rita.remove_customer, t.id, world["bert"].id)


def test_r15_missing_ticket_refused(cm: CustomerManager, world, refused) -> None:
    refused(NotFound, cm.add_customer, 999_999, world["anna"].id)


# -- R16 ticket protocol ------------------------------------------------------------------------------------------


def test_r16_protocol_of_create_add_and_transfer(cm: CustomerManager, world, as_user) -> None:
    anna, bert, carl = world["anna"], world["bert"], world["carl"]
    lena = as_user("lena")
    t = lena.create_ticket(bert.id, "helpdesk", "Logged", additional=[carl.id])
    cm.add_customer(t.id, world["pete"].id)
    lena.transfer_tickets(bert.id, anna.id)
    log = cm.protocol(t.id)
    assert entries(log) == [
        ("lena", "created", "main", None, "Bert Öztürk"),
        ("lena", "customer_added", "additional", None, "Carl Zander"),
        ("admin", "customer_added", "additional", None, "Pete Partner"),
        ("lena", "transferred", "main", "Bert Öztürk", "Anna Müller"),
    ]
    last = log.iloc[-1]
    assert (last["old_customer_id"], last["new_customer_id"]) == (bert.id, anna.id)
    assert log["at"].notna().all()
    assert log["at"].is_monotonic_increasing
    assert log["id"].is_unique


def test_r16_protocol_keeps_names_as_they_were(cm: CustomerManager, world) -> None:
    t = cm.create_ticket(world["anna"].id, "helpdesk", "Before the wedding")
    cm.edit(world["anna"].id, last_name="Schmidt")
    assert entries(cm.protocol(t.id)) == [("admin", "created", "main", None, "Anna Müller")]


def test_r16_protocol_survives_the_customers_deletion(cm: CustomerManager, world, as_user) -> None:
    anna, bert = world["anna"], world["bert"]
    lena = as_user("lena")
    t1 = cm.create_ticket(bert.id, "helpdesk", "Open one")
    t2 = cm.create_ticket(anna.id, "helpdesk", "Bert helps", additional=[bert.id])
    cm.close_ticket(t2.id)
    moved = lena.transfer_tickets(bert.id, anna.id, only_open=False)
    assert set(moved.changes["id"]) == {t1.id, t2.id}
    assert lena.delete(bert.id).applied
    with pytest.raises(NotFound):
        cm.customer(bert.id)
    log1, log2 = entries(cm.protocol(t1.id)), entries(cm.protocol(t2.id))
    assert log1[0] == ("admin", "created", "main", None, "Bert Öztürk")
    assert log1[-1] == ("lena", "transferred", "main", "Bert Öztürk", "Anna Müller")
    assert ("admin", "customer_added", "additional", None, "Bert Öztürk") in log2
    assert log2[-1] == ("lena", "transferred", "additional", "Bert Öztürk", "Anna Müller")
    assert cm.ticket(t1.id).main_customer_id == anna.id
    assert cm.ticket(t2.id).additional_customer_ids == ()  # anna already was main: no duplicate


def test_r16_refused_change_writes_no_protocol_entry(cm: CustomerManager, world) -> None:
    t = cm.create_ticket(world["anna"].id, "helpdesk", "Quiet")
    with pytest.raises(PreconditionFailed):
        cm.add_customer(t.id, world["anna"].id)
    assert len(cm.protocol(t.id)) == 1


def test_r16_protocol_of_missing_ticket_refused(cm: CustomerManager) -> None:
    with pytest.raises(NotFound):
        cm.protocol(999_999)


def test_r16_protocol_frame_has_nullable_ids_and_utc_times(cm: CustomerManager, world) -> None:
    """One style in every frame: optional ids as Int64 (3172 and <NA>, not 3172.0 and NaN), times as
    timezone-aware UTC, on both databases."""
    t = cm.create_ticket(world["anna"].id, "helpdesk", "Drucker druckt nicht")
    created = cm.protocol(t.id)
    assert str(created["old_customer_id"].dtype) == "Int64" and created["old_customer_id"].isna().all()
    cm.transfer_tickets(world["anna"].id, world["bert"].id)
    p = cm.protocol(t.id)
    assert str(p["old_customer_id"].dtype) == "Int64" and str(p["new_customer_id"].dtype) == "Int64"
    assert p["old_customer_id"].iloc[-1] == world["anna"].id and repr(p["old_customer_id"].iloc[-1]) != "nan"
    for frame, column in (
        (p, "at"),
        (cm.tickets(world["bert"].id), "created_at"),
        (cm.frame("tickets"), "closed_at"),
        (cm.history(customer_id=world["bert"].id), "at"),
    ):
        assert str(frame[column].dt.tz) == "UTC", column
    customers = cm.frame("customers")
    assert str(customers["company_id"].dtype) == "Int64" and customers["company_id"].isna().any()
