"""search indexes

Folded search keys for tickets, the customers' keys recomputed (name part, then the other text fields),
and the indexes that answer searches: FTS5 tables kept true by triggers on SQLite, pg_trgm and
text_pattern_ops indexes on PostgreSQL. The statements are this revision's own copies, as they were when
it was written: the live ones (cmkit.db.search_ddl) may change, and a later revision then changes the
database. Only the folding comes from the live code, since the stored keys must match what the live
search folds. The FTS tables and the expression indexes are not part of the ORM metadata;
cmkit.db.migrate.include_object leaves them out of comparisons.

Revision ID: 0003
Revises: 0002
"""
import json

from alembic import op
import sqlalchemy as sa

from cmkit.domain.config import FieldDef
from cmkit.domain.text import search_key
from cmkit.domain.keys import key_for

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BATCH = 10_000

# SQLite: contentless FTS5 tables (rowid = the row's id) over the folded keys, the customers' name part
# (the key up to ' | ') in customer_name_fts; triggers keep them true; then filled from the stored keys.
SQLITE_UPGRADE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS customer_name_fts USING fts5(k, content='', detail=none, "
    "tokenize='ascii', prefix='1 2 3 4 5 6 7 8')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS customer_fts USING fts5(k, content='', detail=none, "
    "tokenize='ascii', prefix='1 2 3 4 5 6 7 8')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS ticket_fts USING fts5(k, content='', detail=none, "
    "tokenize='ascii', prefix='1 2 3 4 5 6')",
    "CREATE TRIGGER IF NOT EXISTS customers_search_ai AFTER INSERT ON customers BEGIN "
    "INSERT INTO customer_fts(rowid, k) VALUES (new.id, new.search_key); "
    "INSERT INTO customer_name_fts(rowid, k) VALUES "
    "(new.id, substr(new.search_key, 1, instr(new.search_key || ' | ', ' | ') - 1)); END",
    "CREATE TRIGGER IF NOT EXISTS customers_search_ad AFTER DELETE ON customers BEGIN "
    "INSERT INTO customer_fts(customer_fts, rowid, k) VALUES ('delete', old.id, old.search_key); "
    "INSERT INTO customer_name_fts(customer_name_fts, rowid, k) VALUES "
    "('delete', old.id, substr(old.search_key, 1, instr(old.search_key || ' | ', ' | ') - 1)); END",
    "CREATE TRIGGER IF NOT EXISTS customers_search_au AFTER UPDATE OF search_key, id ON customers "
    "WHEN old.search_key IS NOT new.search_key OR old.id IS NOT new.id BEGIN "
    "INSERT INTO customer_fts(customer_fts, rowid, k) VALUES ('delete', old.id, old.search_key); "
    "INSERT INTO customer_name_fts(customer_name_fts, rowid, k) VALUES "
    "('delete', old.id, substr(old.search_key, 1, instr(old.search_key || ' | ', ' | ') - 1)); "
    "INSERT INTO customer_fts(rowid, k) VALUES (new.id, new.search_key); "
    "INSERT INTO customer_name_fts(rowid, k) VALUES "
    "(new.id, substr(new.search_key, 1, instr(new.search_key || ' | ', ' | ') - 1)); END",
    "CREATE TRIGGER IF NOT EXISTS tickets_search_ai AFTER INSERT ON tickets BEGIN "
    "INSERT INTO ticket_fts(rowid, k) VALUES (new.id, new.search_key); END",
    "CREATE TRIGGER IF NOT EXISTS tickets_search_ad AFTER DELETE ON tickets BEGIN "
    "INSERT INTO ticket_fts(ticket_fts, rowid, k) VALUES ('delete', old.id, old.search_key); END",
    "CREATE TRIGGER IF NOT EXISTS tickets_search_au AFTER UPDATE OF search_key, id ON tickets "
    "WHEN old.search_key IS NOT new.search_key OR old.id IS NOT new.id BEGIN "
    "INSERT INTO ticket_fts(ticket_fts, rowid, k) VALUES ('delete', old.id, old.search_key); "
    "INSERT INTO ticket_fts(rowid, k) VALUES (new.id, new.search_key); END",
    "INSERT INTO customer_fts(customer_fts) VALUES ('delete-all')",
    "INSERT INTO customer_name_fts(customer_name_fts) VALUES ('delete-all')",
    "INSERT INTO ticket_fts(ticket_fts) VALUES ('delete-all')",
    "INSERT INTO customer_fts(rowid, k) SELECT id, search_key FROM customers",
    "INSERT INTO customer_name_fts(rowid, k) "
    "SELECT id, substr(search_key, 1, instr(search_key || ' | ', ' | ') - 1) FROM customers",
    "INSERT INTO ticket_fts(rowid, k) SELECT id, search_key FROM tickets",
)
SQLITE_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS customers_search_ai",
    "DROP TRIGGER IF EXISTS customers_search_ad",
    "DROP TRIGGER IF EXISTS customers_search_au",
    "DROP TRIGGER IF EXISTS tickets_search_ai",
    "DROP TRIGGER IF EXISTS tickets_search_ad",
    "DROP TRIGGER IF EXISTS tickets_search_au",
    "DROP TABLE IF EXISTS customer_fts",
    "DROP TABLE IF EXISTS customer_name_fts",
    "DROP TABLE IF EXISTS ticket_fts",
)

# PostgreSQL: trigram indexes over ' ' || key || ' ' (and over its name part), a btree for number prefixes
POSTGRESQL_UPGRADE = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS ix_search_customers_trgm ON customers "
    "USING gin ((' ' || search_key || ' ') gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS ix_search_customers_name_trgm ON customers "
    "USING gin ((' ' || split_part(search_key, ' | ', 1) || ' ') gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS ix_search_tickets_trgm ON tickets "
    "USING gin ((' ' || search_key || ' ') gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS ix_search_tickets_number ON tickets (number text_pattern_ops)",
)
POSTGRESQL_DOWNGRADE = (
    "DROP INDEX IF EXISTS ix_search_customers_trgm",
    "DROP INDEX IF EXISTS ix_search_customers_name_trgm",
    "DROP INDEX IF EXISTS ix_search_tickets_trgm",
    "DROP INDEX IF EXISTS ix_search_tickets_number",
)


def _rekey(conn: sa.Connection) -> None:
    """Recompute every customer's and ticket's folded key from its data (there are none in a new database)."""
    fields: dict[tuple[int, str], dict[str, FieldDef]] = {}
    for gid, kind, name, type_ in conn.execute(sa.text("SELECT group_id, kind, name, type FROM group_fields")):
        fields.setdefault((gid, kind), {})[name] = FieldDef(name=name, type=type_)
    for table, select, make in (
        ("customers", "SELECT id, kind, group_id, data FROM customers WHERE id > :last ORDER BY id LIMIT :n",
         lambda r: key_for(r[1], json.loads(r[3]) if isinstance(r[3], str) else r[3], fields.get((r[2], r[1]), {}))),
        ("tickets", "SELECT id, subject FROM tickets WHERE id > :last ORDER BY id LIMIT :n",
         lambda r: search_key(r[1])),
    ):
        last = 0
        while True:
            rows = conn.execute(sa.text(select), {"last": last, "n": BATCH}).all()
            if not rows:
                break
            conn.execute(
                sa.text(f"UPDATE {table} SET search_key = :k WHERE id = :id"),  # noqa: S608 - fixed table names
                [{"id": r[0], "k": make(r)} for r in rows],
            )
            last = rows[-1][0]


def upgrade() -> None:
    op.add_column("tickets", sa.Column("search_key", sa.Text(), server_default="", nullable=False))
    conn = op.get_bind()
    _rekey(conn)
    for ddl in SQLITE_UPGRADE if conn.dialect.name == "sqlite" else POSTGRESQL_UPGRADE:
        op.execute(ddl)


def downgrade() -> None:
    conn = op.get_bind()
    for ddl in SQLITE_DOWNGRADE if conn.dialect.name == "sqlite" else POSTGRESQL_DOWNGRADE:
        op.execute(ddl)
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("search_key")
