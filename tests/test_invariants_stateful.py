"""Invariants under random use: hypothesis runs random sequences of the facade's operations, as several
admins with different permissions, and after every step checks the database's rules as tests/reliability.py
reads them from the tables (at the end of each run `check_invariants()` must agree): every ticket has one
main customer and names no customer twice, no deactivated customer on an open ticket, no active contact in a
deactivated company (R19 deactivates them with it; R21 reactivates none of them before the company), and
each ticket's protocol accounts for every change of its customers. An operation that is refused must raise
a cmkit error (never a database error) and change nothing (R30: judged by the tables' row counts, the
customers' versions, the open tickets and whom they name; tests/test_faults.py compares every row).
"""

from __future__ import annotations

import collections
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import CONFIG_TABLES
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from reliability import fingerprint, violations

import cmkit
from cmkit.db.engine import engine_for
from cmkit.db.schema import Base

USERS = ("admin", "lena", "alice", "rita")  # all rights; lifecycle on retail; agent; reader
ACTING = st.sampled_from(("admin", "admin", "admin", "lena", "lena", "alice", "rita"))  # mostly allowed
GROUPS = ("retail", "partners", "private")
QUEUES = ("helpdesk", "partnerdesk", "billing")
NAMES = st.sampled_from(["Müller", "Meier", "Öztürk", "O'Brien", "Zander", "Acme", "Ünal", "Lee"])
LIGHT = settings(
    max_examples=6,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HEAVY = settings(
    LIGHT, max_examples=int(os.environ.get("CMKIT_STATEFUL_EXAMPLES", "10")), stateful_step_count=25
)

REFUSALS: collections.Counter[str] = collections.Counter()  # what was refused, and why (shown with -s)
DONE: collections.Counter[str] = collections.Counter()  # what succeeded


def fresh_database(db_url: str, template: Path | None, workdir: Path) -> str:
    """An empty database with the test configuration: a copy of the template file, or emptied PostgreSQL."""
    if template is not None:
        path = workdir / f"{uuid.uuid4().hex}.db"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    data = [t.name for t in Base.metadata.sorted_tables if t.name not in CONFIG_TABLES]
    with engine_for(db_url).begin() as conn:
        conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in data) + " RESTART IDENTITY CASCADE"))
    return db_url


class Helpdesk(RuleBasedStateMachine):
    """Several admins working on one database; the machine remembers ids, the database holds the truth."""

    new_database: Callable[[], str]

    def __init__(self) -> None:
        super().__init__()
        self.url = self.new_database()
        self.cms = {u: cmkit.connect(self.url, user=u) for u in USERS}
        self.customers: list[int] = []
        self.kinds: dict[int, tuple[str, str]] = {}
        self.tickets: list[int] = []
        self.comments: list[int] = []
        self.steps = 0
        self.refusals = 0

    # -- running one operation -------------------------------------------------------------------------------------
    def attempt(self, user: str, op: Callable[[cmkit.CustomerManager], Any]) -> Any:
        """Run `op` as `user`: it succeeds, or raises a cmkit error and leaves the database as it was."""
        before = fingerprint(self.url)
        self.steps += 1
        try:
            result = op(self.cms[user])
            DONE[op.__qualname__.split(".")[1]] += 1
            return result
        except cmkit.CMError as exc:
            self.refusals += 1
            REFUSALS[f"{op.__qualname__.split('.')[1]}: {type(exc).__name__} {str(exc)[:12]}"] += 1
            assert fingerprint(self.url) == before, "a refused operation changed the database (R30)"
            return None

    def pick(self, data: st.DataObject, pool: list[int]) -> int:
        """Mostly an id from `pool`; now and then any customer's id, or one that never existed."""
        choice = data.draw(st.integers(0, 9))
        if pool and choice < 8:
            return data.draw(st.sampled_from(pool))
        if self.customers and choice < 9:
            return data.draw(st.sampled_from(self.customers))
        return data.draw(st.integers(1, 3))

    def companies(self, group: str | None = None) -> list[int]:
        return [i for i, (k, g) in self.kinds.items() if k == "company" and group in (None, g)]

    def contacts(self, with_company: bool = False) -> list[int]:
        return [
            i for i, (k, g) in self.kinds.items() if k == "contact" and not (with_company and g == "private")
        ]

    def remember(self, c: cmkit.Customer | None) -> None:
        if c is not None:
            self.customers.append(c.id)
            self.kinds[c.id] = (c.kind, c.group)

    # -- customers -------------------------------------------------------------------------------------------------
    @initialize()
    def start(self) -> None:
        """A company of retail with two contacts, one of partners with one, a private person, two tickets."""
        cm = self.cms["admin"]
        for group, n in (("retail", 2), ("partners", 1)):
            company = cm.create_company(group, name=f"{group.title()} GmbH")
            self.remember(company)
            for i in range(n):
                self.remember(cm.create_contact(group, company=company.id, last_name=f"Kontakt {i}"))
        self.remember(cm.create_contact("private", last_name="Privat"))
        retail, partners = self.contacts()[:2], self.contacts()[2]
        self.tickets.append(cm.create_ticket(retail[0], "helpdesk", "Anfrage", additional=[retail[1]]).id)
        self.tickets.append(cm.close_ticket(cm.create_ticket(partners, "partnerdesk", "Erledigt").id).id)

    @rule(user=ACTING, group=st.sampled_from(GROUPS[:2]), name=NAMES)
    def create_company(self, user: str, group: str, name: str) -> None:
        self.remember(self.attempt(user, lambda cm: cm.create_company(group, name=name)))

    @rule(user=ACTING, data=st.data(), group=st.sampled_from(GROUPS), name=NAMES)
    def create_contact(self, user: str, data: st.DataObject, group: str, name: str) -> None:
        company = None if group == "private" else self.pick(data, self.companies(group))
        self.remember(
            self.attempt(user, lambda cm: cm.create_contact(group, company=company, last_name=name))
        )

    @precondition(lambda self: self.customers)
    @rule(user=ACTING, data=st.data(), name=NAMES, stale=st.booleans())
    def edit(self, user: str, data: st.DataObject, name: str, stale: bool) -> None:
        cid = self.pick(data, self.customers)

        def op(cm: cmkit.CustomerManager) -> Any:
            c = cm.customer(cid)
            field = "name" if c.kind == "company" else "last_name"
            return cm.edit(cid, version=c.version - 1 if stale else c.version, **{field: name})

        self.attempt(user, op)

    @precondition(lambda self: self.customers)
    @rule(user=ACTING, data=st.data())
    def change_company(self, user: str, data: st.DataObject) -> None:
        contact = self.pick(data, self.contacts(with_company=True))
        company = self.pick(data, self.companies(self.kinds.get(contact, ("", None))[1]))
        self.attempt(user, lambda cm: cm.change_company(contact, company))

    # -- tickets ---------------------------------------------------------------------------------------------------
    @precondition(lambda self: self.customers)
    @rule(
        user=ACTING,
        data=st.data(),
        other_queue=st.sampled_from((None, None, None, *QUEUES)),
        extra=st.integers(0, 2),
    )
    def create_ticket(self, user: str, data: st.DataObject, other_queue: str | None, extra: int) -> None:
        main = self.pick(data, self.contacts())
        queue = other_queue or (
            "partnerdesk" if self.kinds.get(main, ("", ""))[1] == "partners" else "helpdesk"
        )
        additional = [self.pick(data, self.customers) for _ in range(extra)]
        t = self.attempt(
            user, lambda cm: cm.create_ticket(main, queue, "Drucker <b>kaputt</b>", additional=additional)
        )
        if t is not None:
            self.tickets.append(t.id)

    @precondition(lambda self: self.tickets and self.customers)
    @rule(user=ACTING, data=st.data(), remove=st.booleans())
    def add_or_remove_customer(self, user: str, data: st.DataObject, remove: bool) -> None:
        t, c = self.pick(data, self.tickets), self.pick(data, self.customers)
        self.attempt(user, lambda cm: cm.remove_customer(t, c) if remove else cm.add_customer(t, c))

    @precondition(lambda self: self.tickets)
    @rule(user=ACTING, data=st.data(), close=st.booleans())
    def close_or_reopen(self, user: str, data: st.DataObject, close: bool) -> None:
        t = self.pick(data, self.tickets)
        self.attempt(user, lambda cm: cm.close_ticket(t) if close else cm.reopen_ticket(t))

    # -- lifecycle -------------------------------------------------------------------------------------------------
    @precondition(lambda self: self.customers)
    @rule(user=ACTING, data=st.data(), only_open=st.booleans(), dry_run=st.booleans())
    def transfer(self, user: str, data: st.DataObject, only_open: bool, dry_run: bool) -> None:
        src, dst = self.pick(data, self.customers), self.pick(data, self.customers)
        self.attempt(user, lambda cm: cm.transfer_tickets(src, dst, only_open=only_open, dry_run=dry_run))

    @precondition(lambda self: self.customers)
    @rule(
        user=ACTING,
        data=st.data(),
        action=st.sampled_from(["deactivate", "reactivate", "delete", "anonymise"]),
    )
    def lifecycle(self, user: str, data: st.DataObject, action: str) -> None:
        cid = self.pick(data, self.customers)
        self.attempt(user, lambda cm: getattr(cm, action)(cid))

    @precondition(lambda self: len(self.customers) > 1)
    @rule(user=ACTING, data=st.data())
    def deactivate_many(self, user: str, data: st.DataObject) -> None:
        ids = data.draw(st.lists(st.sampled_from(self.customers), min_size=1, max_size=3))
        self.attempt(user, lambda cm: cm.deactivate_many(ids))

    @precondition(lambda self: len(self.customers) > 1)
    @rule(user=ACTING, data=st.data())
    def merge(self, user: str, data: st.DataObject) -> None:
        survivor = self.pick(data, self.customers)
        dups = data.draw(st.lists(st.sampled_from(self.customers), min_size=1, max_size=2, unique=True))
        self.attempt(user, lambda cm: cm.merge(survivor, dups))

    # -- details ---------------------------------------------------------------------------------------------------
    @precondition(lambda self: self.customers)
    @rule(user=ACTING, data=st.data(), delete=st.booleans())
    def comment(self, user: str, data: st.DataObject, delete: bool) -> None:
        if delete and self.comments:
            cid = self.pick(data, self.comments)
            self.attempt(user, lambda cm: cm.delete_comment(cid))
            return
        customer = self.pick(data, self.customers)
        new = self.attempt(user, lambda cm: cm.add_comment(customer, "<script>alert(1)</script> & 'quoted'"))
        if new is not None:
            self.comments.append(new)

    # -- after every step, and at the end ------------------------------------------------------------------------
    @invariant()
    def rules_hold(self) -> None:
        assert violations(self.url) == []

    def teardown(self) -> None:
        """At the end of each run, cmkit's own audit of the rules agrees (it also checks R4 per field)."""
        found = self.cms["admin"].check_invariants()
        assert found.empty, found.to_dict("records")


def test_invariants_hold_under_random_use(
    db_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    run_machine(db_url, request, tmp_path, LIGHT)


@pytest.mark.heavy
def test_invariants_hold_under_long_random_use(
    db_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    run_machine(db_url, request, tmp_path, HEAVY)


def run_machine(db_url: str, request: pytest.FixtureRequest, tmp_path: Path, config: settings) -> None:
    template = request.getfixturevalue("sqlite_template") if db_url.startswith("sqlite") else None
    steps = [0, 0, 0]

    class Run(Helpdesk):
        def new_database(self) -> str:
            steps[0] += 1
            return fresh_database(db_url, template, tmp_path)

        def teardown(self) -> None:
            super().teardown()
            steps[1] += self.steps
            steps[2] += self.refusals
            if template is not None:
                engine_for(self.url).dispose()

    run_state_machine_as_test(Run, settings=config)
    print(REFUSALS.most_common(25))
    print(DONE.most_common())
    print(f"stateful: {steps[0]} examples, {steps[1]} operations, {steps[2]} refused")
    assert steps[1] > steps[2] > 0
