"""Writing and reading the audit chain (R33): the head, serialised writers, verification.

Writers serialise on the chain's head: on PostgreSQL a transaction-scoped advisory lock taken before the
head is read (held to commit, so entries' ids and the chain agree); on SQLite the writer holds the
file's write lock already. The hashing itself is cmkit.domain.chain.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Text, bindparam, case, func, literal, select, text, update
from sqlalchemy.orm import Session

from cmkit.db import repo
from cmkit.db.schema import AuditEntry, ProtocolEntry
from cmkit.domain import chain

L = AuditEntry
#: the advisory lock that serialises writers of the chain (PostgreSQL), b"cmkitaud" as a number
LOCK_KEY = 0x636D6B6974617564
BATCH = 5_000


def head(session: Session) -> str:
    """The hash of the newest entry ('' for an empty log), after taking the chain's lock."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    found = session.execute(select(L.hash).order_by(L.id.desc()).limit(1)).scalar()
    return found or chain.GENESIS


def _pg_data_hash() -> Any:
    """PostgreSQL's own data hash of an entry (for entries it wrote itself: `pg:` data hashes)."""
    return literal("pg:") + func.encode(
        # cast to text, as the trigger does (a bounded varchar would cut a long entry's values short)
        func.sha256(func.convert_to(func.jsonb_build_array(L.before, L.after).cast(Text), "UTF8")),
        "hex",
    )


def _entries(session: Session, after_id: int, limit: int) -> Any:
    pg = session.get_bind().dialect.name == "postgresql"
    recomputed: Any = (
        case((L.data_hash.like("pg:%"), _pg_data_hash()), else_=literal(None)) if pg else literal(None)
    )
    return (
        select(
            L.id,
            L.at,
            L.user_name,
            L.login,
            L.action,
            L.entity,
            L.entity_id,
            L.customer_id,
            L.run_id,
            L.data_hash,
            L.prev_hash,
            L.hash,
            L.scrubbed,
            L.before,
            L.after,
            recomputed.label("recomputed"),
        )
        .where(L.id > after_id)
        .order_by(L.id)
        .limit(limit)
    )


def stored(session: Session) -> Iterator[chain.Stored]:
    """Every entry in id order, read in batches, with its data hash recomputed from its stored values."""
    last = 0
    while True:
        rows = session.execute(_entries(session, last, BATCH)).all()
        for r in rows:
            again = r.recomputed
            if again is None and not r.scrubbed and (r.data_hash or "").startswith("py:"):
                again = chain.data_hash(r.before, r.after)
            yield chain.Stored(
                r.id,
                r.at,
                r.user_name,
                r.login,
                r.action,
                r.entity,
                r.entity_id,
                r.customer_id,
                r.run_id,
                r.data_hash,
                r.prev_hash,
                r.hash,
                bool(r.scrubbed),
                None if r.scrubbed else again,
            )
        if len(rows) < BATCH:
            return
        last = rows[-1].id


def latest(session: Session) -> str:
    """The hash of the newest entry, whoever may read it ('' for an empty log); no lock."""
    if session.get_bind().dialect.name == "postgresql":
        return str(session.execute(text("SELECT cmkit_audit_head()")).scalar() or chain.GENESIS)
    return session.execute(select(L.hash).order_by(L.id.desc()).limit(1)).scalar() or chain.GENESIS


def scrub(session: Session, changes: list[tuple[int, Any, Any]]) -> None:
    """Replace these entries' values before and after (id, before, after) and mark them scrubbed (R24):
    their hashes stay, so the chain holds. On PostgreSQL through the owner's function, which checks that the
    login may change the entries' customers."""
    if not changes:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT cmkit_scrub_audit(CAST(:i AS bigint[]), CAST(:b AS jsonb[]), CAST(:a AS jsonb[]))"),
            {
                "i": [c[0] for c in changes],
                "b": [json.dumps(c[1]) for c in changes],
                "a": [json.dumps(c[2]) for c in changes],
            },
        )
        return
    table = repo.table_of(L)
    session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(before=bindparam("b_before"), after=bindparam("b_after"), scrubbed=True),
        [{"b_id": i, "b_before": b, "b_after": a} for i, b, a in changes],
    )


def rename_in_protocol(session: Session, names: dict[int, str]) -> None:
    """The ticket protocol names customer id -> this name from now on (anonymise: the protocol is
    append-only, R33; on PostgreSQL through the owner's function)."""
    if not names:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT cmkit_rename_in_protocol(CAST(:i AS integer[]), CAST(:n AS text[]))"),
            {"i": list(names), "n": list(names.values())},
        )
        return
    table = repo.table_of(ProtocolEntry)
    rows = [{"b_id": i, "b_name": n} for i, n in names.items()]
    for side in ("old", "new"):
        session.execute(
            update(table)
            .where(table.c[f"{side}_customer_id"] == bindparam("b_id"))
            .values({f"{side}_customer_name": bindparam("b_name")}),
            rows,
        )
