"""The errors cmkit raises. Every message names the rule or field and says what would make it possible."""

from __future__ import annotations

import errno
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


class CMError(Exception):
    """Base of every error cmkit raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(CMError):
    """A customer, ticket, queue or other record does not exist (or no longer does)."""


class ValidationError(CMError):
    """A value or configuration key is not acceptable; `.field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ConfigError(ValidationError):
    """The configuration is refused; `.field` is the dotted key, e.g. `groups.retail.model`."""


class DiskFull(CMError):
    """The disk holding the database (or a backup being written) is full; nothing was changed."""


#: SQLite's result code SQLITE_FULL, PostgreSQL's SQLSTATE disk_full
_SQLITE_FULL, _PG_DISK_FULL = 13, "53100"


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (a driver error, one wrapped by SQLAlchemy in `.orig`, or an OSError) says the disk is
    full: SQLite's SQLITE_FULL, PostgreSQL's disk_full, or ENOSPC."""
    orig = getattr(exc, "orig", None) or exc
    return (
        getattr(orig, "sqlite_errorcode", None) == _SQLITE_FULL
        or getattr(orig, "sqlstate", None) == _PG_DISK_FULL
        or (isinstance(orig, OSError) and orig.errno == errno.ENOSPC)
        or "database or disk is full" in str(orig)
    )


class PermissionDenied(CMError):
    """The acting user lacks the permission the operation needs."""


class PreconditionFailed(CMError):
    """A rule refuses the operation. `.problems` lists the rules' messages, `.blocking` the blocking tickets,
    `.changed` (R34) the rows that differ from what an applied plan saw: entity, id, planned, now."""

    def __init__(
        self,
        problems: Iterable[str],
        blocking: pd.DataFrame | None = None,
        changed: pd.DataFrame | None = None,
    ) -> None:
        import pandas as pd

        self.problems = list(problems)
        super().__init__("\n".join(self.problems))
        if blocking is None:
            blocking = pd.DataFrame(columns=["id", "number", "subject", "state", "customer_id", "role"])
        self.blocking = blocking
        if changed is None:
            changed = pd.DataFrame(columns=["entity", "id", "planned", "now"])
        self.changed = changed


class StaleVersion(CMError):
    """An edit was made against an older version than the stored one (R5)."""

    def __init__(self, message: str, current_version: int | None = None) -> None:
        super().__init__(message)
        self.current_version = current_version
