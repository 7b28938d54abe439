"""The audit chain (R33) as pure functions: what of an audit entry is hashed, and how entries link.

Every entry carries `data_hash` (its values before and after), `prev_hash` (the hash of the entry before
it, in id order) and `hash` = SHA-256 over the previous hash and the entry's canonical text. Changing,
removing or reordering an entry breaks the link to the next one; `verify` names the first such entry.
A scrub (R24) replaces an entry's values but keeps its data hash, so the chain survives it.

Entries written by cmkit hash their values here (`py:` data hashes); entries that PostgreSQL writes
itself for raw SQL hash them in the database (`pg:`, see cmkit.db.trust_sql); both chain alike.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
GENESIS = ""  # the "previous hash" of the first entry


def microseconds(at: dt.datetime) -> int:
    """An entry's time as whole microseconds since 1970 (UTC; a time without zone is taken as UTC)."""
    moment = at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at
    return (moment - EPOCH) // dt.timedelta(microseconds=1)


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def data_hash(before: Any, after: Any) -> str:
    """The hash of an entry's values before and after (`py:` + hex), independent of key order."""
    return "py:" + hashlib.sha256(_canonical_json([before, after]).encode("utf-8")).hexdigest()


def _field(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("%", "%25").replace("|", "%7C")


def entry_text(
    at_us: int,
    user_name: str,
    login: str | None,
    action: str,
    entity: str,
    entity_id: int | None,
    customer_id: int | None,
    run_id: str | None,
    data: str,
) -> str:
    """The canonical text of an entry: its fields joined by `|` (in fields, `%` and `|` percent-escaped)."""
    return entry_texts(at_us, user_name, login, run_id)(action, entity, entity_id, customer_id, data)


def entry_texts(
    at_us: int, user_name: str, login: str | None, run_id: str | None
) -> Callable[[str, str, int | None, int | None, str], str]:
    """entry_text with the fields one unit of work shares fixed (escaped once): for the entries of a bulk
    change, `text(action, entity, entity_id, customer_id, data)`."""
    head = f"{_field(at_us)}|{_field(user_name)}|{_field(login)}|"
    tail = f"|{_field(run_id)}|"
    escaped: dict[str, str] = {}  # the actions, entities and data hashes of a bulk change repeat

    def esc(value: str) -> str:
        found = escaped.get(value)
        return found if found is not None else escaped.setdefault(value, _field(value))

    def num(value: int | None) -> str:  # an id has no character to escape
        return "" if value is None else str(value) if type(value) is int else _field(value)

    def text(action: str, entity: str, entity_id: int | None, customer_id: int | None, data: str) -> str:
        return f"{head}{esc(action)}|{esc(entity)}|{num(entity_id)}|{num(customer_id)}{tail}{esc(data)}"

    return text


def link(prev_hash: str, text: str) -> str:
    """The entry's hash: SHA-256 (hex) over the previous entry's hash, a newline, and its canonical text."""
    return hashlib.sha256(f"{prev_hash}\n{text}".encode()).hexdigest()


def links(prev_hash: str, texts: Iterable[str]) -> list[str]:
    """The hashes of consecutive entries with canonical `texts`, the first linked to `prev_hash`."""
    out: list[str] = []
    for text in texts:
        prev_hash = link(prev_hash, text)
        out.append(prev_hash)
    return out


@dataclass(frozen=True)
class Stored:
    """An audit entry as read back for verification."""

    id: int
    at: dt.datetime
    user_name: str
    login: str | None
    action: str
    entity: str
    entity_id: int | None
    customer_id: int | None
    run_id: str | None
    data_hash: str | None
    prev_hash: str | None
    hash: str | None
    scrubbed: bool
    #: the data hash as recomputed from the stored values (None for a scrubbed entry)
    recomputed: str | None


@dataclass(frozen=True)
class Finding:
    """The first entry at which the chain does not hold: its id and why (None when the chain holds)."""

    entries: int
    head: str
    first_bad: int | None = None
    reason: str = ""
    anchor_found: bool = False


def verify(entries: Iterable[Stored], anchor: str | None = None) -> Finding:
    """Walk the entries in id order: each must link to the one before and hash to its own `hash`; an
    entry not scrubbed must still hold the values its data hash was made of. `anchor`, a head recorded
    earlier, must be the hash of one of the entries."""
    prev, count, found = GENESIS, 0, anchor is None
    for e in entries:
        count += 1
        if e.hash is None or e.data_hash is None:
            return Finding(count, prev, e.id, f"entry #{e.id} has no hash: written outside the chain")
        if (e.prev_hash or GENESIS) != prev:
            why = "the entry before it was changed, removed, or this one was inserted out of order"
            return Finding(count, prev, e.id, f"entry #{e.id} does not link to the entry before it ({why})")
        text = entry_text(
            microseconds(e.at),
            e.user_name,
            e.login,
            e.action,
            e.entity,
            e.entity_id,
            e.customer_id,
            e.run_id,
            e.data_hash,
        )
        if link(prev, text) != e.hash:
            return Finding(
                count, prev, e.id, f"entry #{e.id} was changed: its fields no longer give its hash"
            )
        if not e.scrubbed and e.recomputed != e.data_hash:
            return Finding(count, prev, e.id, f"entry #{e.id} was changed: its values before/after differ")
        prev = e.hash
        found = found or e.hash == anchor
    if not found:
        return Finding(count, prev, None, f"the anchor {anchor} is not on the chain: the past was rewritten")
    return Finding(count, prev, None, "", anchor_found=anchor is not None)


def chained(prev: str, texts: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(prev_hash, hash) for each canonical text in turn, starting after `prev`."""
    for text in texts:
        new = link(prev, text)
        yield prev, new
        prev = new
