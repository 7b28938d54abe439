"""Hostile reads: a user who may read only the group `private` tries every read path with the ids of other
groups' tickets, customers, comments and attachments. Each is refused with a PermissionDenied that names
the rule and the group, or leaves the other groups' records out; nothing names a customer of another group.

On PostgreSQL row-level security hides the rows from such a login already (R32); these tests connect as
the owner acting as that user, so they check cmkit's own checks, which SQLite has alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from helpers import MakeTicket

import cmkit
from cmkit import CustomerManager, PermissionDenied

READER = "pia"
PRIVATE_ONLY = {
    "read": ["private"],
    "comments_read": ["private"],
    "attachments_read": ["private"],
}


@pytest.fixture
def pia(cm: CustomerManager, db_url: str) -> CustomerManager:
    """A user whose one role reads the group `private` (its data, comments and attachments) and no other."""
    data = cm.config.to_dict()
    data["roles"]["private_reader"] = PRIVATE_ONLY
    data["users"][READER] = ["private_reader"]
    cmkit.init(db_url, data)
    return cmkit.connect(db_url, user=READER)


@pytest.fixture
def tickets(cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket) -> dict[str, cmkit.Ticket]:
    """A retail ticket naming Petra Privat as additional customer, a partners ticket, and Petra's own
    ticket naming Anna (retail) as additional customer."""
    retail = make_ticket(world["anna"], world["priv"], subject="Drucker Acme")
    cm.transfer_tickets(world["anna"].id, world["bert"].id)  # a protocol entry naming two retail names
    partner = make_ticket(world["pete"], subject="Vertrag Partner")
    own = make_ticket(world["priv"], world["anna"], subject="Rechnung Petra")
    return {"retail": retail, "partner": partner, "own": own}


OTHERS = ("Acme", "Müller", "Öztürk", "Partner", "Drucker", "Vertrag")


def _names_nothing_of_others(value: Any) -> None:
    text = value.to_string() if hasattr(value, "to_string") else str(value)
    for word in OTHERS:
        assert word not in text, f"{word!r} of another group was shown: {text}"


TICKET_READS: dict[str, Callable[[CustomerManager, int], object]] = {
    "ticket": lambda u, t: u.ticket(t),
    "protocol": lambda u, t: u.protocol(t),
}


@pytest.mark.parametrize("read", TICKET_READS)
@pytest.mark.parametrize("which", ["retail", "partner"])
def test_hostile_reads_a_ticket_of_another_group_is_refused(
    pia: CustomerManager, tickets: dict[str, cmkit.Ticket], read: str, which: str
) -> None:
    ticket = tickets[which]
    with pytest.raises(PermissionDenied) as info:
        TICKET_READS[read](pia, ticket.id)
    message = str(info.value)
    assert "R5" in message and READER in message and ticket.number in message
    assert ("'retail'" if which == "retail" else "'partners'") in message
    _names_nothing_of_others(message.replace("'partners'", ""))


@pytest.mark.parametrize("read", TICKET_READS)
def test_hostile_reads_the_own_groups_ticket_is_allowed(
    pia: CustomerManager, tickets: dict[str, cmkit.Ticket], read: str
) -> None:
    assert TICKET_READS[read](pia, tickets["own"].id) is not None
    assert pia.ticket(tickets["own"].id).subject == "Rechnung Petra"
    assert set(pia.protocol(tickets["own"].id)["action"]) == {"created", "customer_added"}


def test_hostile_reads_looping_over_ticket_ids_harvests_nothing(
    pia: CustomerManager, tickets: dict[str, cmkit.Ticket]
) -> None:
    harvested = []
    for tid in range(1, max(t.id for t in tickets.values()) + 3):
        for read in TICKET_READS.values():
            try:
                harvested.append(read(pia, tid))
            except (PermissionDenied, cmkit.NotFound):
                pass
    assert len(harvested) == len(TICKET_READS)  # the own ticket only
    _names_nothing_of_others(pia.protocol(tickets["own"].id).drop(columns=["new_customer_name"]))


def test_hostile_reads_a_customers_tickets_leave_out_other_groups_tickets(
    pia: CustomerManager, world: dict[str, Any], tickets: dict[str, cmkit.Ticket]
) -> None:
    found = pia.tickets(world["priv"].id)  # Petra is additional customer of a retail ticket too
    assert list(found["number"]) == [tickets["own"].number]
    page = pia.render_page(world["priv"].id)
    assert isinstance(page, str) and "Rechnung Petra" in page
    _names_nothing_of_others(page)


def test_hostile_reads_searches_find_no_ticket_of_another_group(
    pia: CustomerManager, tickets: dict[str, cmkit.Ticket]
) -> None:
    for found in (
        pia.ticket_search(customer_name="Petra"),
        pia.ticket_search(subject="Drucker"),
        pia.ticket_search(),
        pia.quick_search("Petra").tickets,
        pia.quick_search(tickets["retail"].number).tickets,
    ):
        assert set(found["number"]) <= {tickets["own"].number}
        _names_nothing_of_others(found)


@pytest.mark.parametrize("what", ["tickets", "ticket_customers", "customers", "history", "comments"])
def test_hostile_reads_frames_hold_only_the_readable_group(
    cm: CustomerManager,
    pia: CustomerManager,
    world: dict[str, Any],
    tickets: dict[str, cmkit.Ticket],
    what: str,
) -> None:
    cm.add_comment(world["anna"].id, "Kommentar zu Acme")
    found = pia.frame(what)
    own = {tickets["own"].id}
    if what == "tickets":
        assert set(found["id"]) == own
    elif what == "ticket_customers":
        assert set(found["ticket_id"]) == own
        assert set(found["customer_id"]) == {world["priv"].id}
    elif what == "customers":
        assert set(found["id"]) == {world["priv"].id}
    else:
        assert set(found["customer_id"]) <= {world["priv"].id}
    _names_nothing_of_others(found)


def test_hostile_reads_comments_and_attachments_of_other_groups_are_refused(
    cm: CustomerManager, pia: CustomerManager, world: dict[str, Any]
) -> None:
    anna = world["anna"].id
    cm.add_comment(anna, "Kommentar zu Acme")
    (file_id,) = cm.add_attachments(anna, {"acme.txt": b"Acme intern"})
    for read in (
        lambda: pia.comments(anna),
        lambda: pia.attachments(anna),
        lambda: pia.attachment_data(file_id),
        lambda: pia.customer(anna),
        lambda: pia.history(customer_id=anna),
    ):
        with pytest.raises(PermissionDenied, match="'retail'"):
            read()


def test_hostile_reads_the_history_of_a_deleted_customer_needs_every_group(
    cm: CustomerManager, pia: CustomerManager, world: dict[str, Any]
) -> None:
    bert = world["bert"].id
    cm.delete(bert)
    assert len(cm.history(customer_id=bert)) >= 2  # the owner reads it
    with pytest.raises(PermissionDenied, match="R29.*every group"):
        pia.history(customer_id=bert)
