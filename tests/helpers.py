"""The types of the fixtures in conftest.py, for the test modules' signatures (`from helpers import Snapshot`),
and what git holds of a file (`committed`)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
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


def committed(path: Path) -> str:
    """The text git holds for `path`: the index, what is (or is about to be) committed. A working copy may
    keep a notebook's outputs (the nbstripout filter of `make hooks` strips them on the way into git);
    outside a git checkout, or for a file git does not track yet, the file's own text."""
    try:
        found = subprocess.run(
            ["git", "show", f":./{path.name}"],
            cwd=path.parent,
            capture_output=True,
            check=False,
            timeout=30,
        )
    except OSError:  # no git
        return path.read_text(encoding="utf-8")
    return found.stdout.decode("utf-8") if found.returncode == 0 else path.read_text(encoding="utf-8")
