"""word tables: ordered word indexes for searching customers and tickets on PostgreSQL

A GIN trigram index finds every row matching a word before the first can be returned, so a search that
wants the first ten customers of a common prefix reads tens of thousands (autocomplete 20-50 ms over a
million customers). `customer_words` holds one row per (folded word, customer) of `customers.search_key`,
`in_name` telling the words of the name part (before ' | ') from the others; its btree on
(word text_pattern_ops, customer_id) answers a prefix as a range and a whole word in customer order.
`ticket_words` does the same for the tickets' subjects (`tickets.search_key`).

It is kept true in the transaction that changes a customer, by statement-level triggers with transition
tables for inserts and deletes (a bulk load is one INSERT ... SELECT) and row-level triggers for the
updates that change a key (most updates, such as a transfer or a deactivation, change none), run as the owner (SECURITY DEFINER) so that a login's
change reaches it too. A login reads `customer_words` under row-level security by the customer's group,
which the table carries, like `customers` itself, and `ticket_words` of the tickets it may read (the
btree's operators are leakproof, so the index is used there).
The SQL is this revision's own copy. SQLite keeps its FTS5 tables: nothing to do there.

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: the separator of a customer's name words and the rest in its search key (cmkit.domain.text.PART_SEP then)
PART_SEP = " | "
FUNCTIONS = (
    "cmkit_words_insert()", "cmkit_words_update()", "cmkit_words_delete()", "cmkit_words_truncate()",
    "cmkit_ticket_words_insert()", "cmkit_ticket_words_update()", "cmkit_ticket_words_delete()",
    "cmkit_ticket_words_truncate()",
)


def _words(rows: str) -> str:
    """SELECT (word, customer_id, group_id, in_name) of the customers `rows` (a table with id, group_id and
    search_key), each word of a customer once."""
    return f"""SELECT w.word, r.id, r.group_id, bool_or(w.in_name)
FROM {rows} r CROSS JOIN LATERAL (
  SELECT unnest(string_to_array(split_part(r.search_key, '{PART_SEP}', 1), ' ')) AS word, true AS in_name
  UNION ALL
  SELECT unnest(string_to_array(substr(r.search_key, strpos(r.search_key, '{PART_SEP}') + {len(PART_SEP)}), ' ')),
         false
  WHERE strpos(r.search_key, '{PART_SEP}') > 0
) w
WHERE w.word <> ''
GROUP BY w.word, r.id, r.group_id"""


def _forget(rows: str) -> str:
    """DELETE the words of the customers `rows` (by their keys: the btree finds each (word, customer))."""
    return f"""DELETE FROM customer_words cw USING ({_words(rows)}) AS o(word, customer_id, group_id, in_name)
  WHERE cw.word = o.word AND cw.customer_id = o.customer_id"""


def postgresql_words(schema: str) -> list[str]:
    """The table, its index, triggers and policy (`schema` quoted)."""
    definer = f"SECURITY DEFINER SET search_path = {schema}, pg_catalog SET jit = off"
    insert = f"INSERT INTO customer_words (word, customer_id, group_id, in_name) {_words('new_rows')}"
    old_row = "(SELECT OLD.id AS id, OLD.group_id AS group_id, OLD.search_key AS search_key)"
    new_row = "(SELECT NEW.id AS id, NEW.group_id AS group_id, NEW.search_key AS search_key)"
    return [
        "CREATE TABLE customer_words (word text NOT NULL, customer_id bigint NOT NULL, "
        "group_id integer NOT NULL, in_name boolean NOT NULL)",
        # the words of the customers there are, set-based, then the index built once (sorting once is
        # faster than keeping it true row by row)
        f"INSERT INTO customer_words (word, customer_id, group_id, in_name) {_words('customers')}",
        "CREATE INDEX ix_search_customer_words ON customer_words "
        "(word text_pattern_ops, customer_id) INCLUDE (in_name, group_id)",
        # autocomplete looks at names only: a city's many rows must not be read to find no name
        "CREATE INDEX ix_search_customer_name_words ON customer_words (word text_pattern_ops, customer_id) "
        "WHERE in_name",
        "ANALYZE customer_words",
        f"""CREATE FUNCTION cmkit_words_insert() RETURNS trigger LANGUAGE plpgsql {definer} AS $$
BEGIN
  {insert};
  RETURN NULL;
END $$""",
        f"""CREATE FUNCTION cmkit_words_update() RETURNS trigger LANGUAGE plpgsql {definer} AS $$
BEGIN
  {_forget(old_row)};
  INSERT INTO customer_words (word, customer_id, group_id, in_name) {_words(new_row)};
  RETURN NULL;
END $$""",
        f"""CREATE FUNCTION cmkit_words_delete() RETURNS trigger LANGUAGE plpgsql {definer} AS $$
BEGIN
  {_forget('old_rows')};
  RETURN NULL;
END $$""",
        f"""CREATE FUNCTION cmkit_words_truncate() RETURNS trigger LANGUAGE plpgsql {definer} AS $$
BEGIN
  TRUNCATE customer_words;
  RETURN NULL;
END $$""",
        "CREATE TRIGGER cmkit_words_insert AFTER INSERT ON customers REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION cmkit_words_insert()",
        # per row, and only where the key or the group is set and changes: a statement with transition
        # tables fires on every UPDATE (PostgreSQL takes no column list there), and most updates of
        # customers (deactivation, versions, companies) change neither (10,000 contacts: +0.3 s for nothing)
        "CREATE TRIGGER cmkit_words_update AFTER UPDATE OF search_key, group_id ON customers FOR EACH ROW "
        "WHEN ((OLD.search_key, OLD.group_id) IS DISTINCT FROM (NEW.search_key, NEW.group_id)) "
        "EXECUTE FUNCTION cmkit_words_update()",
        "CREATE TRIGGER cmkit_words_delete AFTER DELETE ON customers REFERENCING OLD TABLE AS old_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION cmkit_words_delete()",
        "CREATE TRIGGER cmkit_words_truncate AFTER TRUNCATE ON customers "
        "FOR EACH STATEMENT EXECUTE FUNCTION cmkit_words_truncate()",
        "ALTER TABLE customer_words ENABLE ROW LEVEL SECURITY",
        "CREATE POLICY cmkit_read ON customer_words FOR SELECT "
        "USING (group_id = ANY ((SELECT cmkit_groups('read'))::int[]))",
    ]


def _ticket_words(rows: str) -> str:
    """SELECT (word, ticket_id) of the tickets `rows` (a table with id and search_key), each word once."""
    return f"""SELECT DISTINCT w.word, r.id FROM {rows} r
CROSS JOIN LATERAL unnest(string_to_array(r.search_key, ' ')) AS w(word) WHERE w.word <> ''"""


def postgresql_ticket_words(schema: str) -> list[str]:
    """The tickets' word table, its index, triggers and policy (`schema` quoted)."""
    definer = f"SECURITY DEFINER SET search_path = {schema}, pg_catalog SET jit = off"
    row = "(SELECT {r}.id AS id, {r}.search_key AS search_key)"
    forget = (
        "DELETE FROM ticket_words tw USING ({}) AS o(word, ticket_id) "
        "WHERE tw.word = o.word AND tw.ticket_id = o.ticket_id"
    )
    body = {
        "insert": f"INSERT INTO ticket_words (word, ticket_id) {_ticket_words('new_rows')}",
        "update": forget.format(_ticket_words(row.format(r="OLD")))
        + f"; INSERT INTO ticket_words (word, ticket_id) {_ticket_words(row.format(r='NEW'))}",
        "delete": forget.format(_ticket_words("old_rows")),
        "truncate": "TRUNCATE ticket_words",
    }
    out = [
        "CREATE TABLE ticket_words (word text NOT NULL, ticket_id bigint NOT NULL)",
        f"INSERT INTO ticket_words (word, ticket_id) {_ticket_words('tickets')}",
        "CREATE INDEX ix_search_ticket_words ON ticket_words (word text_pattern_ops, ticket_id)",
        "ANALYZE ticket_words",
    ]
    for event, sql in body.items():
        out.append(
            f"""CREATE FUNCTION cmkit_ticket_words_{event}() RETURNS trigger LANGUAGE plpgsql {definer} AS $$
BEGIN
  {sql};
  RETURN NULL;
END $$"""
        )
    out += [
        "CREATE TRIGGER cmkit_words_insert AFTER INSERT ON tickets REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION cmkit_ticket_words_insert()",
        # per row, and only where the subject's key is set and changes: a transfer of 100,000 tickets
        # changes their customers, not their subjects (a statement trigger cost it 2 s for nothing)
        "CREATE TRIGGER cmkit_words_update AFTER UPDATE OF search_key ON tickets FOR EACH ROW "
        "WHEN (OLD.search_key IS DISTINCT FROM NEW.search_key) EXECUTE FUNCTION cmkit_ticket_words_update()",
        "CREATE TRIGGER cmkit_words_delete AFTER DELETE ON tickets REFERENCING OLD TABLE AS old_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION cmkit_ticket_words_delete()",
        "CREATE TRIGGER cmkit_words_truncate AFTER TRUNCATE ON tickets "
        "FOR EACH STATEMENT EXECUTE FUNCTION cmkit_ticket_words_truncate()",
        "ALTER TABLE ticket_words ENABLE ROW LEVEL SECURITY",
        # a login reads the words of the tickets it may read (the tickets' own policy, asked per row)
        "CREATE POLICY cmkit_read ON ticket_words FOR SELECT "
        "USING ((SELECT cmkit_reads_all()) OR EXISTS (SELECT 1 FROM tickets t WHERE t.id = ticket_id))",
    ]
    return out


def _readers(conn: sa.Connection) -> list[str]:
    """The roles that may read `customers` (the database's reader role, when users were set up)."""
    return list(
        conn.execute(
            sa.text(
                "SELECT DISTINCT grantee::text FROM information_schema.role_table_grants "
                "WHERE table_schema = current_schema() AND table_name = 'customers' "
                "AND privilege_type = 'SELECT' AND grantee::text NOT IN (current_user::text, 'PUBLIC')"
            )
        ).scalars()
    )


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    quote = conn.dialect.identifier_preparer.quote
    # filling the tables groups and sorts a row per word of every customer and ticket
    conn.execute(sa.text("SET LOCAL work_mem = '256MB'"))
    conn.execute(sa.text("SET LOCAL maintenance_work_mem = '512MB'"))
    for statement in postgresql_words(quote(schema)) + postgresql_ticket_words(quote(schema)):
        conn.execute(sa.text(statement))
    conn.execute(sa.text(f"REVOKE ALL ON FUNCTION {', '.join(FUNCTIONS)} FROM PUBLIC"))
    for role in _readers(conn):
        conn.execute(sa.text(f"GRANT SELECT ON customer_words, ticket_words TO {quote(role)}"))


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for statement in (
        "DROP TABLE IF EXISTS customer_words, ticket_words",
        f"DROP FUNCTION IF EXISTS {', '.join(FUNCTIONS)} CASCADE",
    ):
        conn.execute(sa.text(statement))
