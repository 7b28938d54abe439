"""The search indexes per database, outside the ORM metadata: SQLite FTS5, PostgreSQL btrees.

The indexes are kept true inside the transaction that changes the data: on SQLite by triggers on
`customers` and `tickets` (every writer, bulk updates included), on PostgreSQL by the indexes themselves
(word tables kept by triggers, migration 0006). The statements that read them are in
cmkit.db.search_queries; the migrations carry their own copies of what they built (see revision 0003),
so these are what the live code needs: recreating the SQLite triggers after a batch migration or a bulk
load, and telling the search objects apart when the schema is compared with the models.

SQLite: `customer_name_fts` indexes the name part of `customers.search_key` (autocomplete),
`customer_fts` the whole key (quick and detail search), `ticket_fts` `tickets.search_key` (subjects).
All three are contentless FTS5 tables (rowid = the row's id) with the `ascii` tokenizer, so an FTS token
is exactly a folded word, and prefix indexes for short prefixes.
PostgreSQL: a text_pattern_ops btree on tickets.number, and the word table `customer_words` (one row per
folded word and customer, kept true by triggers on `customers`: migration 0006) and `ticket_words` (the
same for tickets' subjects), each with its text_pattern_ops btree. (The GIN trigram indexes over the keys that
revision 0003 built were dropped by 0007: nothing read them any more.)
"""

from __future__ import annotations

from typing import Any

from cmkit.domain.text import PART_SEP

#: names of the database objects that live outside the ORM metadata (migrations compare without them)
SEARCH_TABLES = ("customer_fts", "customer_name_fts", "ticket_fts")
#: PostgreSQL's word table (migration 0006; cmkit.db.search_pg reads it)
PG_SEARCH_TABLES = ("customer_words", "ticket_words")
SEARCH_INDEX_PREFIX = "ix_search_"

# Prefix lengths with an index of their own (FTS5 reads those lazily, in index order); a longer prefix is
# answered by reading the whole range of its terms first (fast for rare words, slower for common ones).
NAME_PREFIXES = "1 2 3 4 5 6 7 8"
KEY_PREFIXES = "1 2 3 4 5 6 7 8"
TICKET_PREFIXES = "1 2 3 4 5 6"


def is_search_object(name: str | None) -> bool:
    """Whether `name` is one of the search tables (or their FTS5 shadow tables) or search indexes."""
    if not name:
        return False
    return (
        name.startswith(SEARCH_INDEX_PREFIX)
        or any(name == t or name.startswith(t + "_") for t in SEARCH_TABLES)
        or name in PG_SEARCH_TABLES
    )


def name_part(key: str) -> str:
    """SQLite expression: the name part of the search key `key` (see cmkit.domain.text.PART_SEP)."""
    return f"substr({key}, 1, instr({key} || '{PART_SEP}', '{PART_SEP}') - 1)"


def sqlite_ddl() -> list[str]:
    """The FTS5 tables and the triggers that keep them true (idempotent: IF NOT EXISTS)."""
    fts = "content='', detail=none, tokenize='ascii'"
    out = [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS customer_name_fts USING fts5(k, {fts}, prefix='{NAME_PREFIXES}')",
        f"CREATE VIRTUAL TABLE IF NOT EXISTS customer_fts USING fts5(k, {fts}, prefix='{KEY_PREFIXES}')",
        f"CREATE VIRTUAL TABLE IF NOT EXISTS ticket_fts USING fts5(k, {fts}, prefix='{TICKET_PREFIXES}')",
    ]
    add_c = (
        "INSERT INTO customer_fts(rowid, k) VALUES (new.id, new.search_key); "  # noqa: S608 - fixed SQL and placeholders only
        f"INSERT INTO customer_name_fts(rowid, k) VALUES (new.id, {name_part('new.search_key')});"
    )
    drop_c = (
        "INSERT INTO customer_fts(customer_fts, rowid, k) VALUES ('delete', old.id, old.search_key); "  # noqa: S608 - fixed SQL and placeholders only
        "INSERT INTO customer_name_fts(customer_name_fts, rowid, k) "
        f"VALUES ('delete', old.id, {name_part('old.search_key')});"
    )
    add_t = "INSERT INTO ticket_fts(rowid, k) VALUES (new.id, new.search_key);"
    drop_t = "INSERT INTO ticket_fts(ticket_fts, rowid, k) VALUES ('delete', old.id, old.search_key);"
    out += [
        f"CREATE TRIGGER IF NOT EXISTS customers_search_ai AFTER INSERT ON customers BEGIN {add_c} END",
        f"CREATE TRIGGER IF NOT EXISTS customers_search_ad AFTER DELETE ON customers BEGIN {drop_c} END",
        "CREATE TRIGGER IF NOT EXISTS customers_search_au AFTER UPDATE OF search_key, id ON customers "
        f"WHEN old.search_key IS NOT new.search_key OR old.id IS NOT new.id BEGIN {drop_c} {add_c} END",
        f"CREATE TRIGGER IF NOT EXISTS tickets_search_ai AFTER INSERT ON tickets BEGIN {add_t} END",
        f"CREATE TRIGGER IF NOT EXISTS tickets_search_ad AFTER DELETE ON tickets BEGIN {drop_t} END",
        "CREATE TRIGGER IF NOT EXISTS tickets_search_au AFTER UPDATE OF search_key, id ON tickets "
        f"WHEN old.search_key IS NOT new.search_key OR old.id IS NOT new.id BEGIN {drop_t} {add_t} END",
    ]
    return out


SQLITE_TRIGGERS = (
    "customers_search_ai",
    "customers_search_ad",
    "customers_search_au",
    "tickets_search_ai",
    "tickets_search_ad",
    "tickets_search_au",
)


def sqlite_refill() -> list[str]:
    """Statements that rebuild the FTS5 tables from the stored keys (after a bulk load or a repair)."""
    return [
        "INSERT INTO customer_fts(customer_fts) VALUES ('delete-all')",
        "INSERT INTO customer_name_fts(customer_name_fts) VALUES ('delete-all')",
        "INSERT INTO ticket_fts(ticket_fts) VALUES ('delete-all')",
        "INSERT INTO customer_fts(rowid, k) SELECT id, search_key FROM customers",
        f"INSERT INTO customer_name_fts(rowid, k) SELECT id, {name_part('search_key')} FROM customers",  # noqa: S608 - fixed SQL and placeholders only
        "INSERT INTO ticket_fts(rowid, k) SELECT id, search_key FROM tickets",
    ]


def sqlite_ensure(conn: Any) -> bool:
    """Recreate missing search tables or triggers and refill the FTS tables (a migration that rebuilt
    `customers` or `tickets` in SQLite's batch mode drops their triggers). True if it had to."""
    have = {
        r[0]
        for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
    }
    if "customers" not in have or ({*SEARCH_TABLES, *SQLITE_TRIGGERS} <= have):
        return False
    for ddl in sqlite_ddl() + sqlite_refill():
        conn.exec_driver_sql(ddl)
    return True


def sqlite_drop() -> list[str]:
    """Statements that remove the FTS5 tables and their triggers."""
    return [f"DROP TRIGGER IF EXISTS {t}" for t in SQLITE_TRIGGERS] + [
        f"DROP TABLE IF EXISTS {t}" for t in SEARCH_TABLES
    ]


PG_INDEXES = {
    "ix_search_tickets_number": "ON tickets (number text_pattern_ops)",
    "ix_search_customer_words": "ON customer_words (word text_pattern_ops, customer_id) INCLUDE (in_name, group_id)",
    "ix_search_customer_name_words": "ON customer_words (word text_pattern_ops, customer_id) WHERE in_name",
    "ix_search_ticket_words": "ON ticket_words (word text_pattern_ops, ticket_id)",
}


def postgresql_ddl() -> list[str]:
    """The search indexes (idempotent: IF NOT EXISTS)."""
    return [f"CREATE INDEX IF NOT EXISTS {name} {spec}" for name, spec in PG_INDEXES.items()]


def postgresql_drop() -> list[str]:
    return [f"DROP INDEX IF EXISTS {name}" for name in PG_INDEXES]
