"""R17: transferring a customer's tickets to another customer (open ones, or open and closed ones)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import sqlalchemy as sa
from helpers import MakeTicket, Snapshot

from cmkit import CustomerManager, NotFound, PreconditionFailed, Ticket
from cmkit.db.engine import engine_for
from cmkit.db.schema import AdditionalCustomer, ProtocolEntry, Queue, TicketRow


def customers_of(cm: CustomerManager, t: Ticket) -> tuple[int, tuple[int, ...]]:
    """(main customer id, additional customer ids) of the ticket as stored now."""
    now = cm.ticket(t.id)
    return now.main_customer_id, now.additional_customer_ids


def transfers(cm: CustomerManager, t: Ticket) -> list[tuple[Any, ...]]:
    """The ticket's transfer protocol entries as (user, role, old id, old name, new id, new name)."""
    p = cm.protocol(t.id)
    p = p[p["action"] == "transferred"]
    cols = ["user", "role", "old_customer_id", "old_customer_name", "new_customer_id", "new_customer_name"]
    return [tuple(r) for r in p[cols].itertuples(index=False)]


def assert_no_duplicate_links(cm: CustomerManager) -> None:
    links = cm.frame("ticket_customers")
    assert not links.duplicated(["ticket_id", "customer_id"]).any(), links[
        links.duplicated(["ticket_id", "customer_id"])
    ]
    assert (links.groupby("ticket_id")["role"].apply(lambda r: (r == "main").sum()) == 1).all()


# -- which tickets ------------------------------------------------------------------------------------------------


def test_r17_only_open_moves_open_tickets_only(cm: CustomerManager, world, make_ticket: MakeTicket) -> None:
    anna, bert = world["anna"], world["bert"]
    open_t = make_ticket(anna)
    closed_t = make_ticket(anna, closed=True)
    out = cm.transfer_tickets(anna.id, bert.id)  # only_open=True is the default
    assert out.applied and out.problems == []
    assert list(out.changes["id"]) == [open_t.id]
    assert customers_of(cm, open_t) == (bert.id, ())
    assert customers_of(cm, closed_t) == (anna.id, ())
    assert list(cm.tickets(anna.id)["id"]) == [closed_t.id]
    assert cm.ticket(closed_t.id).state == "closed" and cm.ticket(open_t.id).state == "open"


def test_r17_open_and_closed_moves_every_ticket(cm: CustomerManager, world, make_ticket: MakeTicket) -> None:
    anna, bert = world["anna"], world["bert"]
    open_t, closed_t = make_ticket(anna), make_ticket(anna, closed=True)
    out = cm.transfer_tickets(anna.id, bert.id, only_open=False)
    assert out.applied
    assert sorted(out.changes["id"]) == sorted([open_t.id, closed_t.id])
    assert customers_of(cm, open_t) == customers_of(cm, closed_t) == (bert.id, ())
    assert cm.tickets(anna.id).empty
    assert cm.ticket(closed_t.id).state == "closed"  # a transfer does not change the state


def test_r17_source_replaced_as_main_and_as_additional(
    cm: CustomerManager, world, make_ticket: MakeTicket
) -> None:
    anna, bert, carl = world["anna"], world["bert"], world["carl"]
    as_main = make_ticket(anna)
    as_additional = make_ticket(carl, anna)
    untouched = make_ticket(carl)
    out = cm.transfer_tickets(anna.id, bert.id)
    assert dict(zip(out.changes["id"], out.changes["role"], strict=True)) == {
        as_main.id: "main",
        as_additional.id: "additional",
    }
    assert customers_of(cm, as_main) == (bert.id, ())
    assert customers_of(cm, as_additional) == (carl.id, (bert.id,))
    assert customers_of(cm, untouched) == (carl.id, ())
    mine = cm.tickets(bert.id)
    assert dict(zip(mine["id"], mine["role"], strict=True)) == {
        as_main.id: "main",
        as_additional.id: "additional",
    }
    assert cm.tickets(anna.id).empty


def test_r17_target_already_additional_where_source_is_main(
    cm: CustomerManager, world, make_ticket: MakeTicket
) -> None:
    anna, bert, carl = world["anna"], world["bert"], world["carl"]
    t = make_ticket(anna, bert, carl)
    out = cm.transfer_tickets(anna.id, bert.id)
    assert customers_of(cm, t) == (bert.id, (carl.id,))  # bert is main now, and not additional as well
    assert list(out.changes["target_already_on_ticket"]) == [True]
    assert_no_duplicate_links(cm)


def test_r17_target_already_main_where_source_is_additional(
    cm: CustomerManager, world, make_ticket: MakeTicket
) -> None:
    anna, bert, carl = world["anna"], world["bert"], world["carl"]
    t = make_ticket(bert, anna, carl)
    cm.transfer_tickets(anna.id, bert.id)
    assert customers_of(cm, t) == (bert.id, (carl.id,))  # anna is gone, bert not added a second time
    assert_no_duplicate_links(cm)


def test_r17_target_already_additional_where_source_is_additional(
    cm: CustomerManager, world, make_ticket: MakeTicket
) -> None:
    anna, bert, carl = world["anna"], world["bert"], world["carl"]
    t = make_ticket(carl, anna, bert)
    cm.transfer_tickets(anna.id, bert.id)
    assert customers_of(cm, t) == (carl.id, (bert.id,))
    assert_no_duplicate_links(cm)


def test_r17_target_on_other_tickets_does_not_count_as_already_on_this_one(
    cm: CustomerManager, world, make_ticket: MakeTicket
) -> None:
    """Where the target is a customer of *other* tickets, the source is still replaced, not just dropped."""
    anna, bert, carl = world["anna"], world["bert"], world["carl"]
    make_ticket(carl, bert)  # bert additional elsewhere
    make_ticket(bert)  # bert main elsewhere
    as_additional, as_main = make_ticket(carl, anna), make_ticket(anna, carl)
    plan = cm.transfer_tickets(anna.id, bert.id, dry_run=True).changes
    assert list(plan["target_already_on_ticket"]) == [False, False]
    cm.transfer_tickets(anna.id, bert.id)
    assert customers_of(cm, as_additional) == (carl.id, (bert.id,))
    assert customers_of(cm, as_main) == (bert.id, (carl.id,))


def test_r17_one_protocol_entry_per_changed_ticket(
    cm: CustomerManager, world, make_ticket: MakeTicket
) -> None:
    anna, bert, carl = world["anna"], world["bert"], world["carl"]
    as_main, as_additional, with_target = make_ticket(anna), make_ticket(carl, anna), make_ticket(anna, bert)
    left_closed = make_ticket(anna, closed=True)
    other = make_ticket(carl)
    cm.transfer_tickets(anna.id, bert.id)
    entry = ("admin", "{role}", anna.id, "Anna Müller", bert.id, "Bert Öztürk")
    for t, role in ((as_main, "main"), (as_additional, "additional"), (with_target, "main")):
        assert transfers(cm, t) == [tuple(role if v == "{role}" else v for v in entry)]
    assert transfers(cm, left_closed) == [] and transfers(cm, other) == []


def test_r17_transfer_is_audited_for_source_and_target(
    cm: CustomerManager, world, make_ticket: MakeTicket
) -> None:
    anna, bert = world["anna"], world["bert"]
    make_ticket(anna)
    cm.transfer_tickets(anna.id, bert.id, only_open=False)
    assert cm.history(customer_id=anna.id).iloc[-1]["action"] == "transfer_out"
    last = cm.history(customer_id=bert.id).iloc[-1]
    assert last["action"] == "transfer_in" and last["after"] == {"customer_id": bert.id}


def test_r17_source_without_tickets_changes_no_ticket(
    cm: CustomerManager, world, make_ticket: MakeTicket
) -> None:
    t = make_ticket(world["carl"])
    out = cm.transfer_tickets(world["anna"].id, world["bert"].id)
    assert out.applied and out.changes.empty
    assert customers_of(cm, t) == (world["carl"].id, ())


# -- refusals -----------------------------------------------------------------------------------------------------


def test_r17_deactivated_target_refused(cm: CustomerManager, world, make_ticket: MakeTicket, refused) -> None:
    anna, carl = world["anna"], world["carl"]
    t = make_ticket(anna)
    cm.deactivate(carl.id)
    err = refused(PreconditionFailed, cm.transfer_tickets, anna.id, carl.id)
    assert len(err.problems) == 1 and err.problems[0].startswith("R17: ")
    assert "deactivated" in err.problems[0] and "reactivate" in err.problems[0]
    assert customers_of(cm, t) == (anna.id, ())


def test_r17_target_equal_to_source_refused(
    cm: CustomerManager, world, make_ticket: MakeTicket, refused
) -> None:
    anna = world["anna"]
    make_ticket(anna)
    err = refused(PreconditionFailed, cm.transfer_tickets, anna.id, anna.id, only_open=False)
    assert err.problems[0].startswith("R17: ") and "must not be the source" in err.problems[0]


def test_r17_unknown_target_refused(cm: CustomerManager, world, make_ticket: MakeTicket, refused) -> None:
    make_ticket(world["anna"])
    refused(NotFound, cm.transfer_tickets, world["anna"].id, 999_999)
    refused(NotFound, cm.transfer_tickets, 999_999, world["anna"].id)


def test_r17_company_of_contacts_only_group_cannot_become_main(
    cm: CustomerManager, world, make_ticket: MakeTicket, refused
) -> None:
    anna, acme = world["anna"], world["acme"]
    t = make_ticket(anna)
    err = refused(PreconditionFailed, cm.transfer_tickets, anna.id, acme.id)
    assert [p[:4] for p in err.problems] == ["R14:"]
    assert "choose one of its contacts" in err.problems[0]
    assert customers_of(cm, t) == (anna.id, ())
    # a company of a group with tickets for companies can take them
    pete, part = world["pete"], world["part"]
    pt = make_ticket(pete)
    cm.transfer_tickets(pete.id, part.id)
    assert customers_of(cm, pt) == (part.id, ())


def test_r17_refusal_is_all_or_nothing(cm: CustomerManager, world, make_ticket: MakeTicket, refused) -> None:
    """One ticket would make the company main (R14): none of the tickets moves, no protocol entry is written."""
    anna, acme, carl = world["anna"], world["acme"], world["carl"]
    as_additional = make_ticket(carl, anna)
    as_main = make_ticket(anna)
    refused(PreconditionFailed, cm.transfer_tickets, anna.id, acme.id)
    assert customers_of(cm, as_additional) == (carl.id, (anna.id,))
    assert customers_of(cm, as_main) == (anna.id, ())
    assert transfers(cm, as_additional) == [] and transfers(cm, as_main) == []


# -- deactivated sources ------------------------------------------------------------------------------------------


def test_r17_closed_tickets_of_deactivated_source_can_be_transferred(
    cm: CustomerManager, world, make_ticket: MakeTicket
) -> None:
    anna, bert, carl = world["anna"], world["bert"], world["carl"]
    as_main, as_additional = make_ticket(anna, closed=True), make_ticket(carl, anna, closed=True)
    cm.deactivate(anna.id)
    assert cm.transfer_tickets(anna.id, bert.id).changes.empty  # only_open: there are none
    out = cm.transfer_tickets(anna.id, bert.id, only_open=False)
    assert out.applied and sorted(out.changes["id"]) == sorted([as_main.id, as_additional.id])
    assert customers_of(cm, as_main) == (bert.id, ())
    assert customers_of(cm, as_additional) == (carl.id, (bert.id,))
    assert not cm.customer(anna.id).active  # the source stays deactivated


# -- dry run ------------------------------------------------------------------------------------------------------


def test_r17_dry_run_returns_the_plan_and_changes_nothing(
    cm: CustomerManager, world, make_ticket: MakeTicket, snapshot: Snapshot
) -> None:
    anna, bert, carl = world["anna"], world["bert"], world["carl"]
    as_main, as_additional, with_target = make_ticket(anna), make_ticket(carl, anna), make_ticket(anna, bert)
    closed = make_ticket(anna, closed=True)
    before = snapshot()
    out = cm.transfer_tickets(anna.id, bert.id, only_open=False, dry_run=True)
    assert snapshot() == before
    assert out.applied is False and out.problems == []
    plan = out.changes
    assert list(plan["id"]) == sorted(
        [as_main.id, as_additional.id, with_target.id, closed.id]
    )  # one row per ticket
    assert not plan["id"].duplicated().any()
    rows = plan.set_index("id")
    assert rows.loc[as_additional.id, "role"] == "additional" and rows.loc[as_main.id, "role"] == "main"
    assert rows.loc[closed.id, "state"] == "closed"
    assert list(rows["target_already_on_ticket"]) == [False, False, True, False]
    assert set(plan["number"]) == {as_main.number, as_additional.number, with_target.number, closed.number}
    # the plan is what the real transfer then does
    done = cm.transfer_tickets(anna.id, bert.id, only_open=False)
    pd.testing.assert_frame_equal(done.changes, plan)


def test_r17_dry_run_of_a_refused_transfer_lists_problems(
    cm: CustomerManager, world, make_ticket: MakeTicket, snapshot: Snapshot
) -> None:
    anna, carl = world["anna"], world["carl"]
    make_ticket(anna)
    cm.deactivate(carl.id)
    before = snapshot()
    out = cm.transfer_tickets(anna.id, carl.id, dry_run=True)
    assert snapshot() == before
    assert out.applied is False and not out.allowed
    assert [p[:4] for p in out.problems] == ["R17:"]


# -- set-based ----------------------------------------------------------------------------------------------------


def bulk_tickets(
    db_url: str, main_id: int, n: int, *, additional_id: int | None = None, state: str = "open"
) -> list[int]:
    """Insert n tickets for `main_id` in one statement (fast test data; the service's own create is tested elsewhere)."""
    with engine_for(db_url).begin() as conn:
        queue_id = conn.execute(sa.select(Queue.id).where(Queue.name == "helpdesk")).scalar_one()
        start = conn.execute(sa.select(sa.func.coalesce(sa.func.max(TicketRow.id), 0))).scalar_one()
        rows = [
            {
                "number": f"B{start + i:09d}",
                "subject": f"Bulk {i}",
                "queue_id": queue_id,
                "state": state,
                "main_customer_id": main_id,
                "created_by": "admin",
            }
            for i in range(n)
        ]
        conn.execute(sa.insert(TicketRow), rows)
        ids = list(
            conn.execute(sa.select(TicketRow.id).where(TicketRow.id > start).order_by(TicketRow.id)).scalars()
        )
        if additional_id is not None:
            conn.execute(
                sa.insert(AdditionalCustomer), [{"ticket_id": i, "customer_id": additional_id} for i in ids]
            )
    return ids


@contextmanager
def counted_statements(db_url: str) -> Iterator[list[str]]:
    """The SQL statements executed on the database while the block runs."""
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = engine_for(db_url)
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def test_r17_transfer_of_thousands_of_tickets_moves_them_all(cm: CustomerManager, world, db_url: str) -> None:
    anna, bert, carl = world["anna"], world["bert"], world["carl"]
    as_main = bulk_tickets(db_url, anna.id, 1200)
    as_additional = bulk_tickets(db_url, carl.id, 800, additional_id=anna.id)
    with_target = bulk_tickets(db_url, anna.id, 50, additional_id=bert.id)
    out = cm.transfer_tickets(anna.id, bert.id)
    assert out.applied and len(out.changes) == 2050
    assert cm.tickets(anna.id).empty
    links = cm.frame("ticket_customers")
    assert not links.duplicated(["ticket_id", "customer_id"]).any()
    mine = cm.tickets(bert.id)
    roles = dict(zip(mine["id"], mine["role"], strict=True))
    assert len(roles) == 2050
    assert all(roles[i] == "main" for i in as_main + with_target)
    assert all(roles[i] == "additional" for i in as_additional)
    tickets = cm.frame("tickets")  # every ticket is still there, with its state
    assert len(tickets) == 2050 and set(tickets["state"]) == {"open"}
    with engine_for(db_url).connect() as conn:
        per_ticket = conn.execute(
            sa.select(ProtocolEntry.ticket_id, sa.func.count())
            .where(ProtocolEntry.action == "transferred")
            .group_by(ProtocolEntry.ticket_id)
        ).all()
    assert len(per_ticket) == 2050 and {n for _, n in per_ticket} == {1}


def test_r17_transfer_runs_the_same_statements_for_few_or_many_tickets(
    cm: CustomerManager, world, db_url: str
) -> None:
    """Set-based: the number of SQL statements does not grow with the number of tickets."""
    anna, bert, carl = world["anna"], world["bert"], world["carl"]
    bulk_tickets(db_url, anna.id, 3)
    bulk_tickets(db_url, carl.id, 2, additional_id=anna.id)
    with counted_statements(db_url) as few:
        cm.transfer_tickets(anna.id, bert.id)
    bulk_tickets(db_url, bert.id, 1500)
    bulk_tickets(db_url, carl.id, 500, additional_id=bert.id)
    with counted_statements(db_url) as many:
        assert len(cm.transfer_tickets(bert.id, anna.id).changes) == 2005
    assert len(many) == len(few) < 40


# -- R17: a ticket moves as main customer only into a queue of the target's group ------------------------------


def test_r17_transfer_into_a_queue_not_of_the_targets_group_is_refused(
    cm: CustomerManager, world, make_ticket: MakeTicket, refused
) -> None:
    pete, anna, bert = world["pete"], world["anna"], world["bert"]
    desk = make_ticket(pete)  # partnerdesk: for partners only
    extra = make_ticket(bert, pete)  # helpdesk, pete additional: that one may move
    plan = cm.transfer_tickets(pete.id, anna.id, dry_run=True)
    assert not plan.applied and len(plan.problems) == 1
    problem = plan.problems[0]
    assert problem.startswith("R17:") and desk.number in problem and "'partnerdesk'" in problem
    assert "'retail'" in problem and extra.number not in problem
    err = refused(PreconditionFailed, cm.transfer_tickets, pete.id, anna.id)
    assert desk.number in str(err)
    assert customers_of(cm, desk) == (pete.id, ())
    assert cm.check_invariants().empty


def test_r17_additional_role_moves_whatever_the_queue(
    cm: CustomerManager, world, make_ticket: MakeTicket
) -> None:
    pete, part, anna = world["pete"], world["part"], world["anna"]
    t = make_ticket(part, pete)  # partnerdesk; pete is additional there
    out = cm.transfer_tickets(pete.id, anna.id)
    assert out.applied and customers_of(cm, t) == (part.id, (anna.id,))


def test_r17_check_invariants_reports_a_ticket_outside_its_customers_queues(
    cm: CustomerManager, world, make_ticket: MakeTicket, db_url: str
) -> None:
    t = make_ticket(world["anna"])
    with engine_for(db_url).begin() as conn:
        desk = conn.execute(sa.select(Queue.id).where(Queue.name == "partnerdesk")).scalar_one()
        conn.execute(sa.update(TicketRow).where(TicketRow.id == t.id).values(queue_id=desk))
    found = cm.check_invariants()
    assert list(zip(found["rule"], found["entity"], found["id"], strict=True)) == [("R14", "ticket", t.id)]
    assert (
        found["detail"].iloc[0] == "its queue partnerdesk is not assigned to its main customer's group retail"
    )


# -- R17 for several sources at once (a company's blocking contacts) ---------------------------------------------


def test_r17_many_sources_move_to_one_target_in_one_step(
    cm: CustomerManager, world, make_ticket: MakeTicket
) -> None:
    anna, bert, carl, acme = world["anna"], world["bert"], world["carl"], world["acme"]
    ta, tb, both = make_ticket(anna), make_ticket(bert), make_ticket(anna, bert)
    closed = make_ticket(bert, closed=True)
    plan = cm.transfer_many([anna.id, bert.id], carl.id, dry_run=True)
    assert plan.problems == [] and not plan.applied
    assert sorted(zip(plan.changes["id"], plan.changes["source_id"], strict=True)) == sorted(
        [(ta.id, anna.id), (both.id, anna.id), (tb.id, bert.id), (both.id, bert.id)]
    )
    assert customers_of(cm, ta) == (anna.id, ())  # a dry run changes nothing
    out = cm.transfer_many([anna.id, bert.id], carl.id)
    assert out.applied
    assert [customers_of(cm, t) for t in (ta, tb, both)] == [(carl.id, ())] * 3
    assert customers_of(cm, closed) == (bert.id, ())
    assert cm.deactivate(acme.id).applied  # nothing blocks the company any more
    assert_no_duplicate_links(cm)


def test_r17_many_sources_all_or_nothing(
    cm: CustomerManager, world, make_ticket: MakeTicket, refused
) -> None:
    anna, bert, pete = world["anna"], world["bert"], world["pete"]
    make_ticket(anna), make_ticket(bert)
    err = refused(PreconditionFailed, cm.transfer_many, [anna.id, bert.id], bert.id)
    assert "R17: the target must not be the source" in str(err)
    desk = make_ticket(pete)
    err = refused(PreconditionFailed, cm.transfer_many, [anna.id, pete.id], bert.id)
    assert desk.number in str(err)  # pete's partnerdesk ticket cannot go to a retail contact
    plan = cm.transfer_many([anna.id, bert.id], world["carl"].id, dry_run=True)
    assert plan.problems == [] and cm.apply(plan).applied  # the dry run is a plan (R34)
    assert cm.tickets(anna.id).empty and cm.tickets(bert.id).empty


def test_r17_transfer_many_hands_every_source_to_one_target_as_one_plan(
    cm: CustomerManager, world, make_ticket: MakeTicket
) -> None:
    anna, bert, carl = world["anna"], world["bert"], world["carl"]
    t1, t2, t3 = make_ticket(anna), make_ticket(bert, anna), make_ticket(bert, closed=True)
    plan = cm.transfer_many([anna.id, bert.id], carl.id, dry_run=True)
    assert plan.allowed and plan.operation == "transfer_many"
    assert sorted(zip(plan.changes["id"], plan.changes["source_id"], strict=True)) == [
        (t1.id, anna.id),
        (t2.id, anna.id),
        (t2.id, bert.id),
    ]
    run = cm.in_run()
    assert run.apply(plan).applied
    assert customers_of(cm, t1) == (carl.id, ()) and customers_of(cm, t2) == (carl.id, ())
    assert customers_of(cm, t3) == (bert.id, ())  # closed: only_open
    log = cm.history()
    assert set(log.loc[log["action"].isin(["transfer_out", "transfer_in"]), "run_id"]) == {run.run_id}


def test_r17_transfer_many_refuses_all_when_the_target_is_one_of_the_sources(
    cm: CustomerManager, world, make_ticket: MakeTicket, snapshot: Snapshot
) -> None:
    anna, bert = world["anna"], world["bert"]
    t = make_ticket(anna)
    before = snapshot()
    plan = cm.transfer_many([anna.id, bert.id], bert.id, dry_run=True)
    assert [p for p in plan.problems if f"(#{bert.id})" in p][0].startswith("R17: the target must not be")
    try:
        cm.transfer_many([anna.id, bert.id], bert.id)
    except PreconditionFailed as error:
        assert error.problems == plan.problems
    else:
        raise AssertionError("refused")
    assert snapshot() == before and customers_of(cm, t) == (anna.id, ())
