"""no trigram indexes

PostgreSQL searches read the word tables of revision 0006 alone (cmkit.db.search_pg), so the GIN trigram
indexes over the customers' and tickets' search keys are read by nothing. They were not free: an UPDATE
that changes an indexed column (a transfer changes `tickets.main_customer_id`, a deactivation
`customers.active` and `version`) is not HOT, and writes a new entry into every index of the row's table,
the trigram indexes of its key included, although the key did not change. Dropping them makes those
updates cheaper; the downgrade builds them again (this revision's own copy of their definitions).
The function cmkit_matching of revision 0004 stays (nothing calls it; it returns only ids of rows the
calling login may read). SQLite has no such indexes: nothing to do.

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TRIGRAM_INDEXES = {
    "ix_search_customers_trgm": "ON customers USING gin ((' ' || search_key || ' ') gin_trgm_ops)",
    "ix_search_customers_name_trgm": "ON customers USING gin ((' ' || split_part(search_key, ' | ', 1) || ' ') gin_trgm_ops)",
    "ix_search_tickets_trgm": "ON tickets USING gin ((' ' || search_key || ' ') gin_trgm_ops)",
}


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for name in TRIGRAM_INDEXES:
        conn.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    conn.execute(sa.text("SET LOCAL maintenance_work_mem = '512MB'"))
    for name, spec in TRIGRAM_INDEXES.items():
        conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {name} {spec}"))
