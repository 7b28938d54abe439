"""search indexes

Folded search keys for tickets, the customers' keys recomputed (name part, then the other text fields),
and the indexes that answer searches: FTS5 tables kept true by triggers on SQLite, pg_trgm and
text_pattern_ops indexes on PostgreSQL (see cmkit.db.search_sql). The FTS tables and the expression
indexes are not part of the ORM metadata; cmkit.db.migrate.include_object leaves them out of comparisons.

Revision ID: 0003
Revises: 0002
"""
import json

from alembic import op
import sqlalchemy as sa

from cmkit.db import search_sql
from cmkit.domain.config import FieldDef
from cmkit.domain.text import search_key
from cmkit.domain.keys import key_for

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BATCH = 10_000


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
    if conn.dialect.name == "sqlite":
        for ddl in search_sql.sqlite_ddl() + search_sql.sqlite_refill():
            op.execute(ddl)
    else:
        for ddl in search_sql.postgresql_ddl():
            op.execute(ddl)


def downgrade() -> None:
    conn = op.get_bind()
    for ddl in search_sql.sqlite_drop() if conn.dialect.name == "sqlite" else search_sql.postgresql_drop():
        op.execute(ddl)
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("search_key")
