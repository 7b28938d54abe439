"""The unit of work: one transaction per operation, the only place that commits.

Writers take their locks up front (SQLite: BEGIN IMMEDIATE; PostgreSQL: SELECT ... FOR UPDATE on the
customers they depend on) and are retried when the database reports a deadlock or a serialization failure.
Every audit entry (R29) is written here, by `UnitOfWork.audit`, `audit_many` or `audit_customers`, and
chained to the one before (R33, cmkit.db.audit_chain).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from sqlalchemy import Engine, Table, insert, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from cmkit.db import audit_chain, checkpoints, pending
from cmkit.db.among import among
from cmkit.db.change import Change
from cmkit.db.engine import sqlite_file
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
        time_value, json_value = self._audit_converters(bulk=len(todo) >= BULK_AUDIT_ROWS)
        at = time_value(self.now)
        # a bulk change repeats the same values: hash and convert each pair once
        shared: dict[tuple[int, int], tuple[str, Any, Any]] = {}
        rows = []
        for c in todo:
            key = (id(c.before), id(c.after))
            got = shared.get(key)
            if got is None:
                got = shared[key] = (
                    chain.data_hash(c.before, c.after),
                    json_value(c.before),
                    json_value(c.after),
                )
            data, before, after = got
            new = chain.link(prev, text(c.action, c.entity, c.entity_id, c.customer_id, data))
            rows.append(
                (at, self.user, self.login, c.action, c.entity, c.entity_id, c.customer_id)
                + (before, after, self.run_id, data, prev or None, new)
            )
            prev = new
        self._insert_audit(rows)

    def _audit_converters(self, *, bulk: bool) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
        """How the audit rows' time and before/after values reach the insert: as they are for the ORM (a
        few rows), else as the driver takes them (see _insert_audit); None stays None."""
        if not bulk:
            return _same, _same
        if not self.is_sqlite:
            return dt.datetime.isoformat, _json_text
        table = cast(Table, AuditEntry.__table__)
        dialect = self.session.get_bind().dialect
        time_fn = table.c["at"].type.dialect_impl(dialect).bind_processor(dialect) or _same
        json_fn = table.c["before"].type.dialect_impl(dialect).bind_processor(dialect) or _same
        return time_fn, lambda v: None if v is None else json_fn(v)

    def _insert_audit(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert audit rows (values of AUDIT_COLUMNS) in their order: a few through the ORM, a bulk change
        by the driver: COPY on PostgreSQL (a row per parameter set would cost a round trip each; one
        statement carrying the rows as a JSON document took 0.6 s for 10,000 entries, mostly parsing it),
        executemany on SQLite (10,000 entries took 0.6 s through the ORM's insert)."""
        if len(rows) < BULK_AUDIT_ROWS:
            self.session.execute(insert(AuditEntry), [dict(zip(AUDIT_COLUMNS, r, strict=True)) for r in rows])
            return
        conn = self.session.connection()
        if self.is_sqlite:
            marks = ", ".join("?" * len(AUDIT_COLUMNS))
            conn.exec_driver_sql(f"INSERT INTO audit_log ({_AUDIT_NAMES}) VALUES ({marks})", rows)  # noqa: S608 - our column names
            return
        if self._row_security:
            # a login under row-level security, which refuses COPY: the columns as arrays (10,000 entries
            # in 0.25 s, against 0.11 s by COPY)
            conn.exec_driver_sql(_PG_ROWS, tuple(list(column) for column in zip(*rows, strict=True)))
            return
        driver = conn.connection.driver_connection
        with driver.cursor() as cur, cur.copy(f"COPY audit_log ({_AUDIT_NAMES}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)

    def audit_customers(self, action: str, customer_ids: Any, before: Any, after: Any) -> None:
        """One audit entry per active customer in `customer_ids` (a select or ids), with the same values
        before and after for each (a bulk change such as a deactivation)."""
        C = CustomerRow
        ids = self.session.execute(
            select(C.id).where(among(C.id, customer_ids), C.active.is_(True)).order_by(C.id)
        ).scalars()
        self.audit_each(action, ids.all(), before, after)

    @functools.cached_property
    def _row_security(self) -> bool:
        """PostgreSQL: whether row-level security applies to this login's writes of the audit log (which
        then refuses COPY); asked once per unit of work."""
        found = self.session.connection().exec_driver_sql("SELECT row_security_active('audit_log')").scalar()
        return bool(found)

    @property
    def _threads_share_connection(self) -> bool:
        """Whether another thread may use this unit of work's connection while this one waits (not an
        in-memory SQLite database, whose connection is bound to the thread that opened it)."""
        return not self.is_sqlite or sqlite_file(self.session.get_bind()) is not None  # type: ignore[arg-type]

    def audit_each(
        self,
        action: str,
        customer_ids: Sequence[int],
        before: Any,
        after: Any,
        *,
        meanwhile: Callable[[], None] | None = None,
    ) -> None:
        """One audit entry per customer in `customer_ids`, in their order, all with the same values before
        and after (R29): the entries of a bulk change, chained (R33) and written in one statement with no
        object per entry.

        `meanwhile`: the change itself, run in a thread of its own while the entries are hashed here (the
        database driver lets go of the interpreter while it writes: 10,000 entries hashed in 12 ms beside
        an UPDATE of 30 ms, on SQLite); the entries are written after it. Should it have chained an entry
        itself (PostgreSQL's statement log, for a login), they are hashed again after that one."""
        if meanwhile is not None and (
            len(customer_ids) < BULK_AUDIT_ROWS or not self._threads_share_connection
        ):
            meanwhile()  # first: a few entries, or a connection bound to its thread (SQLite in memory)
            meanwhile = None
        if len(customer_ids) < BULK_AUDIT_ROWS:
            self.audit_many(Change(action, "customer", i, i, before, after) for i in customer_ids)
            return
        prev = audit_chain.head(self.session)
        data = chain.data_hash(before, after)
        text = chain.entry_texts(chain.microseconds(self.now), self.user, self.login, self.run_id)
        texts = (text(action, "customer", i, i, data) for i in customer_ids)
        if meanwhile is None:
            hashes = chain.links(prev, texts)
        else:
            hashes, prev = _hashed_meanwhile(self.session, prev, texts, meanwhile)
        time_value, json_value = self._audit_converters(bulk=True)
        at, old, new = time_value(self.now), json_value(before), json_value(after)
        if self.is_sqlite:  # 10,000 entries in 75 ms (as one statement of tuples: 135 ms)
            params = {
                "at": at,
                "user": self.user,
                "login": self.login,
                "action": action,
                "entity": "customer",
            }
            params |= {"before": old, "after": new, "run": self.run_id, "data": data, "first": prev or None}
            params |= {"ids": json.dumps([int(i) for i in customer_ids]), "hashes": "".join(hashes).encode()}
            self.session.connection().exec_driver_sql(_SQLITE_EACH, params)
            return
        prevs = [prev or None, *hashes[:-1]]
        if not self._row_security:  # the owner: by COPY (see _insert_audit), 30 ms less for 10,000 entries
            shared = (at, self.user, self.login, action, "customer")
            self._insert_audit(
                [
                    (*shared, i, i, old, new, self.run_id, data, p, h)
                    for i, p, h in zip(customer_ids, prevs, hashes, strict=True)
                ]
            )
            return
        params = {"at": at, "user": self.user, "login": self.login, "action": action, "entity": "customer"}
        params |= {"before": old, "after": new, "run": self.run_id, "data": data}
        params |= {"ids": [int(i) for i in customer_ids], "prevs": prevs, "hashes": hashes}
        self.session.connection().exec_driver_sql(_PG_EACH, params)


#: from this many entries on, an audit insert goes by the driver (COPY on PostgreSQL; on SQLite executemany, or
#: for audit_each one INSERT ... SELECT)
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
#: SQLite: audit_each's entries, the shared values as parameters, the ids a JSON array and the hashes one
#: blob of 64-byte hex hashes: the n-th entry's hash is the n-th slice, its previous hash the one before
#: (`first` for the first). Inserted in the array's order (the chain's): json_each gives the elements in
#: order, and an INSERT ... SELECT inserts each as it comes (R33's tests verify the chain after a bulk change)
_SQLITE_EACH = (
    f"INSERT INTO audit_log ({_AUDIT_NAMES}) "  # noqa: S608 - our column names
    "SELECT :at, :user, :login, :action, :entity, e.value, e.value, :before, :after, :run, :data, "
    "CASE e.key WHEN 0 THEN :first ELSE CAST(substr(:hashes, e.key * 64 - 63, 64) AS TEXT) END, "
    "CAST(substr(:hashes, e.key * 64 + 1, 64) AS TEXT) FROM json_each(:ids) e"
)


#: PostgreSQL, a login under row-level security (which refuses COPY): audit_each's entries, the shared values
#: as parameters, the ids and hashes as arrays, inserted in the arrays' order (the chain's): 10,000 entries in
#: 0.14 s, against 0.11 s by COPY
_PG_EACH = (
    f"INSERT INTO audit_log ({_AUDIT_NAMES}) "  # noqa: S608 - our column names
    "SELECT %(at)s::timestamptz, %(user)s, %(login)s, %(action)s, %(entity)s, e.id, e.id, %(before)s::jsonb, "
    "%(after)s::jsonb, %(run)s, %(data)s, e.prev, e.hash "
    "FROM unnest(%(ids)s::int[], %(prevs)s::text[], %(hashes)s::text[]) WITH ORDINALITY AS e(id, prev, hash, n) "
    "ORDER BY e.n"
)
#: PostgreSQL: audit rows (AUDIT_COLUMNS) as one array per column, inserted in their order
_PG_ROWS = (
    f"INSERT INTO audit_log ({_AUDIT_NAMES}) "  # noqa: S608 - our column names
    f"SELECT {', '.join(f'r.c{i}' for i in range(len(AUDIT_COLUMNS)))} FROM unnest("
    "%s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::text[], %s::int[], %s::int[], %s::jsonb[], "
    "%s::jsonb[], %s::text[], %s::text[], %s::text[], %s::text[]) "
    f"WITH ORDINALITY AS r({', '.join(f'c{i}' for i in range(len(AUDIT_COLUMNS)))}, n) ORDER BY r.n"
)


def _hashed_meanwhile(
    session: Session, prev: str, texts: Iterable[str], meanwhile: Callable[[], None]
) -> tuple[list[str], str]:
    """The chain's hashes of `texts` linked to `prev`, computed while `meanwhile` runs in a thread of its
    own, and the head they link to: hashed again if `meanwhile` chained an entry itself.

    The write goes to the thread, the hashing stays here: a thread started to hash would take the
    interpreter first, and the write would wait for it to let go (5 ms, the switch interval). The
    session is used by one thread at a time: this one waits for the write before it goes on."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        writing = pool.submit(meanwhile)
        try:
            made = list(texts)
            hashes = chain.links(prev, made)
        finally:
            writing.result()
    now = audit_chain.head(session)
    if now != prev:
        return chain.links(now, made), now
    return hashes, prev


def _same(value: Any) -> Any:
    return value


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _retryable(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code in RETRY_SQLSTATES:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


@contextmanager
def transaction(
    engine: Engine, user: str, *, write: bool, run_id: str | None = None, login: str | None = None
) -> Iterator[UnitOfWork]:
    """One transaction: committed when the block ends normally, rolled back on any exception. A write to a
    SQLite file has the file checkpointed in the background once it committed (cmkit.db.checkpoints)."""
    bound = engine.execution_options(cmkit_write=write)
    with Session(bound, expire_on_commit=False, autoflush=True) as session, session.begin():
        yield UnitOfWork(session, user, run_id, login)
    path = sqlite_file(engine) if write else None
    if path is not None:
        checkpoints.after_commit(path)


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
