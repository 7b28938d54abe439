"""Helpers of the reliability tests: the database's invariants read straight from the tables, a
barrier-started race of several operations, and a fault injected at the Nth statement of an operation.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from cmkit.db.engine import engine_for
from cmkit.db.schema import AdditionalCustomer, Base, CustomerGroup, CustomerRow, ProtocolEntry, TicketRow

C, T, A, P = CustomerRow, TicketRow, AdditionalCustomer, ProtocolEntry


# -- invariants ----------------------------------------------------------------------------------------------------


def replay_protocol(entries: list[Any]) -> dict[int, tuple[int | None, set[int]]]:
    """Each ticket's (main customer, additional customers) as its protocol tells it (R16).

    `entries`: (ticket_id, action, role, old_customer_id, new_customer_id) in the order written.
    """
    state: dict[int, tuple[int | None, set[int]]] = defaultdict(lambda: (None, set()))
    for ticket_id, action, role, old, new in entries:
        main, extra = state[ticket_id]
        extra = set(extra)
        if action == "created":
            main = new
        elif role == "main" and new is not None:  # transferred / merged / replaced as main customer
            main = new
            extra.discard(new)
        elif role == "additional":
            if old is not None:
                extra.discard(old)
            if new is not None and new != main:
                extra.add(new)
        state[ticket_id] = (main, extra)
    return state


def violations(url: str) -> list[str]:
    """Every broken rule of the database at `url`, read from the tables themselves (empty when all hold)."""
    problems: list[str] = []
    with engine_for(url).connect() as conn:
        groups = {gid: model for gid, model in conn.execute(sa.select(CustomerGroup.id, CustomerGroup.model))}
        customers = {
            r.id: r for r in conn.execute(sa.select(C.id, C.kind, C.group_id, C.company_id, C.active))
        }
        tickets = {r.id: r for r in conn.execute(sa.select(T.id, T.number, T.state, T.main_customer_id))}
        extra: dict[int, list[int]] = defaultdict(list)
        for tid, cid in conn.execute(
            sa.select(A.ticket_id, A.customer_id).order_by(A.ticket_id, A.customer_id)
        ):
            extra[tid].append(cid)
        entries = conn.execute(
            sa.select(P.ticket_id, P.action, P.role, P.old_customer_id, P.new_customer_id).order_by(P.id)
        ).all()
    for c in customers.values():
        two_level = groups[c.group_id] == "two-level"
        company = customers.get(c.company_id) if c.company_id is not None else None
        if (
            c.kind == "contact"
            and two_level
            and (company is None or company.kind != "company" or company.group_id != c.group_id)
        ):
            problems.append(f"R3: contact #{c.id} has no company of its own group")
        if c.kind == "contact" and not two_level and c.company_id is not None:
            problems.append(f"R2: contact #{c.id} of a one-level group has a company")
        if company is not None and c.active and not company.active:
            problems.append(f"R19/R21: active contact #{c.id} in deactivated company #{company.id}")
    replayed = replay_protocol(list(entries))
    for t in tickets.values():
        on = [t.main_customer_id, *extra[t.id]]
        if len(set(on)) != len(on):
            problems.append(
                f"R17: ticket #{t.id} names a customer twice: main {t.main_customer_id}, extra {extra[t.id]}"
            )
        if t.state == "open":
            for cid in on:
                if cid not in customers or not customers[cid].active:
                    problems.append(f"R15/R18: open ticket #{t.id} names deactivated customer #{cid}")
        if t.number != f"T{t.id:07d}":
            problems.append(f"ticket #{t.id} has number {t.number!r}")
        if replayed.get(t.id, (None, set())) != (t.main_customer_id, set(extra[t.id])):
            problems.append(
                f"R16: the protocol of ticket #{t.id} tells {replayed.get(t.id)}, the ticket has "
                f"main {t.main_customer_id}, extra {sorted(extra[t.id])}"
            )
    return problems


def table_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the database at `url`, ordered by primary key."""
    with engine_for(url).connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(sa.select(t).order_by(*t.primary_key.columns))]
            for t in Base.metadata.sorted_tables
        }


def fingerprint(url: str) -> tuple[Any, ...]:
    """In one query, what any write changes: each table's row count (each write adds to the audit log), the
    sum of the customers' versions, the open tickets and whom they name, the pending deletions."""

    def total(column: Any, *where: Any) -> Any:
        return sa.select(sa.func.coalesce(sa.func.sum(column), 0)).where(*where).scalar_subquery()

    def count(table: Any, *where: Any) -> Any:
        return sa.select(sa.func.count()).select_from(table).where(*where).scalar_subquery()

    tables = Base.metadata.tables
    columns = [count(t) for t in Base.metadata.sorted_tables] + [
        total(C.version),
        count(T, T.state == "open"),
        total(T.main_customer_id),
        total(A.customer_id),
        *(
            count(tables[name], tables[name].c.deleted_at.is_not(None))
            for name in ("comments", "attachments")
        ),
    ]
    with engine_for(url).connect() as conn:
        return tuple(conn.execute(sa.select(*columns)).one())


# -- races -----------------------------------------------------------------------------------------------------------


@dataclass
class Result:
    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


RACING = "cmkit-race-"


def race(*fns: Callable[[], Any], timeout: float = 60) -> list[Result]:
    """Run `fns` in threads released together by a barrier; each one's value or the error it raised."""
    barrier = threading.Barrier(len(fns))
    results = [Result() for _ in fns]

    def run(i: int, fn: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout)
            results[i].value = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            results[i].error = exc

    threads = [
        threading.Thread(target=run, args=(i, fn), daemon=True, name=f"{RACING}{i}")
        for i, fn in enumerate(fns)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    stuck = [i for i, t in enumerate(threads) if t.is_alive()]
    assert not stuck, f"operations {stuck} did not finish within {timeout}s (a lock that is never released?)"
    return results


@contextmanager
def held_commits(url: str, seconds: float) -> Iterator[None]:
    """Make every commit of a racing thread wait `seconds` first, holding its locks, so that the racing
    operations surely overlap however the threads are scheduled."""

    def hold(conn: Any) -> None:
        if threading.current_thread().name.startswith(RACING):
            time.sleep(seconds)

    engine = engine_for(url)
    sa.event.listen(engine, "commit", hold)
    try:
        yield
    finally:
        sa.event.remove(engine, "commit", hold)


# -- faults ----------------------------------------------------------------------------------------------------------


class InjectedFault(RuntimeError):
    """The failure the tests inject into an operation (a crash, a lost connection, a bug)."""


@dataclass
class StatementFault:
    """Counts the statements (and commits) an engine runs while armed; raises `error` just before the
    statement number `at` (1-based), or instead of that commit."""

    at: int | None = None
    error: Callable[[str], BaseException] = lambda sql: InjectedFault(f"injected before: {sql[:80]}")
    once: bool = True
    seen: list[str] = field(default_factory=list)
    fired: bool = False

    def __call__(
        self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool
    ) -> None:
        self.step(statement)

    def on_commit(self, conn: Any) -> None:
        self.step("COMMIT")

    def step(self, statement: str) -> None:
        self.seen.append(statement)
        if self.at is not None and len(self.seen) == self.at and not (self.once and self.fired):
            self.fired = True
            raise self.error(statement)


@contextmanager
def injected(url: str, fault: StatementFault) -> Iterator[StatementFault]:
    """Arm `fault` on the engine of `url` for the duration of the block."""
    engine = engine_for(url)
    sa.event.listen(engine, "before_cursor_execute", fault)
    sa.event.listen(engine, "commit", fault.on_commit)
    try:
        yield fault
    finally:
        sa.event.remove(engine, "before_cursor_execute", fault)
        sa.event.remove(engine, "commit", fault.on_commit)
