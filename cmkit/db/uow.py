"""The unit of work: one transaction per operation, the only place that commits.

Writers take their locks up front (SQLite: BEGIN IMMEDIATE; PostgreSQL: SELECT ... FOR UPDATE on the
customers they depend on) and are retried when the database reports a deadlock or a serialization failure.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from cmkit.db.schema import AuditEntry
from cmkit.errors import ValidationError

T = TypeVar("T")
RETRY_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected
ATTEMPTS = 5


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UnitOfWork:
    """An open transaction with what an operation needs: the session, the acting user, one clock reading."""

    def __init__(self, session: Session, user: str, run_id: str | None) -> None:
        self.session = session
        self.user = user
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
        self.session.execute(
            insert(AuditEntry).values(
                at=self.now,
                user_name=self.user,
                action=action,
                entity=entity,
                entity_id=entity_id,
                customer_id=customer_id,
                before=before,
                after=after,
                run_id=self.run_id,
            )
        )


def _retryable(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code in RETRY_SQLSTATES:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


@contextmanager
def transaction(engine: Engine, user: str, *, write: bool, run_id: str | None = None) -> Iterator[UnitOfWork]:
    """One transaction: committed when the block ends normally, rolled back on any exception."""
    bound = engine.execution_options(cmkit_write=write)
    with Session(bound, expire_on_commit=False, autoflush=True) as session, session.begin():
        yield UnitOfWork(session, user, run_id)


def run(
    engine: Engine, user: str, fn: Callable[[UnitOfWork], T], *, write: bool, run_id: str | None = None
) -> T:
    """Run `fn` in one transaction, again (up to 5 times) when the database asks for a retry."""
    for attempt in range(ATTEMPTS):
        try:
            with transaction(engine, user, write=write, run_id=run_id) as uow:
                return fn(uow)
        except UnicodeEncodeError as exc:  # text no database can take, given as a search or filter value
            raise ValidationError(
                "text",
                f"contains the invalid character U+{ord(exc.object[exc.start]):04X} (a lone surrogate: "
                "text decoded wrongly); re-read it as UTF-8",
            ) from None
        except DBAPIError as exc:
            if "cannot contain NUL" in str(
                exc.orig
            ):  # PostgreSQL takes no NUL in text, given as a search value
                raise ValidationError("text", "contains the NUL character (U+0000); remove it") from None
            if attempt + 1 >= ATTEMPTS or not _retryable(exc):
                raise
            time.sleep(0.02 * (2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover
