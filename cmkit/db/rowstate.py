"""What a plan saw of the rows it read (R34): one short text per row, to compare when the plan is applied.

`seen(session, reads)` reads the current state of the listed rows (customers, tickets, comments,
attachments, protocol entries) as readable texts: "v3, active, company #2" for a customer, "open, main #3,
additional #5 #7" for a ticket. A row that does not exist (any more) is "absent". Two reads of the same
rows give the same texts exactly when nothing that a plan depends on changed in between.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from cmkit.db.details_schema import AttachmentRow, CommentRow
from cmkit.db.schema import AdditionalCustomer, CustomerRow, ProtocolEntry, TicketRow

C, T, A, Cm, At, P = CustomerRow, TicketRow, AdditionalCustomer, CommentRow, AttachmentRow, ProtocolEntry
ENTITIES = ("customer", "ticket", "comment", "attachment", "protocol")
COLUMNS = ["entity", "id", "seen"]
ABSENT = "absent"
CHUNK = 5_000


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


def _digest(*parts: Any) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:10]


def _pending(deleted_by: str | None) -> str:
    return f", pending deletion by {deleted_by}" if deleted_by else ""


def _customers(session: Session, ids: list[int]) -> dict[int, str]:
    rows = session.execute(select(C.id, C.version, C.active, C.company_id).where(C.id.in_(ids))).all()
    return {
        i: f"v{v}, {'active' if a else 'deactivated'}" + (f", company #{co}" if co is not None else "")
        for i, v, a, co in rows
    }


def _tickets(session: Session, ids: list[int]) -> dict[int, str]:
    extra: dict[int, list[int]] = {}
    for t, c in session.execute(select(A.ticket_id, A.customer_id).where(A.ticket_id.in_(ids))):
        extra.setdefault(t, []).append(c)
    rows = session.execute(select(T.id, T.state, T.main_customer_id).where(T.id.in_(ids))).all()
    return {
        i: f"{state}, main #{main}"
        + (", additional " + " ".join(f"#{c}" for c in sorted(extra[i])) if extra.get(i) else "")
        for i, state, main in rows
    }


def _comments(session: Session, ids: list[int]) -> dict[int, str]:
    rows = session.execute(select(Cm.id, Cm.customer_id, Cm.deleted_by, Cm.text).where(Cm.id.in_(ids))).all()
    return {i: f"customer #{c}{_pending(d)}, text {_digest(text)}" for i, c, d, text in rows}


def _attachments(session: Session, ids: list[int]) -> dict[int, str]:
    rows = session.execute(
        select(At.id, At.customer_id, At.deleted_by, At.sha256, At.name, At.description).where(At.id.in_(ids))
    ).all()
    return {i: f"customer #{c}{_pending(d)}, file {_digest(h, n, x)}" for i, c, d, h, n, x in rows}


def _protocol(session: Session, ids: list[int]) -> dict[int, str]:
    rows = session.execute(
        select(P.id, P.old_customer_id, P.old_customer_name, P.new_customer_id, P.new_customer_name).where(
            P.id.in_(ids)
        )
    ).all()
    return {i: f"#{o} -> #{n}, names {_digest(on, nn)}" for i, o, on, n, nn in rows}


READERS = {
    "customer": _customers,
    "ticket": _tickets,
    "comment": _comments,
    "attachment": _attachments,
    "protocol": _protocol,
}


def keys(reads: Mapping[str, Iterable[Any]]) -> dict[str, list[int]]:
    """`reads` as sorted lists of int ids per known entity (ValueError for an unknown entity)."""
    out: dict[str, list[int]] = {}
    for entity, ids in reads.items():
        if entity not in READERS:
            raise ValueError(f"no row state for entity {entity!r}; known: {', '.join(ENTITIES)}")
        found = sorted({int(i) for i in ids if i is not None and not pd.isna(i)})
        if found:
            out[entity] = sorted(set(out.get(entity, [])) | set(found))
    return out


def seen(session: Session, reads: Mapping[str, Iterable[Any]]) -> pd.DataFrame:
    """The state of the rows `reads` lists ({entity: ids}), now: one row each (entity, id, seen), in order."""
    rows: list[tuple[str, int, str]] = []
    for entity, ids in keys(reads).items():
        found: dict[int, str] = {}
        for part in _chunks(ids):
            found.update(READERS[entity](session, part))
        rows += [(entity, i, found.get(i, ABSENT)) for i in ids]
    rows.sort(key=lambda r: (ENTITIES.index(r[0]), r[1]))
    return pd.DataFrame(rows, columns=COLUMNS).astype({"id": "int64"})


def as_reads(frame: pd.DataFrame | None) -> dict[str, list[int]]:
    """The {entity: ids} of a `seen` table."""
    if frame is None or frame.empty:
        return {}
    return {str(e): [int(i) for i in g["id"]] for e, g in frame.groupby("entity", sort=False)}
