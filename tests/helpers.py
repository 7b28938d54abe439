"""The types of the fixtures in conftest.py, for the test modules' signatures: `from helpers import Snapshot`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from cmkit import Customer, Ticket

#: every row of every table, by table name, in primary-key order
Rows = dict[str, list[tuple[object, ...]]]
#: the `snapshot` fixture: takes the rows of the test database now
Snapshot = Callable[[], Rows]


class MakeTicket(Protocol):
    """The `make_ticket` fixture: make_ticket(main, *additional, closed=False, queue=None, subject=None)."""

    def __call__(
        self,
        main: Customer,
        *additional: Customer,
        closed: bool = False,
        queue: str | None = None,
        subject: str | None = None,
    ) -> Ticket: ...
