"""trust: the audit chain (R33) and, on PostgreSQL, the database as the boundary (R31, R32)

Every audit entry gets `login`, `data_hash`, `prev_hash`, `hash`, `scrubbed` and `txid`; existing entries
are chained in id order. On PostgreSQL: row-level security on the data tables (a login sees and writes only
rows of groups its cmkit user may), statement-level guards for the permissions of their own (deactivate,
reactivate, delete, transfer: R25), an append-only audit log and ticket protocol, the chain written by the
database for entries it writes itself, and a statement log of every change a login makes (raw SQL too).
The SQL here is this revision's own copy: later revisions change it with new migrations.

Revision ID: 0004
Revises: 0003
"""
import datetime as dt
import json

from alembic import op
import sqlalchemy as sa

from cmkit.domain import chain

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BATCH = 5_000


def _chain_existing(conn: sa.Connection) -> None:
    """Hash the entries written before the chain, in id order (nothing to do in a new database)."""
    prev, last = chain.GENESIS, 0
    while True:
        rows = conn.execute(
            sa.text(
                "SELECT id, at, user_name, action, entity, entity_id, customer_id, run_id, before, after "
                "FROM audit_log WHERE id > :last ORDER BY id LIMIT :n"
            ),
            {"last": last, "n": BATCH},
        ).all()
        updates = []
        for r in rows:
            before = json.loads(r.before) if isinstance(r.before, str) else r.before
            after = json.loads(r.after) if isinstance(r.after, str) else r.after
            at = dt.datetime.fromisoformat(r.at) if isinstance(r.at, str) else r.at
            data = chain.data_hash(before, after)
            text = chain.entry_text(
                chain.microseconds(at), r.user_name, None, r.action, r.entity, r.entity_id, r.customer_id,
                r.run_id, data,
            )
            new = chain.link(prev, text)
            updates.append({"i": r.id, "d": data, "p": prev or None, "h": new})
            prev = new
        if updates:
            conn.execute(
                sa.text("UPDATE audit_log SET data_hash = :d, prev_hash = :p, hash = :h WHERE id = :i"), updates
            )
        if len(rows) < BATCH:
            return
        last = rows[-1].id


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("login", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("data_hash", sa.String(length=70), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("scrubbed", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("txid", sa.BigInteger(), nullable=True))
    conn = op.get_bind()
    _chain_existing(conn)
    if conn.dialect.name == "postgresql":
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
        quoted = conn.dialect.identifier_preparer.quote(schema)
        for statement in postgresql_trust(quoted):
            conn.execute(sa.text(statement))


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        for statement in postgresql_untrust():
            conn.execute(sa.text(statement))
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        for column in ("txid", "scrubbed", "hash", "prev_hash", "data_hash", "login"):
            batch_op.drop_column(column)


DATA_TABLES = ("customers", "tickets", "ticket_additional_customers", "ticket_protocol", "comments",
               "attachments", "audit_log")
FUNCTIONS = (
    "cmkit_user()", "cmkit_groups(VARIADIC text[])", "cmkit_reads_all()", "cmkit_refuse(text, integer)",
    "cmkit_guard_customers()", "cmkit_guard_tickets()", "cmkit_guard_links()", "cmkit_append_only()",
    "cmkit_chain_entry()", "cmkit_statement_log()", "cmkit_entry_text(audit_log)",
    "cmkit_scrub_audit(bigint[], jsonb[], jsonb[])", "cmkit_rename_in_protocol(integer[], text[])",
    "cmkit_audit_head()", "cmkit_matching(text, boolean, text[], integer[])",
)
#: the separator of a customer's name words and the rest in its search key (cmkit.domain.text.PART_SEP then)
PART_SEP = " | "


def postgresql_trust(schema: str) -> list[str]:
    """The functions, policies and triggers of revision 0004 (`schema` quoted)."""
    definer = f"SECURITY DEFINER SET search_path = {schema}, pg_catalog"
    # The guards ask cmkit_groups() once per (group, permission) they need: `needed` is MATERIALIZED and
    # constant arguments go through a sub-select, or the planner pushes the call into the scan of every changed
    # row (deactivating 10,000 contacts took 6.4 s in the guard instead of 30 ms). JIT only costs here.
    statement_level = f"{definer} SET jit = off"
    # plpgsql caches the plan it made on an empty audit log (a sequential scan and sort): reading the head
    # per row must stay an index scan, or a bulk insert into a big log is quadratic.
    chain_level = f"{definer} SET enable_seqscan = off"
    groups = "(SELECT cmkit_groups({}))::int[]"
    read, write = groups.format("'read'"), groups.format("'write'")
    # A child row is visible when its customer (ticket) is: asked per row by key (`x IN (SELECT id FROM
    # customers)` became a linear search of a million materialised ids for every ticket), and not asked at
    # all for a login that reads every group (an initplan, once per statement).
    reads_all = "(SELECT cmkit_reads_all())"
    visible_customer = f"({reads_all} OR EXISTS (SELECT 1 FROM customers c WHERE c.id = customer_id))"
    visible_ticket = f"({reads_all} OR EXISTS (SELECT 1 FROM tickets t WHERE t.id = ticket_id))"
    visible_main = f"({reads_all} OR EXISTS (SELECT 1 FROM customers c WHERE c.id = main_customer_id))"
    out = [
        # -- who acts, and on which groups (cmkit's configuration tables are the source) -------------------------
        f"""CREATE OR REPLACE FUNCTION cmkit_user() RETURNS text LANGUAGE sql STABLE {definer} AS $$
  SELECT CASE
    WHEN coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = session_user), false)
      OR session_user::text = (SELECT pg_get_userbyid(c.relowner)::text FROM pg_class c
                                WHERE c.oid = to_regclass('customers'))
    THEN 'admin'
    WHEN session_user::text = 'admin' THEN NULL
    ELSE session_user::text END $$""",
        f"""CREATE OR REPLACE FUNCTION cmkit_groups(VARIADIC permissions text[]) RETURNS int[]
  LANGUAGE sql STABLE {definer} AS $$
  SELECT coalesce(array_agg(g.id ORDER BY g.id), '{{}}'::int[]) FROM customer_groups g
  WHERE cmkit_user() = 'admin' OR EXISTS (
    SELECT 1 FROM user_roles ur JOIN role_grants rg ON rg.role = ur.role
    WHERE ur.user_name = cmkit_user() AND rg.permission = ANY (permissions)
      AND rg.group_name IN ('*', g.name)) $$""",
        f"""CREATE OR REPLACE FUNCTION cmkit_reads_all() RETURNS boolean LANGUAGE sql STABLE {definer} AS $$
  SELECT cardinality(cmkit_groups('read')) = (SELECT count(*) FROM customer_groups) $$""",
        f"""CREATE OR REPLACE FUNCTION cmkit_refuse(permission text, group_id integer) RETURNS void
  LANGUAGE plpgsql {definer} AS $$
BEGIN
  RAISE EXCEPTION '%: login % lacks the % permission on group %',
    CASE WHEN permission = 'write' THEN 'R5' ELSE 'R25' END, session_user, permission,
    coalesce((SELECT name FROM customer_groups WHERE id = group_id), group_id::text)
    USING ERRCODE = '42501', HINT = 'the owner can grant it in [roles] (cmkit init), or use a login that holds it';
END $$""",
    ]
    # -- search under row-level security: LIKE is not leakproof, so under a login's policies the planner may not
    # use the trigram indexes for it and scans every row (an autocomplete took 2-4 s over 1,000,000 customers).
    # The owner's function matches on the index and returns only the ids of rows the login may read.
    key = "(' ' || t.search_key || ' ')"
    name_key = f"(' ' || split_part(t.search_key, '{PART_SEP}', 1) || ' ')"
    out.append(
        f"""CREATE OR REPLACE FUNCTION cmkit_matching(tbl text, names_only boolean, patterns text[], term_ends integer[])
  RETURNS SETOF integer LANGUAGE plpgsql STABLE ROWS 100 {definer} AS $$
DECLARE k text; cond text := ''; alts text; first integer := 1; readable integer[];
BEGIN
  IF tbl NOT IN ('customers', 'tickets') OR (names_only AND tbl <> 'customers') THEN
    RAISE EXCEPTION 'cmkit_matching: no search on %', tbl USING ERRCODE = '22023';
  END IF;
  k := CASE WHEN names_only THEN $k${name_key}$k$ ELSE $k${key}$k$ END;
  FOR i IN 1 .. coalesce(array_length(term_ends, 1), 0) LOOP
    alts := '';
    FOR j IN first .. term_ends[i] LOOP
      alts := alts || CASE WHEN alts = '' THEN '' ELSE ' OR ' END || k || ' LIKE $1[' || j || ']';
    END LOOP;
    cond := cond || CASE WHEN cond = '' THEN '' ELSE ' AND ' END || '(' || alts || ')';
    first := term_ends[i] + 1;
  END LOOP;
  IF cond = '' THEN RETURN; END IF;
  IF NOT cmkit_reads_all() THEN
    readable := cmkit_groups('read');
    cond := cond || CASE WHEN tbl = 'customers' THEN ' AND t.group_id = ANY ($2)'
      ELSE ' AND EXISTS (SELECT 1 FROM customers c WHERE c.id = t.main_customer_id AND c.group_id = ANY ($2))' END;
  END IF;
  RETURN QUERY EXECUTE format('SELECT t.id FROM %I t WHERE ', tbl) || cond USING patterns, readable;
END $$"""
    )
    # -- row-level security: reads by `read`, writes by the permission the change needs ----------------------------
    for table in DATA_TABLES:
        out.append(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    any_write = groups.format("'write', 'deactivate', 'reactivate', 'delete', 'transfer'")
    out += [
        f"CREATE POLICY cmkit_read ON customers FOR SELECT USING (group_id = ANY ({read}))",
        f"CREATE POLICY cmkit_insert ON customers FOR INSERT WITH CHECK (group_id = ANY ({write}))",
        f"CREATE POLICY cmkit_update ON customers FOR UPDATE USING (group_id = ANY ({read})) "
        f"WITH CHECK (group_id = ANY ({any_write}))",
        f"CREATE POLICY cmkit_delete ON customers FOR DELETE USING (group_id = ANY ({read}))",
        f"CREATE POLICY cmkit_read ON tickets FOR SELECT USING {visible_main}",
        "CREATE POLICY cmkit_insert ON tickets FOR INSERT WITH CHECK (EXISTS (SELECT 1 FROM customers c "
        f"WHERE c.id = main_customer_id AND c.group_id = ANY ({write})))",
        f"CREATE POLICY cmkit_update ON tickets FOR UPDATE USING {visible_main} WITH CHECK {visible_main}",
        f"CREATE POLICY cmkit_read ON ticket_additional_customers FOR SELECT USING ({visible_ticket})",
        f"CREATE POLICY cmkit_insert ON ticket_additional_customers FOR INSERT WITH CHECK ({visible_customer} "
        "AND EXISTS (SELECT 1 FROM tickets t JOIN customers c ON c.id = t.main_customer_id "
        f"WHERE t.id = ticket_id AND c.group_id = ANY ({any_write})))",
        f"CREATE POLICY cmkit_update ON ticket_additional_customers FOR UPDATE USING ({visible_ticket}) "
        f"WITH CHECK ({visible_customer})",
        f"CREATE POLICY cmkit_delete ON ticket_additional_customers FOR DELETE USING ({visible_ticket})",
        f"CREATE POLICY cmkit_read ON ticket_protocol FOR SELECT USING ({visible_ticket})",
        f"CREATE POLICY cmkit_insert ON ticket_protocol FOR INSERT WITH CHECK ({visible_ticket})",
        f"CREATE POLICY cmkit_read ON audit_log FOR SELECT USING {visible_customer}",
        "CREATE POLICY cmkit_insert ON audit_log FOR INSERT WITH CHECK (true)",
        # no login changes the record: these let an UPDATE or DELETE reach the append-only trigger, which
        # refuses it loudly, also after a grant added later (R33)
        "CREATE POLICY cmkit_update ON audit_log FOR UPDATE USING (true)",
        "CREATE POLICY cmkit_delete ON audit_log FOR DELETE USING (true)",
        "CREATE POLICY cmkit_update ON ticket_protocol FOR UPDATE USING (true)",
        "CREATE POLICY cmkit_delete ON ticket_protocol FOR DELETE USING (true)",
    ]
    for table, permission in (("comments", "comments"), ("attachments", "attachments")):
        mine = "EXISTS (SELECT 1 FROM customers c WHERE c.id = customer_id AND c.group_id = ANY ({}))"
        readable = mine.format(groups.format(repr(permission + "_read")))
        writable = mine.format(groups.format(repr(permission + "_write")))
        out += [
            f"CREATE POLICY cmkit_read ON {table} FOR SELECT USING ({readable})",
            f"CREATE POLICY cmkit_insert ON {table} FOR INSERT WITH CHECK ({writable})",
            f"CREATE POLICY cmkit_update ON {table} FOR UPDATE USING ({writable}) WITH CHECK ({writable})",
            f"CREATE POLICY cmkit_delete ON {table} FOR DELETE USING ({writable})",
        ]
    # -- guards: the permissions of their own (R25), per statement, over the changed rows --------------------------
    out += [
        f"""CREATE OR REPLACE FUNCTION cmkit_guard_customers() RETURNS trigger LANGUAGE plpgsql {statement_level} AS $$
DECLARE bad record;
BEGIN
  IF cmkit_user() = 'admin' THEN RETURN NULL; END IF;
  IF TG_OP = 'DELETE' THEN
    SELECT DISTINCT o.group_id AS g, 'delete' AS p INTO bad FROM old_rows o
      WHERE NOT o.group_id = ANY ((SELECT cmkit_groups('delete'))::int[]) LIMIT 1;
  ELSE
    WITH changed AS MATERIALIZED (
      SELECT o.group_id AS og, n.group_id AS ng, o.active AS oa, n.active AS na,
             (o.kind, o.group_id, o.company_id, o.name, o.search_key, o.data)
               IS DISTINCT FROM (n.kind, n.group_id, n.company_id, n.name, n.search_key, n.data) AS edited
      FROM old_rows o JOIN new_rows n USING (id)),
    needed AS MATERIALIZED (
      SELECT og AS g, 'deactivate' AS p FROM changed WHERE oa AND NOT na
      UNION SELECT og, 'reactivate' FROM changed WHERE na AND NOT oa
      UNION SELECT og, 'write' FROM changed WHERE edited OR oa = na
      UNION SELECT ng, 'write' FROM changed WHERE edited)
    SELECT needed.g, needed.p INTO bad FROM needed WHERE NOT needed.g = ANY (cmkit_groups(needed.p)) LIMIT 1;
  END IF;
  IF FOUND THEN PERFORM cmkit_refuse(bad.p, bad.g); END IF;
  RETURN NULL;
END $$""",
        f"""CREATE OR REPLACE FUNCTION cmkit_guard_tickets() RETURNS trigger LANGUAGE plpgsql {statement_level} AS $$
DECLARE bad record;
BEGIN
  IF cmkit_user() = 'admin' THEN RETURN NULL; END IF;
  WITH pairs AS MATERIALIZED (
    SELECT DISTINCT o.main_customer_id AS om, n.main_customer_id AS nm,
           (o.number, o.subject, o.queue_id, o.state, o.closed_at, o.search_key)
             IS DISTINCT FROM (n.number, n.subject, n.queue_id, n.state, n.closed_at, n.search_key)
             OR o.main_customer_id = n.main_customer_id AS edited
    FROM old_rows o JOIN new_rows n USING (id)),
  needed AS MATERIALIZED (
    SELECT c.group_id AS g, 'transfer' AS p FROM pairs JOIN customers c ON c.id = pairs.om WHERE pairs.om <> pairs.nm
    UNION SELECT c.group_id, 'transfer' FROM pairs JOIN customers c ON c.id = pairs.nm WHERE pairs.om <> pairs.nm
    UNION SELECT c.group_id, 'write' FROM pairs JOIN customers c ON c.id = pairs.om WHERE pairs.edited)
  SELECT needed.g, needed.p INTO bad FROM needed WHERE NOT needed.g = ANY (cmkit_groups(needed.p)) LIMIT 1;
  IF FOUND THEN PERFORM cmkit_refuse(bad.p, bad.g); END IF;
  RETURN NULL;
END $$""",
        f"""CREATE OR REPLACE FUNCTION cmkit_guard_links() RETURNS trigger LANGUAGE plpgsql {statement_level} AS $$
DECLARE bad record;
BEGIN
  IF cmkit_user() = 'admin' THEN RETURN NULL; END IF;
  IF TG_OP = 'UPDATE' THEN
    WITH pairs AS MATERIALIZED (
      SELECT DISTINCT o.customer_id AS oc, n.customer_id AS nc FROM old_rows o JOIN new_rows n USING (ticket_id)
      WHERE o.customer_id IS DISTINCT FROM n.customer_id),
    needed AS MATERIALIZED (
      SELECT c.group_id AS g FROM pairs JOIN customers c ON c.id = pairs.oc
      UNION SELECT c.group_id FROM pairs JOIN customers c ON c.id = pairs.nc)
    SELECT needed.g, 'transfer' AS p INTO bad FROM needed
      WHERE NOT needed.g = ANY ((SELECT cmkit_groups('transfer'))::int[]) LIMIT 1;
  ELSE  -- DELETE: the ticket's writer removes a customer, or a transfer drops one (R15, R17)
    SELECT DISTINCT m.group_id AS g, 'write' AS p INTO bad FROM old_rows o
      JOIN tickets t ON t.id = o.ticket_id JOIN customers m ON m.id = t.main_customer_id
      JOIN customers c ON c.id = o.customer_id
      WHERE NOT m.group_id = ANY ((SELECT cmkit_groups('write'))::int[])
        AND NOT c.group_id = ANY ((SELECT cmkit_groups('transfer'))::int[])
      LIMIT 1;
  END IF;
  IF FOUND THEN PERFORM cmkit_refuse(bad.p, bad.g); END IF;
  RETURN NULL;
END $$""",
        "CREATE TRIGGER cmkit_guard_update AFTER UPDATE ON customers REFERENCING OLD TABLE AS old_rows "
        "NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cmkit_guard_customers()",
        "CREATE TRIGGER cmkit_guard_delete AFTER DELETE ON customers REFERENCING OLD TABLE AS old_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION cmkit_guard_customers()",
        "CREATE TRIGGER cmkit_guard_update AFTER UPDATE ON tickets REFERENCING OLD TABLE AS old_rows "
        "NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cmkit_guard_tickets()",
        "CREATE TRIGGER cmkit_guard_update AFTER UPDATE ON ticket_additional_customers REFERENCING OLD TABLE AS "
        "old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cmkit_guard_links()",
        "CREATE TRIGGER cmkit_guard_delete AFTER DELETE ON ticket_additional_customers REFERENCING OLD TABLE AS "
        "old_rows FOR EACH STATEMENT EXECUTE FUNCTION cmkit_guard_links()",
    ]
    # -- the record cannot be rewritten (R33): append-only for everyone but the owner -------------------------------
    out += [
        # not SECURITY DEFINER: it asks who runs the statement (the owner's own functions may, R24's scrub)
        f"""CREATE OR REPLACE FUNCTION cmkit_append_only() RETURNS trigger LANGUAGE plpgsql
  SET search_path = {schema}, pg_catalog AS $$
BEGIN
  IF current_user::text <> (SELECT pg_get_userbyid(c.relowner)::text FROM pg_class c WHERE c.oid = TG_RELID)
     AND NOT coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false) THEN
    RAISE EXCEPTION 'R33: % is append-only; % by login % refused', TG_TABLE_NAME, TG_OP, session_user
      USING ERRCODE = '42501';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$""",
    ]
    for table in ("audit_log", "ticket_protocol"):
        out += [
            f"CREATE TRIGGER cmkit_append_only BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW "
            "EXECUTE FUNCTION cmkit_append_only()",
            f"CREATE TRIGGER cmkit_append_only_truncate BEFORE TRUNCATE ON {table} FOR EACH STATEMENT "
            "EXECUTE FUNCTION cmkit_append_only()",
        ]
    # -- R24's scrub and anonymised names: the owner's functions, for a login holding the permissions --------------
    may_change = "(SELECT cmkit_groups('write', 'delete'))::int[]"
    every = f"(cardinality({may_change}) = (SELECT count(*) FROM customer_groups))"
    out += [
        f"""CREATE OR REPLACE FUNCTION cmkit_scrub_audit(ids bigint[], before_values jsonb[], after_values jsonb[]) RETURNS void
  LANGUAGE plpgsql {definer} AS $$
DECLARE bad bigint;
BEGIN
  SELECT a.id INTO bad FROM audit_log a LEFT JOIN customers c ON c.id = a.customer_id
    WHERE a.id = ANY (ids) AND CASE WHEN c.id IS NULL THEN NOT {every} ELSE NOT c.group_id = ANY ({may_change}) END
    LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'R24: login % may not scrub audit entry #%: that needs the write or delete permission on its customer''s group', session_user, bad
      USING ERRCODE = '42501';
  END IF;
  UPDATE audit_log a SET before = v.b, after = v.f, scrubbed = true
    FROM unnest(ids, before_values, after_values) AS v(i, b, f) WHERE a.id = v.i;
END $$""",
        f"""CREATE OR REPLACE FUNCTION cmkit_rename_in_protocol(ids integer[], names text[]) RETURNS void
  LANGUAGE plpgsql {definer} AS $$
DECLARE bad integer;
BEGIN
  SELECT v.i INTO bad FROM unnest(ids) AS v(i) LEFT JOIN customers c ON c.id = v.i
    WHERE CASE WHEN c.id IS NULL THEN NOT {every} ELSE NOT c.group_id = ANY ({may_change}) END LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'R24: login % may not rename customer #% in the ticket protocol', session_user, bad
      USING ERRCODE = '42501';
  END IF;
  UPDATE ticket_protocol p SET old_customer_name = v.n FROM unnest(ids, names) AS v(i, n) WHERE p.old_customer_id = v.i;
  UPDATE ticket_protocol p SET new_customer_name = v.n FROM unnest(ids, names) AS v(i, n) WHERE p.new_customer_id = v.i;
END $$""",
        f"""CREATE OR REPLACE FUNCTION cmkit_audit_head() RETURNS text LANGUAGE sql STABLE {definer} AS $$
  SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1 $$""",
    ]
    # -- the chain for entries the database writes itself, the login for all (R31, R33) -------------------------
    out += [
        f"""CREATE OR REPLACE FUNCTION cmkit_entry_text(e audit_log) RETURNS text LANGUAGE sql IMMUTABLE {definer} AS $$
  SELECT concat_ws('|',
    (extract(epoch FROM e.at) * 1000000)::bigint::text,
    replace(replace(coalesce(e.user_name, ''), '%', '%25'), '|', '%7C'),
    replace(replace(coalesce(e.login, ''), '%', '%25'), '|', '%7C'),
    replace(replace(coalesce(e.action, ''), '%', '%25'), '|', '%7C'),
    replace(replace(coalesce(e.entity, ''), '%', '%25'), '|', '%7C'),
    coalesce(e.entity_id::text, ''), coalesce(e.customer_id::text, ''),
    replace(replace(coalesce(e.run_id, ''), '%', '%25'), '|', '%7C'),
    replace(replace(coalesce(e.data_hash, ''), '%', '%25'), '|', '%7C')) $$""",
        f"""CREATE OR REPLACE FUNCTION cmkit_chain_entry() RETURNS trigger LANGUAGE plpgsql {chain_level} AS $$
DECLARE prev text;
BEGIN
  NEW.login := session_user::text;
  NEW.txid := pg_current_xact_id()::text::bigint;
  NEW.scrubbed := false;
  IF NEW.hash IS NULL THEN
    PERFORM pg_advisory_xact_lock({LOCK_KEY});
    SELECT a.hash INTO prev FROM audit_log a ORDER BY a.id DESC LIMIT 1;
    NEW.at := date_trunc('microseconds', coalesce(NEW.at, now()));
    NEW.data_hash := 'pg:' || encode(sha256(convert_to(jsonb_build_array(NEW.before, NEW.after)::text, 'UTF8')), 'hex');
    NEW.prev_hash := prev;
    NEW.hash := encode(sha256(convert_to(coalesce(prev, '') || E'\\n' || cmkit_entry_text(NEW), 'UTF8')), 'hex');
  END IF;
  RETURN NEW;
END $$""",
        "CREATE TRIGGER cmkit_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION cmkit_chain_entry()",
    ]
    # -- the statement log: every change a login makes, through cmkit or raw SQL (R33) ------------------------------
    out.append(
        f"""CREATE OR REPLACE FUNCTION cmkit_statement_log() RETURNS trigger LANGUAGE plpgsql {statement_level} AS $$
DECLARE ids jsonb; n bigint; one integer;
BEGIN
  IF cmkit_user() = 'admin' THEN RETURN NULL; END IF;
  IF TG_OP = 'DELETE' THEN
    EXECUTE format('SELECT count(*), jsonb_agg(%s ORDER BY %s), min(%s) FROM old_rows', TG_ARGV[0], TG_ARGV[0], TG_ARGV[1]) INTO n, ids, one;
  ELSE
    EXECUTE format('SELECT count(*), jsonb_agg(%s ORDER BY %s), min(%s) FROM new_rows', TG_ARGV[0], TG_ARGV[0], TG_ARGV[1]) INTO n, ids, one;
  END IF;
  IF n = 0 THEN RETURN NULL; END IF;
  INSERT INTO audit_log (at, user_name, action, entity, entity_id, customer_id, before, after)
  VALUES (now(), coalesce(cmkit_user(), session_user::text), 'raw SQL', TG_ARGV[2], NULL,
          CASE WHEN n = 1 THEN one END, NULL,
          jsonb_build_object('statement', TG_OP, 'rows', n, 'ids', ids));
  RETURN NULL;
END $$"""
    )
    logged = {  # table: (key column, customer column, entity)
        "customers": ("id", "id", "customer"),
        "tickets": ("id", "main_customer_id", "ticket"),
        "ticket_additional_customers": ("ticket_id", "customer_id", "ticket_customer"),
        "comments": ("id", "customer_id", "comment"),
        "attachments": ("id", "customer_id", "attachment"),
    }
    for table, (key, customer, entity) in logged.items():
        for event, tables in (
            ("INSERT", "NEW TABLE AS new_rows"),
            ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
            ("DELETE", "OLD TABLE AS old_rows"),
        ):
            out.append(
                f"CREATE TRIGGER cmkit_log_{event.lower()} AFTER {event} ON {table} REFERENCING {tables} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION cmkit_statement_log('{key}', '{customer}', '{entity}')"
            )
    for fn in FUNCTIONS:
        out.append(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
    return out


LOCK_KEY = 0x636D6B6974617564  # the chain's advisory lock (cmkit.db.audit_chain.LOCK_KEY at this revision)


def postgresql_untrust() -> list[str]:
    out = []
    for table in DATA_TABLES:
        out.append(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
        for policy in ("cmkit_read", "cmkit_insert", "cmkit_update", "cmkit_delete"):
            out.append(f"DROP POLICY IF EXISTS {policy} ON {table}")
    out.append("DROP FUNCTION IF EXISTS " + ", ".join(FUNCTIONS) + " CASCADE")
    return out
