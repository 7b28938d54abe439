"""R18-R21: deactivating a customer (preconditions, companies take their contacts along, effects) and reactivating."""

from __future__ import annotations

from typing import Any

from helpers import MakeTicket, Snapshot

from cmkit import CustomerManager, PreconditionFailed


def active(cm: CustomerManager, *customers: Any) -> list[bool]:
    return [cm.customer(c.id).active for c in customers]


# -- R18 preconditions --------------------------------------------------------------------------------------------


def test_r18_deactivate_refused_with_open_ticket_as_main(
    cm: CustomerManager, world, make_ticket: MakeTicket, refused
) -> None:
    anna = world["anna"]
    t = make_ticket(anna)
    err = refused(PreconditionFailed, cm.deactivate, anna.id)
    assert len(err.problems) == 1 and err.problems[0].startswith("R18: ")
    assert t.number in err.problems[0] and "transfer_tickets" in err.problems[0]
    assert list(err.blocking["number"]) == [t.number]
    assert list(err.blocking["role"]) == ["main"] and list(err.blocking["customer_id"]) == [anna.id]
    assert active(cm, anna) == [True]


def test_r18_deactivate_refused_with_open_ticket_as_additional(
    cm: CustomerManager, world, make_ticket: MakeTicket, refused
) -> None:
    anna, carl = world["anna"], world["carl"]
    t = make_ticket(carl, anna)
    err = refused(PreconditionFailed, cm.deactivate, anna.id)
    assert err.problems[0].startswith("R18: ")
    assert list(err.blocking["number"]) == [t.number]
    assert list(err.blocking["role"]) == ["additional"]


def test_r18_company_refused_while_a_contact_is_on_an_open_ticket(
    cm: CustomerManager, world, make_ticket: MakeTicket, refused
) -> None:
    acme, anna, bert, carl = world["acme"], world["anna"], world["bert"], world["carl"]
    t1 = make_ticket(bert)
    t2 = make_ticket(carl, anna)
    make_ticket(carl)  # a ticket of another company's contact does not block
    err = refused(PreconditionFailed, cm.deactivate, acme.id)
    assert err.problems[0].startswith("R18: ") and "its contacts" in err.problems[0]
    assert sorted(err.blocking["number"]) == sorted([t1.number, t2.number])
    assert set(err.blocking["customer_id"]) == {anna.id, bert.id}
    assert active(cm, acme, anna, bert) == [True, True, True]


def test_r18_company_refused_with_its_own_open_ticket(
    cm: CustomerManager, world, make_ticket: MakeTicket, refused
) -> None:
    part, pete = world["part"], world["pete"]
    t = make_ticket(part)  # partners take tickets for companies
    err = refused(PreconditionFailed, cm.deactivate, part.id)
    assert list(err.blocking["number"]) == [t.number] and list(err.blocking["customer_id"]) == [part.id]
    assert active(cm, part, pete) == [True, True]


def test_r18_blocking_lists_every_open_ticket(
    cm: CustomerManager, world, make_ticket: MakeTicket, refused
) -> None:
    anna, carl = world["anna"], world["carl"]
    tickets = [make_ticket(anna) for _ in range(12)] + [make_ticket(carl, anna)]
    make_ticket(anna, closed=True)
    err = refused(PreconditionFailed, cm.deactivate, anna.id)
    assert sorted(err.blocking["number"]) == sorted(t.number for t in tickets)
    assert "13 open ticket(s)" in err.problems[0] and "and 3 more" in err.problems[0]


def test_r18_closed_tickets_do_not_block(cm: CustomerManager, world, make_ticket: MakeTicket) -> None:
    anna, carl = world["anna"], world["carl"]
    t = make_ticket(anna, closed=True)
    make_ticket(carl, anna, closed=True)
    out = cm.deactivate(anna.id)
    assert out.applied and out.problems == []
    assert list(out.changes["id"]) == [anna.id]
    assert active(cm, anna) == [False]
    assert cm.ticket(t.id).main_customer_id == anna.id  # the closed tickets keep their customer


def test_r18_dry_run_shows_problems_and_changes_nothing(
    cm: CustomerManager, world, make_ticket: MakeTicket, snapshot: Snapshot
) -> None:
    acme, bert = world["acme"], world["bert"]
    make_ticket(bert)
    before = snapshot()
    out = cm.deactivate(acme.id, dry_run=True)
    assert snapshot() == before
    assert out.applied is False and [p[:4] for p in out.problems] == ["R18:"]
    assert out.changes.empty


def test_r18_dry_run_when_allowed_lists_who_would_be_deactivated(
    cm: CustomerManager, world, snapshot: Snapshot
) -> None:
    acme, anna, bert = world["acme"], world["anna"], world["bert"]
    before = snapshot()
    out = cm.deactivate(acme.id, dry_run=True)
    assert snapshot() == before
    assert out.applied is False and out.problems == []
    assert sorted(out.changes["id"]) == sorted([acme.id, anna.id, bert.id])
    assert active(cm, acme, anna, bert) == [True, True, True]


def test_r18_already_deactivated_refused(cm: CustomerManager, world, refused) -> None:
    carl = world["carl"]
    cm.deactivate(carl.id)
    err = refused(PreconditionFailed, cm.deactivate, carl.id)
    assert err.problems[0].startswith("R18: ") and "already deactivated" in err.problems[0]


def test_r18_contact_deactivated_with_its_company_is_already_deactivated(
    cm: CustomerManager, world, refused
) -> None:
    cm.deactivate(world["acme"].id)
    err = refused(PreconditionFailed, cm.deactivate, world["anna"].id)
    assert "already deactivated" in err.problems[0]


# -- R19 a company takes its contacts along -----------------------------------------------------------------------


def test_r19_deactivating_a_company_deactivates_all_its_contacts(cm: CustomerManager, world) -> None:
    acme, anna, bert, carl, zeta = world["acme"], world["anna"], world["bert"], world["carl"], world["zeta"]
    start = len(cm.history())
    out = cm.deactivate(acme.id)
    assert sorted(out.changes["id"]) == sorted([acme.id, anna.id, bert.id])
    assert active(cm, acme, anna, bert) == [False, False, False]
    assert active(cm, zeta, carl, world["pete"], world["priv"]) == [True] * 4
    log = cm.history().iloc[start:]
    assert sorted(log["customer_id"]) == sorted([acme.id, anna.id, bert.id])  # one audit row each
    assert set(log["action"]) == {"deactivate"}
    assert cm.contacts(acme.id).empty
    assert sorted(cm.contacts(acme.id, include_deactivated=True)["id"]) == sorted([anna.id, bert.id])


def test_r19_contacts_deactivated_before_are_not_deactivated_again(cm: CustomerManager, world) -> None:
    acme, anna, bert = world["acme"], world["anna"], world["bert"]
    cm.deactivate(bert.id)
    version = cm.customer(bert.id).version
    start = len(cm.history())
    out = cm.deactivate(acme.id)
    assert sorted(out.changes["id"]) == sorted([acme.id, anna.id])
    assert sorted(cm.history().iloc[start:]["customer_id"]) == sorted([acme.id, anna.id])
    assert cm.customer(bert.id).version == version


def test_r19_deactivation_bumps_versions(cm: CustomerManager, world) -> None:
    acme, anna = world["acme"], world["anna"]
    cm.deactivate(acme.id)
    assert cm.customer(acme.id).version == acme.version + 1
    assert cm.customer(anna.id).version == anna.version + 1


# -- R20 effects --------------------------------------------------------------------------------------------------


def test_r20_no_ticket_can_be_created_for_a_deactivated_customer(cm: CustomerManager, world, refused) -> None:
    anna, carl = world["anna"], world["carl"]
    cm.deactivate(anna.id)
    err = refused(PreconditionFailed, cm.create_ticket, anna.id, "helpdesk", "New")
    assert err.problems[0].startswith("R20: ") and "reactivate" in err.problems[0]
    err = refused(PreconditionFailed, cm.create_ticket, carl.id, "helpdesk", "New", additional=[anna.id])
    assert err.problems[0].startswith("R15: ")


def test_r20_no_ticket_can_be_assigned_to_a_deactivated_customer(
    cm: CustomerManager, world, make_ticket: MakeTicket, refused
) -> None:
    anna, carl = world["anna"], world["carl"]
    t = make_ticket(carl)
    cm.deactivate(anna.id)
    err = refused(PreconditionFailed, cm.add_customer, t.id, anna.id)
    assert "deactivated" in err.problems[0] and "reactivate" in err.problems[0]
    assert cm.ticket(t.id).additional_customer_ids == ()


def test_r20_deactivated_contact_cannot_change_company(cm: CustomerManager, world, refused) -> None:
    anna, zeta = world["anna"], world["zeta"]
    cm.deactivate(anna.id)
    err = refused(PreconditionFailed, cm.change_company, anna.id, zeta.id)
    assert err.problems[0].startswith("R7: ") and "deactivated" in err.problems[0]
    assert cm.customer(anna.id).company_id == world["acme"].id


def test_r20_no_contact_can_move_into_a_deactivated_company(cm: CustomerManager, world, refused) -> None:
    zeta, anna = world["zeta"], world["anna"]
    cm.deactivate(zeta.id)
    err = refused(PreconditionFailed, cm.change_company, anna.id, zeta.id)
    assert err.problems[0].startswith("R7: ") and "reactivate" in err.problems[0]
    assert cm.customer(anna.id).company_id == world["acme"].id


def test_r20_no_contact_can_be_created_in_a_deactivated_company(cm: CustomerManager, world, refused) -> None:
    zeta = world["zeta"]
    cm.deactivate(zeta.id)
    err = refused(PreconditionFailed, cm.create_contact, "retail", company=zeta.id, last_name="Neu")
    assert err.problems[0].startswith("R20: ") and "reactivate" in err.problems[0]


def test_r20_closed_ticket_of_deactivated_customer_cannot_be_reopened(
    cm: CustomerManager, world, make_ticket: MakeTicket, refused
) -> None:
    anna, carl = world["anna"], world["carl"]
    as_main, as_additional = make_ticket(anna, closed=True), make_ticket(carl, anna, closed=True)
    cm.deactivate(anna.id)
    for t in (as_main, as_additional):
        err = refused(PreconditionFailed, cm.reopen_ticket, t.id)
        assert err.problems[0].startswith("R20: ") and t.number in err.problems[0]
        assert cm.ticket(t.id).state == "closed"
    cm.reactivate(anna.id)
    assert cm.reopen_ticket(as_main.id).state == "open"


def test_r20_deactivated_customer_can_still_be_edited(cm: CustomerManager, world) -> None:
    anna = world["anna"]
    cm.deactivate(anna.id)
    before = cm.customer(anna.id)
    after = cm.edit(anna.id, version=before.version, tier="gold", email="anna@new.example")
    assert after.active is False and after.version == before.version + 1
    assert after.fields["tier"] == "gold" and cm.customer(anna.id).fields["email"] == "anna@new.example"


def test_r20_closed_tickets_of_deactivated_customer_can_be_transferred(
    cm: CustomerManager, world, make_ticket: MakeTicket
) -> None:
    anna, bert = world["anna"], world["bert"]
    t = make_ticket(anna, closed=True)
    cm.deactivate(anna.id)
    assert cm.transfer_tickets(anna.id, bert.id, only_open=False).applied
    assert cm.ticket(t.id).main_customer_id == bert.id


def test_r20_deactivated_contact_can_be_deleted(cm: CustomerManager, world, make_ticket: MakeTicket) -> None:
    anna, bert = world["anna"], world["bert"]
    make_ticket(anna, closed=True)
    cm.deactivate(anna.id)
    cm.transfer_tickets(anna.id, bert.id, only_open=False)
    assert cm.delete(anna.id).applied
    assert anna.id not in set(cm.frame("customers")["id"])


def test_r20_tickets_of_a_deactivated_customer_remain_listed(
    cm: CustomerManager, world, make_ticket: MakeTicket
) -> None:
    anna = world["anna"]
    t = make_ticket(anna, closed=True)
    cm.deactivate(anna.id)
    assert list(cm.tickets(anna.id)["id"]) == [t.id]


# -- R21 reactivate -----------------------------------------------------------------------------------------------


def test_r21_reactivated_customer_is_active_and_can_get_tickets(cm: CustomerManager, world) -> None:
    anna = world["anna"]
    cm.deactivate(anna.id)
    out = cm.reactivate(anna.id)
    assert out.applied and list(out.changes["id"]) == [anna.id]
    assert active(cm, anna) == [True]
    assert cm.create_ticket(anna.id, "helpdesk", "Back").main_customer_id == anna.id
    assert list(cm.history(customer_id=anna.id)["action"])[-3:] == [
        "deactivate",
        "reactivate",
        "create_ticket",
    ]


def test_r21_tickets_transferred_away_stay_away(cm: CustomerManager, world, make_ticket: MakeTicket) -> None:
    anna, bert, carl = world["anna"], world["bert"], world["carl"]
    moved_main, moved_additional = make_ticket(anna), make_ticket(carl, anna)
    kept = make_ticket(anna, closed=True)
    cm.transfer_tickets(anna.id, bert.id)
    cm.deactivate(anna.id)
    cm.reactivate(anna.id)
    assert list(cm.tickets(anna.id)["id"]) == [kept.id]
    assert cm.ticket(moved_main.id).main_customer_id == bert.id
    assert cm.ticket(moved_additional.id).additional_customer_ids == (bert.id,)


def test_r21_reactivated_company_leaves_its_contacts_deactivated(cm: CustomerManager, world) -> None:
    acme, anna, bert = world["acme"], world["anna"], world["bert"]
    cm.deactivate(acme.id)
    out = cm.reactivate(acme.id)
    assert out.applied and list(out.changes["id"]) == [acme.id]
    assert sorted(out.changes.attrs["contacts_still_deactivated"]) == sorted([anna.id, bert.id])
    assert active(cm, acme, anna, bert) == [True, False, False]
    cm.reactivate(bert.id)  # each contact on its own
    assert active(cm, anna, bert) == [False, True]
    assert list(cm.contacts(acme.id)["id"]) == [bert.id]


def test_r21_contact_of_deactivated_company_refused_until_company_reactivated(
    cm: CustomerManager, world, refused
) -> None:
    acme, anna = world["acme"], world["anna"]
    cm.deactivate(acme.id)
    err = refused(PreconditionFailed, cm.reactivate, anna.id)
    assert err.problems[0].startswith("R21: ") and "reactivate the company first" in err.problems[0]
    cm.reactivate(acme.id)
    assert cm.reactivate(anna.id).applied
    assert active(cm, acme, anna) == [True, True]


def test_r21_reactivating_an_active_customer_refused(cm: CustomerManager, world, refused) -> None:
    for who in ("anna", "acme", "priv"):
        err = refused(PreconditionFailed, cm.reactivate, world[who].id)
        assert err.problems[0].startswith("R21: ") and "is active" in err.problems[0]


def test_r21_dry_run_changes_nothing(cm: CustomerManager, world, snapshot: Snapshot) -> None:
    acme, anna = world["acme"], world["anna"]
    cm.deactivate(acme.id)
    before = snapshot()
    out = cm.reactivate(acme.id, dry_run=True)
    assert snapshot() == before
    assert out.applied is False and out.problems == [] and list(out.changes["id"]) == [acme.id]
    refused_run = cm.reactivate(anna.id, dry_run=True)
    assert snapshot() == before
    assert [p[:4] for p in refused_run.problems] == ["R21:"] and refused_run.changes.empty
    assert active(cm, acme) == [False]
