"""Faults in the middle of an operation: a failure injected before each statement of each multi-step
operation (and at its commit) leaves the database exactly as before (R17 "all or nothing", R30); a
transient failure the database asks to retry is retried and applies the operation once; a process killed
with SIGKILL in the middle of a transfer loses nothing that was committed and leaves nothing half done.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import pytest
import sqlalchemy as sa
from detail_samples import pdf_bytes, png_bytes
from helpers import Snapshot
from reliability import InjectedFault, StatementFault, injected, violations

import cmkit
from cmkit import CustomerManager
from cmkit.db import engine as engine_module
from cmkit.db.engine import engine_for
from cmkit.db.schema import Base

Ids = dict[str, int]


# -- the operations, each with the data it works on ----------------------------------------------------------------


def _company_with_contacts(cm: CustomerManager, name: str, *contacts: str) -> list[int]:
    comp = cm.create_company("retail", name=name, city="Köln")
    return [comp.id, *(cm.create_contact("retail", company=comp.id, last_name=n).id for n in contacts)]


def build_transfer(cm: CustomerManager) -> Ids:
    comp, src, dst, other = _company_with_contacts(cm, "Acme", "Source", "Target", "Other")
    cm.create_ticket(src, "helpdesk", "main, open")
    cm.close_ticket(cm.create_ticket(src, "helpdesk", "main, closed").id)
    cm.create_ticket(other, "helpdesk", "src additional", additional=[src])
    cm.create_ticket(src, "helpdesk", "target additional", additional=[dst])
    cm.create_ticket(dst, "helpdesk", "target main", additional=[src, other])
    return {"src": src, "dst": dst}


def build_deactivate(cm: CustomerManager) -> Ids:
    comp, a, b, c = _company_with_contacts(cm, "Acme", "A", "B", "C")
    cm.close_ticket(cm.create_ticket(a, "helpdesk", "closed").id)
    cm.add_comment(b, "keeps its comment")
    return {"company": comp}


def build_merge(cm: CustomerManager) -> Ids:
    comp, surv, d1, d2, other = _company_with_contacts(cm, "Acme", "Meier", "Meyer", "Maier", "Other")
    cm.edit(d1, email="meyer@example.org", tier="gold")
    cm.create_ticket(d1, "helpdesk", "dup main")
    cm.create_ticket(other, "helpdesk", "both on it", additional=[surv, d2])
    cm.close_ticket(cm.create_ticket(d2, "helpdesk", "closed").id)
    cm.add_comment(d1, "comment of a duplicate")
    cm.add_attachments(d2, {"scan.pdf": pdf_bytes("scan")})
    return {"surv": surv, "d1": d1, "d2": d2}


def build_delete(cm: CustomerManager) -> Ids:
    comp, gone, heir = _company_with_contacts(cm, "Acme", "Gone", "Heir")
    t = cm.create_ticket(gone, "helpdesk", "handed over")
    cm.transfer_tickets(gone, heir, only_open=False)
    assert cm.protocol(t.id)["old_customer_id"].notna().any()
    cm.add_comment(gone, "one")
    cm.add_comment(gone, "two")
    cm.add_attachments(gone, {"a.png": png_bytes(), "b.txt": b"plain text"})
    return {"gone": gone}


def build_contacts(cm: CustomerManager) -> Ids:
    comp, a, b, c = _company_with_contacts(cm, "Acme", "A", "B", "C")
    other = cm.create_company("retail", name="Other")
    pending = cm.add_comment(a, "deleted, not yet final")
    cm.delete_comment(pending)  # the next write makes it final (R11): a fault must keep it pending
    return {"comp": comp, "a": a, "b": b, "c": c, "other": other.id}


def build_reactivate(cm: CustomerManager) -> Ids:
    comp, a = _company_with_contacts(cm, "Acme", "A")
    cm.deactivate(comp)
    return {"comp": comp, "a": a}


def transfer_complete(cm: CustomerManager, ids: Ids) -> None:
    """The transfer ran once: every ticket of the source is the target's, with one protocol entry each."""
    assert cm.tickets(ids["src"]).empty
    moved = cm.tickets(ids["dst"])
    assert len(moved) == 5
    assert all((cm.protocol(t)["action"] == "transferred").sum() == 1 for t in moved["id"])


def all_deactivated(cm: CustomerManager, ids: Ids) -> None:
    assert not cm.frame("customers")["active"].any()


def merged(cm: CustomerManager, ids: Ids) -> None:
    assert len(cm.tickets(ids["surv"])) == 3 and cm.customer(ids["surv"])["tier"] == "gold"
    assert len(cm.comments(ids["surv"])) == 1 and len(cm.attachments(ids["surv"])) == 1


def deleted_with_details(cm: CustomerManager, ids: Ids) -> None:
    assert cm.frame("comments").empty and cm.frame("attachments").empty


def uploaded(cm: CustomerManager, ids: Ids) -> None:
    assert sorted(cm.attachments(ids["a"])["name"]) == ["one.pdf", "three.csv", "two.png"]


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[CustomerManager], Ids]
    run: Callable[[CustomerManager, Ids], Any]
    check: Callable[[CustomerManager, Ids], None] = lambda cm, ids: None

    def __str__(self) -> str:
        return self.name


CASES = [
    Case(
        "transfer",
        build_transfer,
        lambda cm, i: cm.transfer_tickets(i["src"], i["dst"], only_open=False),
        transfer_complete,
    ),
    Case("deactivate_cascade", build_deactivate, lambda cm, i: cm.deactivate(i["company"]), all_deactivated),
    Case("merge", build_merge, lambda cm, i: cm.merge(i["surv"], [i["d1"], i["d2"]]), merged),
    Case("delete", build_delete, lambda cm, i: cm.delete(i["gone"]), deleted_with_details),
    Case(
        "upload",
        build_contacts,
        lambda cm, i: cm.add_attachments(
            i["a"],
            {"one.pdf": pdf_bytes("one"), "two.png": png_bytes(), "three.csv": b"a;b\n1;2\n"},
            description="d",
        ),
        uploaded,
    ),
    Case(
        "create_ticket",
        build_contacts,
        lambda cm, i: cm.create_ticket(i["a"], "helpdesk", "t", additional=[i["b"], i["c"]]),
    ),
    Case("change_company", build_contacts, lambda cm, i: cm.change_company(i["a"], i["other"])),
    Case("edit", build_contacts, lambda cm, i: cm.edit(i["a"], first_name="Anna", email="a@example.org")),
    Case("deactivate_many", build_contacts, lambda cm, i: cm.deactivate_many([i["comp"], i["other"]])),
    Case("reactivate", build_reactivate, lambda cm, i: cm.reactivate(i["comp"])),
]
CORE = {
    "transfer",
    "deactivate_cascade",
    "merge",
    "delete",
    "upload",
}  # the list: swept in the light run
LIGHT_STRIDE = 3  # the light run fails every third statement of the core operations (and the commit),
HEAVY_STRIDE = 2  # the heavy run every statement of those, and every other one of the others


# -- sweeping a fault over the statements --------------------------------------------------------------------------


def statements_of(case: Case, cm: CustomerManager, url: str) -> int:
    """How many statements (and commits) the operation runs, counted on a copy of its data."""
    probe = StatementFault()
    ids = case.build(cm)
    with injected(url, probe):
        case.run(cm, ids)
    return len(probe.seen)


def run_case(case: Case, db_url: str, snapshot: Snapshot, stride: int) -> int:
    """Fail the operation before each chosen statement (every `stride`-th, and the commit, the last one):
    each failed attempt must leave every table as it was. Then it runs through and does all it should.
    Returns the number of faults injected."""
    cm = cmkit.connect(db_url, user="admin")
    total = statements_of(case, cm, db_url)
    ids = case.build(cm)
    points = sorted({*range(1, total + 1, stride), total})
    for at in points:
        before = snapshot()
        fault = StatementFault(at=at)
        with injected(db_url, fault), pytest.raises(InjectedFault):
            case.run(cm, ids)
        assert snapshot() == before, (
            f"{case}: a fault before statement {at} of {total} left changes: {fault.seen[-1]}"
        )
    done = StatementFault()
    with injected(db_url, done):
        case.run(cm, ids)
    assert len(done.seen) == total
    case.check(cm, ids)
    assert violations(db_url) == []
    assert cm.check_invariants().empty
    return len(points)


@pytest.mark.parametrize("case", [c for c in CASES if c.name in CORE], ids=str)
def test_r30_fault_inside_an_operation_changes_nothing(case: Case, db_url: str, snapshot: Snapshot) -> None:
    run_case(case, db_url, snapshot, LIGHT_STRIDE)


@pytest.mark.heavy
@pytest.mark.parametrize("case", CASES, ids=str)
def test_r30_fault_at_any_statement_changes_nothing(case: Case, db_url: str, snapshot: Snapshot) -> None:
    run_case(case, db_url, snapshot, 1 if case.name in CORE else HEAVY_STRIDE)


# -- transient failures are retried, and the operation applies once ----------------------------------------------------


def transient(db_url: str) -> Callable[[str], BaseException]:
    """The error the database raises when it asks for a retry (PostgreSQL: serialization failure)."""
    orig: Exception
    if db_url.startswith("sqlite"):
        orig = sqlite3.OperationalError("database is locked")
    else:  # psycopg comes with the postgres extra, which running on PostgreSQL needs anyway
        import psycopg

        orig = psycopg.errors.SerializationFailure("could not serialize access due to concurrent update")
    return lambda sql: sa.exc.OperationalError(sql, None, orig)


def test_transient_failure_at_any_statement_is_retried(db_url: str) -> None:
    """A transfer told to retry (a serialization failure, a locked file) before any of its statements or at
    its commit is run again and applies once: it adds the rows a run without the failure adds.
    The tickets go back and forth between two customers, so that each run starts from an equal state."""
    cm = cmkit.connect(db_url)
    ids = build_transfer(cm)
    a, b = ids["dst"], ids["src"]
    cm.transfer_tickets(b, a, only_open=False)  # from now on, the source is alone on its five tickets
    probe = StatementFault()
    start = counts(db_url)
    with injected(db_url, probe):
        cm.transfer_tickets(a, b, only_open=False)
    clean = added_since(db_url, start)
    assert clean["ticket_protocol"] == 5
    for at in range(1, len(probe.seen) + 1):
        a, b = b, a
        start = counts(db_url)
        fault = StatementFault(at=at, error=transient(db_url))
        with injected(db_url, fault):
            outcome = cm.transfer_tickets(a, b, only_open=False)
        assert fault.fired and len(outcome.changes) == 5
        assert added_since(db_url, start) == clean, f"retried after a failure before statement {at}"
        assert len(cm.tickets(b)) == 5 and cm.tickets(a).empty
    assert violations(db_url) == []


def counts(url: str) -> dict[str, int]:
    with engine_for(url).connect() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in Base.metadata.sorted_tables
        }


def added_since(url: str, start: dict[str, int]) -> dict[str, int]:
    return {k: v - start[k] for k, v in counts(url).items()}


# -- a process killed in the middle of a transfer ------------------------------------------------------------------


def _transfer_until_halted(url: str, src: int, dst: int, where: str | int, report: Connection) -> None:
    """In the child process: run the transfer on fresh connections and halt at `where` (the start of a
    statement, a statement's number counting commits, "commit", or "after" the transfer), telling the parent."""
    engine_module._ENGINES.clear()  # the parent's pooled connections stay untouched; these are the child's own
    cm = cmkit.connect(url)

    def halt(statement: str) -> None:
        report.send(("HALTED", statement))
        time.sleep(120)

    def check(statement: str) -> None:
        if where == len(counter.seen) or (isinstance(where, str) and statement.upper().startswith(where)):
            halt(statement)

    counter = StatementFault()
    counter.step = lambda statement: (counter.seen.append(statement), check(statement))  # type: ignore[method-assign]
    with injected(url, counter):
        cm.transfer_tickets(src, dst, only_open=False)
    report.send(("DONE", ""))
    time.sleep(120)


def kill_transfer_at(db_url: str, ids: Ids, where: str | int) -> str:
    """Run the transfer in a forked process, halt it at `where`, and kill it there with SIGKILL.
    Returns what the child was about to run when it was killed ("" once the transfer was done)."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(
        target=_transfer_until_halted, args=(db_url, ids["src"], ids["dst"], where, send), daemon=True
    )
    child.start()
    try:
        assert receive.poll(60), f"the transfer never reached {where!r}"
        state, statement = receive.recv()
        assert state == ("DONE" if where == "after" else "HALTED"), (where, state)
        return str(statement)
    finally:
        os.kill(child.pid or 0, signal.SIGKILL)
        child.join(30)


KILL_POINTS = [
    "INSERT INTO TICKET_PROTOCOL",
    "DELETE FROM TICKET_ADDITIONAL",
    "UPDATE TICKETS",
    "UPDATE TICKET_ADDITIONAL",
    "INSERT INTO AUDIT_LOG",
    "COMMIT",
]


def killed_transfer(db_url: str, snapshot: Snapshot, points: list[str | int]) -> int:
    """Kill the transfer at each point: each time the database is as before (as seen by new connections,
    as after a restart). Then kill it once it is done: all of it is there. Returns the kills."""
    cm = cmkit.connect(db_url)
    ids = build_transfer(cm)
    for where in points:
        before = snapshot()
        kill_transfer_at(db_url, ids, where)
        engine_for(db_url).dispose()
        assert snapshot() == before, f"a transfer killed at {where} left changes"
    kill_transfer_at(db_url, ids, "after")
    engine_for(db_url).dispose()
    transfer_complete(cm, ids)
    assert violations(db_url) == []
    cm.create_ticket(ids["src"], "helpdesk", "the database takes writes after the kills")
    return len(points) + 1


def test_r17_transfer_killed_midway_is_all_or_nothing(db_url: str, snapshot: Snapshot) -> None:
    killed_transfer(db_url, snapshot, list(KILL_POINTS))


@pytest.mark.heavy
def test_r17_transfer_killed_at_every_other_statement_is_all_or_nothing(
    db_url: str, snapshot: Snapshot
) -> None:
    total = statements_of(CASES[0], cmkit.connect(db_url), db_url)
    killed_transfer(db_url, snapshot, list(range(1, total + 1, HEAVY_STRIDE)))
