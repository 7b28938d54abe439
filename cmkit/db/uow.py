"""The unit of work: one transaction per operation, the only place that commits.

Writers take their locks up front (SQLite: BEGIN IMMEDIATE; PostgreSQL: SELECT ... FOR UPDATE on the
customers they depend on) and are retried when the database reports a deadlock or a serialization failure.
Every audit entry (R29) is written here, by `UnitOfWork.audit`, `audit_many` or `audit_customers`, and
chained to the one before (R33, cmkit.db.audit_chain).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from sqlalchemy import Engine, Table, insert, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from cmkit.db import audit_chain, pending
from cmkit.db.among import among
from cmkit.db.change import Change
from cmkit.db.schema import AuditEntry, CustomerRow
from cmkit.domain import chain
from cmkit.errors import CMError, DiskFull, ValidationError, is_disk_full

T = TypeVar("T")
RETRY_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected
ATTEMPTS = 5


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UnitOfWork:
    """An open transaction with what an operation needs: the session, the acting user, one clock reading."""

    def __init__(self, session: Session, user: str, run_id: str | None, login: str | None = None) -> None:
        self.session = session
        self.user = user
        self.login = login
        self.run_id = run_id
        self.now = utcnow()
        self.is_sqlite = session.get_bind().dialect.name == "sqlite"

    def audit(
        self,
        action: str,
        entity: str,
        entity_id: int | None,
        customer_id: int | None,
        before: Any = None,
        after: Any = None,
    ) -> None:
        """Record one change with its values before and after (R29)."""
        self.audit_many([Change(action, entity, entity_id, customer_id, before, after)])

    def audit_many(self, changes: Iterable[Change]) -> None:
        """Record many changes in one statement (R29), all at this unit of work's time, user and run, each
        chained to the entry before it (R33)."""
        todo = list(changes)
        if not todo:
            return
        prev = audit_chain.head(self.session)
        text = chain.entry_texts(chain.microseconds(self.now), self.user, self.login, self.run_id)
        data_hashes: dict[tuple[int, int], str] = {}  # a bulk change repeats the same values: hash them once
        rows = []
        for c in todo:
            key = (id(c.before), id(c.after))
            data = data_hashes.get(key) or data_hashes.setdefault(key, chain.data_hash(c.before, c.after))
            new = chain.link(prev, text(c.action, c.entity, c.entity_id, c.customer_id, data))
            rows.append(
                (
                    self.now,
                    self.user,
                    self.login,
                    c.action,
                    c.entity,
                    c.entity_id,
                    c.customer_id,
                    c.before,
                    c.after,
                    self.run_id,
                    data,
                    prev or None,
                    new,
                )
            )
            prev = new
        self._insert_audit(rows)

    def _insert_audit(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert audit rows (values of AUDIT_COLUMNS) in their order: a few through the ORM, a bulk change
        by the driver (on PostgreSQL a row per parameter set would cost a round trip each)."""
        if len(rows) < BULK_AUDIT_ROWS:
            self.session.execute(insert(AuditEntry), [dict(zip(AUDIT_COLUMNS, r, strict=True)) for r in rows])
        elif self.is_sqlite:
            self._insert_audit_sqlite(rows)
        else:
            self._copy_audit_postgresql(rows)

    def _copy_audit_postgresql(self, rows: list[tuple[Any, ...]]) -> None:
        """PostgreSQL, a bulk change: COPY, in order (the ids follow it, and so the chain), every value as
        its text, each distinct time and before/after value converted once (a bulk change shares them). One
        statement carrying the rows as a JSON document took 0.6 s for 10,000 entries, mostly parsing it."""

        def text_of(v: Any) -> Any:
            return v.isoformat() if isinstance(v, dt.datetime) else json.dumps(v)

        converted = _shared_conversion(rows, {n: text_of for n in ("at", "before", "after")})
        driver = self.session.connection().connection.driver_connection
        with driver.cursor() as cur, cur.copy(f"COPY audit_log ({_AUDIT_NAMES}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for row in converted:
                copy.write_row(row)

    def _insert_audit_sqlite(self, rows: list[tuple[Any, ...]]) -> None:
        """SQLite, a bulk change: the driver's executemany with the values converted as the columns' types
        convert them, each distinct time and before/after value once (a bulk change shares them: 10,000
        entries took 0.6 s through the ORM's insert)."""
        table = cast(Table, AuditEntry.__table__)
        conn = self.session.connection()
        processors = {n: table.c[n].type.bind_processor(conn.dialect) for n in AUDIT_COLUMNS}
        converted = _shared_conversion(rows, {n: fn for n, fn in processors.items() if fn is not None})
        sql = f"INSERT INTO audit_log ({_AUDIT_NAMES}) VALUES ({', '.join('?' * len(AUDIT_COLUMNS))})"  # noqa: S608 - our column names
        conn.exec_driver_sql(sql, converted)

    def audit_customers(self, action: str, customer_ids: Any, before: Any, after: Any) -> None:
        """One audit entry per active customer in `customer_ids` (a select or ids), with the same values
        before and after for each (a bulk change such as a deactivation)."""
        C = CustomerRow
        ids = self.session.execute(
            select(C.id).where(among(C.id, customer_ids), C.active.is_(True)).order_by(C.id)
        ).scalars()
        self.audit_many(Change(action, "customer", i, i, before, after) for i in ids)


#: from this many entries on, an audit insert goes by the driver (COPY on PostgreSQL, executemany on SQLite)
BULK_AUDIT_ROWS = 50
#: the columns of the audit rows UnitOfWork.audit_many builds, in the order of their values
AUDIT_COLUMNS = (
    "at",
    "user_name",
    "login",
    "action",
    "entity",
    "entity_id",
    "customer_id",
    "before",
    "after",
    "run_id",
    "data_hash",
    "prev_hash",
    "hash",
)
_AUDIT_NAMES = ", ".join(f'"{n}"' for n in AUDIT_COLUMNS)


def _shared_conversion(
    rows: list[tuple[Any, ...]], convert: dict[str, Callable[[Any], Any]]
) -> list[tuple[Any, ...]]:
    """`rows` with the values of the columns in `convert` converted, each distinct object once (the entries
    of a bulk change share their time and their values before and after); None stays None."""
    at = [AUDIT_COLUMNS.index(n) for n in convert]
    fns = [convert[n] for n in convert]
    done: dict[tuple[int, int], Any] = {}
    out = []
    for row in rows:
        values = list(row)
        for i, fn in zip(at, fns, strict=True):
            v = values[i]
            if v is not None:
                key = (i, id(v))
                values[i] = done[key] if key in done else done.setdefault(key, fn(v))
        out.append(tuple(values))
    return out


def _retryable(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code in RETRY_SQLSTATES:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


@contextmanager
def transaction(
    engine: Engine, user: str, *, write: bool, run_id: str | None = None, login: str | None = None
) -> Iterator[UnitOfWork]:
    """One transaction: committed when the block ends normally, rolled back on any exception."""
    bound = engine.execution_options(cmkit_write=write)
    with Session(bound, expire_on_commit=False, autoflush=True) as session, session.begin():
        yield UnitOfWork(session, user, run_id, login)


def plainly(exc: Exception) -> CMError | None:
    """What the user is told of a database error that their input or the machine caused (None: another)."""
    if isinstance(exc, UnicodeEncodeError):  # text no database can take, given as a search or filter value
        return ValidationError(
            "text",
            f"contains the invalid character U+{ord(exc.object[exc.start]):04X} (a lone surrogate: "
            "text decoded wrongly); re-read it as UTF-8",
        )
    if isinstance(exc, DBAPIError) and is_disk_full(exc):
        return DiskFull(
            "the disk holding the database is full: this change was not made (its transaction was "
            "rolled back, the database is as it was before); free space on that disk, then try again"
        )
    if isinstance(exc, DBAPIError) and "cannot contain NUL" in str(exc.orig):  # PostgreSQL takes no NUL
        return ValidationError("text", "contains the NUL character (U+0000); remove it")
    return None


def within(work: UnitOfWork, fn: Callable[[UnitOfWork], T], *, run_id: str | None = None) -> T:
    """Run `fn` inside the open unit of work `work` (an enclosing transaction), under a savepoint: what
    `fn` changed is undone if it raises, the rest of the enclosing transaction stays. No retry: a
    conflict is the enclosing transaction's to report."""
    saved = work.run_id
    work.run_id = run_id or saved
    try:
        with work.session.begin_nested():
            return fn(work)
    except (UnicodeEncodeError, DBAPIError) as exc:
        said = plainly(exc)
        if said is not None:
            raise said from None
        raise
    finally:
        work.run_id = saved


def run(
    engine: Engine,
    user: str,
    fn: Callable[[UnitOfWork], T],
    *,
    write: bool,
    run_id: str | None = None,
    login: str | None = None,
    finalize_pending: bool = True,
) -> T:
    """Run `fn` in one transaction, again (up to 5 times) when the database asks for a retry.

    A write first makes the user's pending deletions final (R11: the user's next other action does),
    unless `finalize_pending=False` (undoing a pending deletion is not "another action").
    """
    for attempt in range(ATTEMPTS):
        try:
            with transaction(engine, user, write=write, run_id=run_id, login=login) as uow:
                if write and finalize_pending:
                    uow.audit_many(pending.finalize(uow.session, user))
                return fn(uow)
        except (UnicodeEncodeError, DBAPIError) as exc:
            said = plainly(exc)
            if said is not None:
                raise said from None
            assert isinstance(exc, DBAPIError)
            if attempt + 1 >= ATTEMPTS or not _retryable(exc):
                raise
            time.sleep(0.02 * (2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover
