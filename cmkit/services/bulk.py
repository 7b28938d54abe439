"""What the bulk operations share: id lists, loading many customers in one query, plan tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

import pandas as pd
from sqlalchemy import Table, select

from cmkit.db import repo
from cmkit.db.schema import CustomerGroup, CustomerRow
from cmkit.db.uow import UnitOfWork
from cmkit.errors import NotFound, ValidationError
from cmkit.services.lifecycle import LifecycleAPI
from cmkit.values import Customer

C = CustomerRow
#: At most this many ids per call: each becomes a bound parameter (SQLite allows 32,766 per statement).
MAX_IDS = 30_000


def id_list(ids: Any, field: str) -> list[int]:
    """Customer ids (or Customers) as ints, in order, without repeats; a single id counts as a list of one.
    Refuses more than MAX_IDS (ValidationError naming `field`)."""
    if isinstance(ids, str | int | Customer) or not isinstance(ids, Iterable):
        ids = [ids]
    out = {repo.id_of(x): None for x in ids}  # NotFound for anything that is not an id
    if len(out) > MAX_IDS:
        raise ValidationError(field, f"{len(out)} ids in one call; at most {MAX_IDS}: split the list")
    return list(out)


def table_of(entity: Any) -> Table:
    """The Core table of an ORM class, for executemany statements with bound parameters per row."""
    return cast(Table, entity.__table__)


def empty_plan(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


class BulkAPI(LifecycleAPI):
    def _customers(self, work: UnitOfWork, ids: Sequence[int], permissions: Sequence[str]) -> list[Customer]:
        """Snapshots of the customers `ids` (in that order), read in one query, after checking each of
        `permissions` on each of their groups. NotFound names every missing id."""
        rows = {
            row.id: (row, group)
            for row, group in work.session.execute(
                select(C, CustomerGroup.name)
                .join(CustomerGroup, CustomerGroup.id == C.group_id)
                .where(C.id.in_(list(ids)))
                .execution_options(populate_existing=True)
            ).all()
        }
        missing = [i for i in ids if i not in rows]
        if missing:
            shown = ", ".join(f"#{i}" for i in missing[:20]) + (" ..." if len(missing) > 20 else "")
            raise NotFound(f"{len(missing)} customer(s) do not exist (deleted, or never created): {shown}")
        for group in sorted({g for _r, g in rows.values()}):
            for permission in permissions:
                self.require(permission, group)
        return [repo.snapshot(*rows[i]) for i in ids]
