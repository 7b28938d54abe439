"""no id reuse

R17: no record id is ever handed out twice. SQLite gives a new row the largest id + 1, so after the newest
contact (or comment, attachment, ticket) was deleted the next one got its id, and the audit log and the
ticket protocol named the new record with the old one's entries. AUTOINCREMENT makes SQLite remember the
largest id it ever handed out (sqlite_sequence). A table gets AUTOINCREMENT only in its CREATE TABLE, so
each table whose ids the protocol, the audit log or the forms name is rebuilt, every row copied with its
id, its indexes and triggers recreated. The remembered largest id starts at the largest id the table, the
audit log or the protocol ever named, so an id deleted before this revision is not handed out again either.

It runs with SQLite's foreign keys off (cmkit.db.migrate.upgrade turns them off outside the transaction,
and it refuses to run otherwise), and the old table is renamed away with legacy_alter_table on, so that the
other tables' foreign keys keep naming the table, not the renamed copy, and dropping the copy deletes
nothing through them; a foreign key check before the end proves every reference still holds.
PostgreSQL: identity sequences never hand out an id twice; nothing to do.

Revision ID: 0005
Revises: 0004
"""
import re

from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: table -> the statements giving ids the audit log and the protocol named (the floor of its sequence)
NAMED = {
    "customers": (
        "SELECT max(customer_id) FROM audit_log",
        "SELECT max(entity_id) FROM audit_log WHERE entity = 'customer'",
        "SELECT max(old_customer_id) FROM ticket_protocol",
        "SELECT max(new_customer_id) FROM ticket_protocol",
    ),
    "tickets": ("SELECT max(entity_id) FROM audit_log WHERE entity = 'ticket'",),
    "ticket_protocol": (),
    "comments": ("SELECT max(entity_id) FROM audit_log WHERE entity = 'comment'",),
    "attachments": ("SELECT max(entity_id) FROM audit_log WHERE entity = 'attachment'",),
    "audit_log": (),
}
_ID = re.compile(r"^(\s*)id INTEGER NOT NULL,", re.MULTILINE)
_PK = re.compile(r",\s*CONSTRAINT pk_\w+ PRIMARY KEY \(id\)")


def autoincrement_ddl(table: str, sql: str) -> str:
    """The table's CREATE TABLE statement with `id INTEGER PRIMARY KEY AUTOINCREMENT` for its primary key."""
    sql, ids = _ID.subn(r"\1id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,", sql)
    sql, pks = _PK.subn("", sql)
    if ids != 1 or pks != 1:
        raise RuntimeError(f"0005: the table {table} does not have the shape this migration knows: {sql}")
    return sql


def _rebuild(conn: sa.Connection, table: str) -> None:
    row = conn.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": table}
    ).first()
    if row is None or "AUTOINCREMENT" in row[0]:
        return
    new_sql = autoincrement_ddl(table, row[0])
    others = conn.execute(
        sa.text(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = :t AND type IN ('index', 'trigger') "
            "AND sql IS NOT NULL ORDER BY type, name"
        ),
        {"t": table},
    ).all()
    floor = max(
        [conn.execute(sa.text(f"SELECT max(id) FROM {table}")).scalar() or 0]  # noqa: S608 - fixed names
        + [conn.execute(sa.text(q)).scalar() or 0 for q in NAMED[table]]
    )
    old = f"_cmkit_0005_{table}"
    conn.exec_driver_sql(f'ALTER TABLE "{table}" RENAME TO {old}')
    for kind, name, _sql in others:
        conn.exec_driver_sql(f'DROP {kind.upper()} "{name}"')
    conn.exec_driver_sql(new_sql)
    conn.exec_driver_sql(f'INSERT INTO "{table}" SELECT * FROM {old}')  # noqa: S608 - fixed names
    conn.exec_driver_sql(f"DROP TABLE {old}")
    for _kind, _name, sql in others:
        conn.exec_driver_sql(sql)
    if floor:
        conn.exec_driver_sql(f"DELETE FROM sqlite_sequence WHERE name = '{table}'")  # noqa: S608
        conn.exec_driver_sql(f"INSERT INTO sqlite_sequence (name, seq) VALUES ('{table}', {int(floor)})")  # noqa: S608


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    if conn.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "0005 rebuilds tables, which needs SQLite's foreign keys off (with them on, dropping the old "
            "table would delete its comments and attachments): upgrade with cmkit.db.migrate.upgrade"
        )
    conn.exec_driver_sql("PRAGMA legacy_alter_table = ON")
    try:
        for table in NAMED:
            _rebuild(conn, table)
    finally:
        conn.exec_driver_sql("PRAGMA legacy_alter_table = OFF")
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"0005: foreign keys broken by the rebuild: {broken[:5]}")


def downgrade() -> None:
    """The tables keep AUTOINCREMENT: handing ids out again is what this revision ended."""
