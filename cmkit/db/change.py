"""One audit entry to write (R29), as the operations describe it; `UnitOfWork.audit_many` writes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Change:
    """What was done to which record, with its values before and after."""

    action: str
    entity: str
    entity_id: int | None
    customer_id: int | None
    before: Any = None
    after: Any = None
