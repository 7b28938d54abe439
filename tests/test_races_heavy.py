"""Two admins racing: operations started together by a barrier, each scenario repeated many times, on
PostgreSQL and on SQLite with two connections to one file. After every repetition the outcome must be one
that some serial order of the two operations gives, and the database's invariants must hold.

The light run (`test_race`) repeats the scenarios that tests/test_races.py does not cover a few times;
the heavy run (`test_race_heavy`, marker `heavy`) repeats every scenario many times.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from reliability import Result, held_commits, race, violations

import cmkit
from cmkit import CustomerManager, NotFound, PreconditionFailed, StaleVersion

LIGHT_REPS = 5
HEAVY_REPS = int(os.environ.get("CMKIT_RACE_REPS", "10"))
HOLD_SECONDS = 0.02


@dataclass
class Admins:
    """The setting of one race: the database, a connection for setting up, one per racing admin."""

    url: str
    setup: CustomerManager
    one: CustomerManager
    two: CustomerManager

    def company(self, name: str = "Race GmbH") -> cmkit.Customer:
        return self.setup.create_company("retail", name=name)

    def contact(self, company: cmkit.Customer, name: str) -> cmkit.Customer:
        return self.setup.create_contact("retail", company=company.id, last_name=name)


def refused(r: Result, error: type[Exception], rule: str = "") -> bool:
    return isinstance(r.error, error) and rule in str(r.error)


def unexpected(*results: Result) -> None:
    """Fail on any error that is not a deliberate refusal of cmkit (a deadlock, an integrity error ...)."""
    for r in results:
        if r.error is not None and not isinstance(r.error, cmkit.CMError):
            raise AssertionError(f"a racing operation failed with {type(r.error).__name__}") from r.error


# -- the scenarios: each sets up, races once, and checks that the outcome is a serial one -----------------------------


def deactivate_vs_create_ticket(a: Admins) -> None:
    """Never a deactivated customer on an open ticket: exactly one of the two succeeds."""
    x = a.contact(a.company(), "Racer")
    d, t = race(lambda: a.one.deactivate(x.id), lambda: a.two.create_ticket(x.id, "helpdesk", "race"))
    unexpected(d, t)
    assert (d.ok and refused(t, PreconditionFailed, "R20")) or (
        t.ok and refused(d, PreconditionFailed, "R18")
    )


def two_edits_from_one_version(a: Admins) -> None:
    """No lost update (R5): exactly one edit wins, the other gets StaleVersion."""
    x = a.contact(a.company(), "Before")
    e1, e2 = race(
        lambda: a.one.edit(x.id, version=x.version, last_name="One"),
        lambda: a.two.edit(x.id, version=x.version, last_name="Two"),
    )
    unexpected(e1, e2)
    assert sorted([e1.ok, e2.ok]) == [False, True]
    loser = e2 if e1.ok else e1
    assert isinstance(loser.error, StaleVersion)
    now = a.setup.customer(x.id)
    assert now.version == x.version + 1 and now.name == ("One" if e1.ok else "Two")


def deactivate_company_vs_move_into_it(a: Admins) -> None:
    """A contact moved into a company being deactivated ends deactivated with it, or the move is refused."""
    target, home = a.company("Target AG"), a.company("Home AG")
    x = a.contact(home, "Mover")
    d, m = race(lambda: a.one.deactivate(target.id), lambda: a.two.change_company(x.id, target.id))
    unexpected(d, m)
    assert d.ok, d.error
    now = a.setup.customer(x.id)
    if m.ok:
        assert (now.company_id, now.active) == (target.id, False)
    else:
        assert refused(m, PreconditionFailed, "R7") and (now.company_id, now.active) == (home.id, True)


def two_transfers_from_one_source(a: Admins) -> None:
    """Each ticket goes to exactly one of the two targets, with one protocol entry; none stays or doubles."""
    comp = a.company()
    src, b, c, other = (a.contact(comp, n) for n in ("Source", "B", "C", "Other"))
    tickets = [a.setup.create_ticket(src.id, "helpdesk", f"t{i}") for i in range(3)]
    tickets.append(a.setup.create_ticket(other.id, "helpdesk", "extra", additional=[src.id]))
    r1, r2 = race(lambda: a.one.transfer_tickets(src.id, b.id), lambda: a.two.transfer_tickets(src.id, c.id))
    unexpected(r1, r2)
    assert r1.ok and r2.ok
    assert len(r1.value.changes) + len(r2.value.changes) == len(tickets)
    assert a.setup.tickets(src.id).empty
    assert len(a.setup.tickets(b.id)) + len(a.setup.tickets(c.id)) == len(tickets)
    for t in tickets:
        moves = a.setup.protocol(t.id).query("action == 'transferred'")
        assert len(moves) == 1


def transfer_vs_delete_of_target(a: Admins) -> None:
    """The target is deleted and the transfer refused (NotFound), or the transfer wins and the delete is
    refused (R23); never a ticket pointing at a deleted customer."""
    comp = a.company()
    src, dst = a.contact(comp, "Source"), a.contact(comp, "Target")
    tickets = [a.setup.create_ticket(src.id, "helpdesk", f"t{i}") for i in range(2)]
    tr, de = race(lambda: a.one.transfer_tickets(src.id, dst.id), lambda: a.two.delete(dst.id))
    unexpected(tr, de)
    if tr.ok:
        assert refused(de, PreconditionFailed, "R23")
        assert sorted(a.setup.tickets(dst.id)["id"]) == sorted(t.id for t in tickets)
    else:
        assert de.ok and refused(tr, NotFound)
        assert sorted(a.setup.tickets(src.id)["id"]) == sorted(t.id for t in tickets)
        with pytest.raises(NotFound):
            a.setup.customer(dst.id)


def two_transfers_into_one_target(a: Admins) -> None:
    """Two sources of one ticket handed to one target: the target ends on it once, as main customer."""
    comp = a.company()
    s1, s2, dst = (a.contact(comp, n) for n in ("S1", "S2", "Target"))
    t = a.setup.create_ticket(s1.id, "helpdesk", "shared", additional=[s2.id])
    r1, r2 = race(
        lambda: a.one.transfer_tickets(s1.id, dst.id), lambda: a.two.transfer_tickets(s2.id, dst.id)
    )
    unexpected(r1, r2)
    assert r1.ok and r2.ok
    now = a.setup.ticket(t.id)
    assert (now.main_customer_id, now.additional_customer_ids) == (dst.id, ())


def transfer_vs_add_target(a: Admins) -> None:
    """Adding the target to a ticket while it is transferred to it: the target is on it once, as main."""
    comp = a.company()
    src, dst = a.contact(comp, "Source"), a.contact(comp, "Target")
    t = a.setup.create_ticket(src.id, "helpdesk", "t")
    tr, ad = race(lambda: a.one.transfer_tickets(src.id, dst.id), lambda: a.two.add_customer(t.id, dst.id))
    unexpected(tr, ad)
    assert tr.ok and (ad.ok or refused(ad, PreconditionFailed, "R15"))
    now = a.setup.ticket(t.id)
    assert (now.main_customer_id, now.additional_customer_ids) == (dst.id, ())


def transfer_vs_close(a: Admins) -> None:
    """Closing a ticket while its open tickets are transferred: transferred and closed, or closed and kept;
    the protocol says which (checked by the invariants)."""
    comp = a.company()
    src, dst = a.contact(comp, "Source"), a.contact(comp, "Target")
    t = a.setup.create_ticket(src.id, "helpdesk", "t")
    tr, cl = race(
        lambda: a.one.transfer_tickets(src.id, dst.id, only_open=True), lambda: a.two.close_ticket(t.id)
    )
    unexpected(tr, cl)
    assert tr.ok and cl.ok
    now = a.setup.ticket(t.id)
    assert now.state == "closed" and now.main_customer_id == (dst.id if len(tr.value.changes) else src.id)


Scenario = Callable[[Admins], None]
COVERED_ELSEWHERE: list[Scenario] = [  # light runs in tests/test_races.py
    deactivate_vs_create_ticket,
    two_edits_from_one_version,
    deactivate_company_vs_move_into_it,
    two_transfers_from_one_source,
]
OWN: list[Scenario] = [
    transfer_vs_delete_of_target,
    two_transfers_into_one_target,
    transfer_vs_add_target,
    transfer_vs_close,
]
ALL = COVERED_ELSEWHERE + OWN


@pytest.fixture
def admins(db_url: str) -> Admins:
    return Admins(db_url, cmkit.connect(db_url), cmkit.connect(db_url), cmkit.connect(db_url, user="lena"))


def repeat(scenario: Scenario, a: Admins, times: int) -> None:
    """Every other repetition holds each commit a moment, so that the two operations surely overlap; the
    others leave the timing to the scheduler."""
    for i in range(times):
        try:
            with held_commits(a.url, HOLD_SECONDS) if i % 2 else contextlib.nullcontext():
                scenario(a)
        except AssertionError as exc:
            raise AssertionError(f"{scenario.__name__}, repetition {i + 1} of {times}: {exc}") from exc
    assert violations(a.url) == []


@pytest.mark.parametrize("scenario", OWN, ids=lambda s: s.__name__)
def test_race(admins: Admins, scenario: Scenario) -> None:
    repeat(scenario, admins, LIGHT_REPS)


@pytest.mark.heavy
@pytest.mark.parametrize("scenario", ALL, ids=lambda s: s.__name__)
def test_race_heavy(admins: Admins, scenario: Scenario) -> None:
    repeat(scenario, admins, HEAVY_REPS)
