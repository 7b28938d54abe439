"""Race safety: two admins acting at the same moment never leave the database breaking a rule.

Each race starts its operations in threads released together by a barrier; every thread has its own
`cmkit.connect` object (on SQLite: its own connection to the same file). Each race is repeated ROUNDS times
on SQLite and on PostgreSQL, and afterwards the rules are checked on the whole database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

import cmkit
from cmkit import CMError, CustomerManager, NotFound, PreconditionFailed, StaleVersion
from cmkit.db import uow
from cmkit.db.engine import engine_for
from cmkit.db.schema import AdditionalCustomer, ProtocolEntry, Queue, TicketRow

ROUNDS = 20
HOLD_SECONDS = 0.02
Op = Callable[[CustomerManager], Any]
_racing = threading.local()


@pytest.fixture(autouse=True)
def hold_before_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    """In the racing threads, every write waits a moment before it commits, so that the two operations
    really overlap (and whatever the locks do not keep apart collides), however the threads get scheduled."""
    original = uow.transaction

    @contextmanager
    def held(engine: Any, user: str, *, write: bool, **kw: Any) -> Iterator[uow.UnitOfWork]:
        with original(engine, user, write=write, **kw) as work:
            yield work
            if write and getattr(_racing, "on", False):
                time.sleep(HOLD_SECONDS)

    monkeypatch.setattr(uow, "transaction", held)


@pytest.fixture
def race(db_url: str) -> Callable[..., list[Any]]:
    """race(op_a, op_b, ...): run each op(cm) in its own thread at the same moment; their results or errors."""
    managers: list[CustomerManager] = []

    def run(*ops: Op) -> list[Any]:
        while len(managers) < len(ops):  # one connection object per thread, kept across rounds
            managers.append(cmkit.connect(db_url))
        barrier = threading.Barrier(len(ops))
        results: list[Any] = [None] * len(ops)

        def worker(i: int) -> None:
            _racing.on = True
            try:
                barrier.wait(timeout=30)
                results[i] = ops[i](managers[i])
            except Exception as exc:  # the result of a refused operation
                results[i] = exc

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(ops))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "an operation hung"
        return results

    return run


def call(method: str, *args: Any, **kw: Any) -> Op:
    """The operation cm.<method>(*args, **kw), its arguments bound now."""
    return lambda cm: getattr(cm, method)(*args, **kw)


def failures(results: list[Any]) -> list[Exception]:
    """The errors among the results; anything but a cmkit refusal (a database error, a bug) fails the test."""
    errors = [r for r in results if isinstance(r, Exception)]
    for e in errors:
        if not isinstance(e, CMError):
            raise e
    return errors


def assert_rules_hold(cm: CustomerManager) -> None:
    """R15/R17: one main customer and no duplicate link per ticket; R18/R20: no deactivated customer on an
    open ticket; R19/R20: no active contact in a deactivated company."""
    links, tickets, customers = cm.frame("ticket_customers"), cm.frame("tickets"), cm.frame("customers")
    dup = links[links.duplicated(["ticket_id", "customer_id"], keep=False)]
    assert dup.empty, f"a customer is on a ticket twice:\n{dup}"
    mains = links[links["role"] == "main"].groupby("ticket_id").size()
    assert set(mains.index) == set(tickets["id"]) and (mains == 1).all()
    inactive = customers.loc[~customers["active"], "id"]
    open_ids = tickets.loc[tickets["state"] == "open", "id"]
    bad = links[links["ticket_id"].isin(open_ids) & links["customer_id"].isin(inactive)]
    assert bad.empty, f"deactivated customers on open tickets:\n{bad}"
    stray = customers[
        (customers["kind"] == "contact") & customers["active"] & customers["company_id"].isin(inactive)
    ]
    assert stray.empty, f"active contacts in deactivated companies:\n{stray[['id', 'name', 'company_id']]}"


# -- (a) deactivate vs create_ticket --------------------------------------------------------------------------------


def test_r18_race_deactivate_vs_create_ticket(cm: CustomerManager, world, race) -> None:
    for i in range(ROUNDS):
        k = cm.create_contact("retail", company=world["acme"].id, last_name=f"Race {i}")
        results = race(call("deactivate", k.id), call("create_ticket", k.id, "helpdesk", "Race"))
        errors = failures(results)
        assert len(errors) == 1 and isinstance(errors[0], PreconditionFailed), results
        now = cm.customer(k.id)
        if isinstance(results[0], PreconditionFailed):  # the ticket came first and blocks the deactivation
            assert now.active and len(cm.tickets(k.id, state="open")) == 1
        else:
            assert not now.active and cm.tickets(k.id).empty
    assert_rules_hold(cm)


def test_r18_race_deactivate_vs_add_customer(cm: CustomerManager, world, race) -> None:
    t = cm.create_ticket(world["carl"].id, "helpdesk", "Shared")
    for i in range(ROUNDS):
        k = cm.create_contact("retail", company=world["acme"].id, last_name=f"Race {i}")
        results = race(call("deactivate", k.id), call("add_customer", t.id, k.id))
        errors = failures(results)
        assert len(errors) == 1 and isinstance(errors[0], PreconditionFailed), results
        assert cm.customer(k.id).active == (k.id in cm.ticket(t.id).additional_customer_ids)
    assert_rules_hold(cm)


# -- (b) two edits from the same version ----------------------------------------------------------------------------


def test_r5_race_two_edits_from_the_same_version(cm: CustomerManager, world, race) -> None:
    anna = world["anna"]
    for i in range(ROUNDS):
        v = cm.customer(anna.id).version
        results = race(
            call("edit", anna.id, version=v, first_name=f"A{i}"),
            call("edit", anna.id, version=v, first_name=f"B{i}"),
        )
        errors = failures(results)
        assert len(errors) == 1 and isinstance(errors[0], StaleVersion), results
        winner = next(r for r in results if not isinstance(r, Exception))
        now = cm.customer(anna.id)
        assert now.version == v + 1 == winner.version
        assert now.fields["first_name"] == winner.fields["first_name"]
        assert errors[0].current_version in (v, v + 1)
    assert len(cm.history(customer_id=anna.id)) == 1 + ROUNDS  # create, and one edit per round


# -- (c) deactivate(company) vs change_company(contact into it) -----------------------------------------------------


def test_r19_race_deactivate_company_vs_contact_moving_in(cm: CustomerManager, world, race) -> None:
    for i in range(ROUNDS):
        company = cm.create_company("retail", name=f"Race {i} GmbH")
        k = cm.create_contact("retail", company=world["zeta"].id, last_name=f"Mover {i}")
        results = race(call("deactivate", company.id), call("change_company", k.id, company.id))
        errors = failures(results)
        assert len(errors) <= 1 and not isinstance(results[0], Exception), results
        now = cm.customer(k.id)
        if errors:  # the company was deactivated first: the contact stays where it was
            assert (
                isinstance(errors[0], PreconditionFailed)
                and now.company_id == world["zeta"].id
                and now.active
            )
        else:  # the contact moved in first: the company took it along
            assert now.company_id == company.id and not now.active
    assert_rules_hold(cm)


def test_r21_race_reactivate_contact_vs_deactivate_company(cm: CustomerManager, world, race) -> None:
    for i in range(ROUNDS):
        company = cm.create_company("retail", name=f"Race {i} GmbH")
        k = cm.create_contact("retail", company=company.id, last_name=f"Back {i}")
        cm.deactivate(k.id)
        results = race(call("deactivate", company.id), call("reactivate", k.id))
        errors = failures(results)
        assert len(errors) <= 1 and not isinstance(results[0], Exception), results
        assert not cm.customer(k.id).active  # reactivated and taken along, or refused
    assert_rules_hold(cm)


def test_r21_race_two_reactivations(cm: CustomerManager, world, race) -> None:
    carl = world["carl"]
    for _ in range(ROUNDS):
        cm.deactivate(carl.id)
        v = cm.customer(carl.id).version
        results = race(call("reactivate", carl.id), call("reactivate", carl.id))
        errors = failures(results)
        assert len(errors) == 1 and isinstance(errors[0], PreconditionFailed), results
        assert cm.customer(carl.id).version == v + 1
    assert list(cm.history(customer_id=carl.id)["action"]).count("reactivate") == ROUNDS


# -- (d) two transfers ----------------------------------------------------------------------------------------------


def _tickets_naming(db_url: str, source: Any, others: list[Any]) -> list[int]:
    """Open tickets with `source` as main or additional customer, with and without the other customers on
    them (written straight to the tables: setting up is not what is raced)."""
    a, b, c = (o.id for o in others)
    s = source.id
    specs = [(s, ()), (s, (a,)), (s, (b,)), (c, (s,)), (a, (s,)), (b, (s,)), (c, (s, a, b))]
    with engine_for(db_url).begin() as conn:
        queue = conn.execute(sa.select(Queue.id).where(Queue.name == "helpdesk")).scalar_one()
        ids = [
            conn.execute(
                sa.insert(TicketRow)
                .values(
                    number=f"R{s}-{n}",
                    subject="Race",
                    queue_id=queue,
                    state="open",
                    main_customer_id=main,
                    created_by="admin",
                )
                .returning(TicketRow.id)
            ).scalar_one()
            for n, (main, _) in enumerate(specs)
        ]
        extra = [
            {"ticket_id": t, "customer_id": x} for t, (_, xs) in zip(ids, specs, strict=True) for x in xs
        ]
        conn.execute(sa.insert(AdditionalCustomer), extra)
    return ids


def _transfer_entries(db_url: str, ticket_ids: list[int]) -> list[int]:
    """The number of transfer protocol entries of each ticket."""
    with engine_for(db_url).connect() as conn:
        counts = dict(
            conn.execute(
                sa.select(ProtocolEntry.ticket_id, sa.func.count())
                .where(ProtocolEntry.ticket_id.in_(ticket_ids), ProtocolEntry.action == "transferred")
                .group_by(ProtocolEntry.ticket_id)
            ).all()
        )
    return [counts.get(t, 0) for t in ticket_ids]


def test_r17_race_two_transfers_from_the_same_source(cm: CustomerManager, world, race, db_url: str) -> None:
    acme, carl = world["acme"], world["carl"]
    for i in range(ROUNDS):
        src, t1, t2 = (cm.create_contact("retail", company=acme.id, last_name=f"{n} {i}") for n in "STU")
        ids = _tickets_naming(db_url, src, [t1, t2, carl])
        results = race(call("transfer_tickets", src.id, t1.id), call("transfer_tickets", src.id, t2.id))
        assert failures(results) == []
        moved = [len(r.changes) for r in results]
        assert sorted(moved) == [0, len(ids)], moved  # one took them all, the other found none left
        assert cm.tickets(src.id).empty
        assert _transfer_entries(db_url, ids) == [1] * len(ids)
    assert_rules_hold(cm)


def test_r17_race_two_transfers_of_all_tickets_sharing_tickets_to_one_target(
    cm: CustomerManager, world, race, db_url: str
) -> None:
    """Two transfers of open and closed tickets to one target, from two sources that share tickets: each
    locks its tickets as its plan reads them, so the second sees what the first did, and the target is on
    each shared ticket once (R17: no duplicate reference)."""
    acme, carl = world["acme"], world["carl"]
    for i in range(ROUNDS):
        src, other, dst = (cm.create_contact("retail", company=acme.id, last_name=f"{n} {i}") for n in "VWX")
        ids = _tickets_naming(db_url, src, [other, carl, acme])
        cm.close_ticket(ids[1])  # (src main, other additional) closed: moved all the same
        results = race(
            call("transfer_tickets", src.id, dst.id, only_open=False),
            call("transfer_tickets", other.id, dst.id, only_open=False),
        )
        assert failures(results) == []
        assert cm.tickets(src.id).empty and cm.tickets(other.id).empty
        on = cm.tickets(dst.id)
        assert set(ids) <= set(on["id"]) and not on.duplicated(["id"]).any(), on
    assert_rules_hold(cm)


# -- delete vs create_ticket ----------------------------------------------------------------------------------------


def test_r23_race_delete_vs_create_ticket(cm: CustomerManager, world, race) -> None:
    for i in range(ROUNDS):
        k = cm.create_contact("private", last_name=f"Race {i}")
        results = race(call("delete", k.id), call("create_ticket", k.id, "helpdesk", "Race"))
        errors = failures(results)
        assert len(errors) == 1, results
        if isinstance(results[0], Exception):  # the ticket came first: R23 keeps the contact
            assert isinstance(results[0], PreconditionFailed) and len(cm.tickets(k.id)) == 1
        else:
            assert isinstance(results[1], NotFound)
            with pytest.raises(NotFound):
                cm.customer(k.id)
    assert_rules_hold(cm)
    assert not pd.isna(cm.frame("tickets")["main_customer_id"]).any()
