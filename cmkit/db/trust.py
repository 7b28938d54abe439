"""PostgreSQL roles and logins for cmkit's users (R32), kept in step with the configuration.

Each cmkit role is a NOLOGIN role named per database (`cmkit_<database>_<role>`: roles are cluster-wide,
and two cmkit databases may share a cluster). Every role is a member of the database's `..._reader` role
(SELECT on the cmkit tables, INSERT on the audit log); a role holding any write permission also of
`..._writer` (INSERT, UPDATE, DELETE on the data tables). Which rows a login reaches is decided by the
row-level security and the guards of migration 0004, from the configuration tables: the grants here only
open the tables. Each configured user with a login is granted its roles. Only the owner runs this.

Names reach SQL only as quoted identifiers, passwords only as bound parameters.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from sqlalchemy import Connection, text

from cmkit.db.config_store import CONFIG_TABLES
from cmkit.domain.config import ADMIN, Config
from cmkit.errors import CMError, ValidationError

DATA_TABLES = (
    "customers",
    "tickets",
    "ticket_additional_customers",
    "ticket_protocol",
    "comments",
    "attachments",
)
WRITES = ("write", "deactivate", "reactivate", "delete", "transfer", "comments_write", "attachments_write")
LOGIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$")
FUNCTIONS = (
    "cmkit_user()",
    "cmkit_groups(VARIADIC text[])",
    "cmkit_reads_all()",
    "cmkit_scrub_audit(bigint[], jsonb[], jsonb[])",
    "cmkit_rename_in_protocol(integer[], text[])",
    "cmkit_audit_head()",
    "cmkit_matching(text, boolean, text[], integer[])",
)


def quoted(name: str) -> str:
    """`name` as a PostgreSQL identifier, always quoted."""
    return '"' + name.replace('"', '""') + '"'


def prefix(conn: Connection) -> str:
    """The prefix of this database's role names: cmkit_<database>, at most 40 characters."""
    database = str(conn.execute(text("SELECT current_database()")).scalar_one())
    clean = re.sub(r"[^a-z0-9_]", "_", database.lower())
    if len(clean) > 30:
        clean = clean[:21] + "_" + hashlib.sha256(database.encode()).hexdigest()[:8]
    return f"cmkit_{clean}"


def role_name(conn: Connection, role: str) -> str:
    return f"{prefix(conn)}_{role}"[:63]


def _existing(conn: Connection, names: Iterable[str]) -> set[str]:
    wanted = list(names)
    rows = conn.execute(text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:n)"), {"n": wanted}).scalars()
    return set(rows)


def _ensure_nologin(conn: Connection, names: Iterable[str]) -> None:
    for name in sorted(set(names) - _existing(conn, names)):
        conn.execute(text(f"CREATE ROLE {quoted(name)} NOLOGIN"))


def _owner_rights(conn: Connection) -> tuple[bool, bool]:
    """(may create roles, owns the cmkit schema) for the connected login."""
    row = conn.execute(
        text(
            "SELECT r.rolsuper OR r.rolcreaterole, r.rolsuper OR session_user::text = "
            "(SELECT pg_get_userbyid(c.relowner)::text FROM pg_class c WHERE c.oid = to_regclass('customers')) "
            "FROM pg_roles r WHERE r.rolname = session_user"
        )
    ).one()
    return bool(row[0]), bool(row[1])


def can_manage_roles(conn: Connection) -> bool:
    return all(_owner_rights(conn))


def require_owner(conn: Connection) -> None:
    """Refuse unless the connected login owns the cmkit schema and may create roles."""
    row = _owner_rights(conn)
    if not row[1]:
        raise CMError("R32: only the login that owns the cmkit schema (admin) manages users and roles")
    if not row[0]:
        raise CMError("R32: the owner's login needs CREATEROLE to manage logins (ALTER ROLE ... CREATEROLE)")


def sync(conn: Connection, config: Config) -> None:
    """Create the database's roles, grant them the tables, and grant each configured login its roles."""
    require_owner(conn)
    base = prefix(conn)
    reader, writer = f"{base}_reader", f"{base}_writer"
    roles = {r: role_name(conn, f"role_{r}") for r in config.roles}
    _ensure_nologin(conn, [reader, writer, *roles.values()])
    schema = quoted(str(conn.execute(text("SELECT current_schema()")).scalar_one()))
    conn.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {quoted(reader)}"))
    # the word tables of customers' and tickets' keys, read under row-level security (migration 0006)
    for table in (*DATA_TABLES, *CONFIG_TABLES, "audit_log", "customer_words", "ticket_words"):
        conn.execute(text(f"GRANT SELECT ON {table} TO {quoted(reader)}"))
    conn.execute(text(f"GRANT INSERT ON audit_log TO {quoted(reader)}"))
    conn.execute(text(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {quoted(reader)}"))
    for fn in FUNCTIONS:
        conn.execute(text(f"GRANT EXECUTE ON FUNCTION {fn} TO {quoted(reader)}"))
    for table in ("customers", "ticket_additional_customers", "comments", "attachments"):
        conn.execute(text(f"GRANT INSERT, UPDATE, DELETE ON {table} TO {quoted(writer)}"))
    conn.execute(text(f"GRANT INSERT, UPDATE ON tickets TO {quoted(writer)}"))
    conn.execute(text(f"GRANT INSERT ON ticket_protocol TO {quoted(writer)}"))
    conn.execute(text(f"GRANT {quoted(reader)} TO {quoted(writer)}"))
    for role, pg_role in roles.items():
        writes = any(config.roles[role].get(p) for p in WRITES)
        conn.execute(text(f"GRANT {quoted(writer if writes else reader)} TO {quoted(pg_role)}"))
        if not writes:
            conn.execute(text(f"REVOKE {quoted(writer)} FROM {quoted(pg_role)}"))
    members = {u: rs for u, rs in config.users.items() if u != ADMIN}
    logins = _existing(conn, members)
    ours = set(roles.values())
    granted = conn.execute(
        text(
            "SELECT m.rolname, r.rolname FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid "
            "JOIN pg_roles m ON m.oid = a.member WHERE r.rolname LIKE :p"
        ),
        {"p": base.replace("_", r"\_") + r"\_role\_%"},
    ).all()
    for member, role_granted in granted:  # roles a login holds no more, or of roles no more configured
        wanted = {roles[r] for r in members.get(member, ())} if member in logins else set()
        if role_granted not in wanted:
            conn.execute(text(f"REVOKE {quoted(role_granted)} FROM {quoted(member)}"))
    for user in sorted(logins):
        for role in members[user]:
            if roles[role] in ours:
                conn.execute(text(f"GRANT {quoted(roles[role])} TO {quoted(user)}"))


def check_login_name(name: str) -> str:
    if not isinstance(name, str) or not LOGIN.match(name) or name == ADMIN:
        raise ValidationError(
            "name",
            f"{name!r} cannot be a login: use letters, digits, '_' and '-' (starting with a letter or '_', "
            f"at most 63), and not {ADMIN!r} (the owner's name in cmkit)",
        )
    return name


def ensure_login(conn: Connection, name: str, password: str | None) -> None:
    """Create login `name` (or make an existing role a login); set its password when one is given."""
    require_owner(conn)
    check_login_name(name)
    exists = bool(_existing(conn, [name]))
    conn.execute(text(f"{'ALTER' if exists else 'CREATE'} ROLE {quoted(name)} LOGIN"))
    if password is not None:
        conn.execute(
            text(
                "SELECT set_config('cmkit.new_login', :n, true), set_config('cmkit.new_password', :p, true)"
            ),
            {"n": name, "p": password},
        )
        conn.execute(
            text(
                "DO $$ BEGIN EXECUTE format('ALTER ROLE %I PASSWORD %L', current_setting('cmkit.new_login'), "
                "current_setting('cmkit.new_password')); END $$"
            )
        )
        conn.execute(text("SELECT set_config('cmkit.new_password', '', true)"))


def drop_login(conn: Connection, name: str) -> bool:
    """Drop login `name` after revoking this database's roles; False (the login kept, without them) when
    it still holds something elsewhere in the cluster."""
    require_owner(conn)
    check_login_name(name)
    if not _existing(conn, [name]):
        return True
    conn.execute(text("SAVEPOINT cmkit_drop_login"))
    try:
        conn.execute(text(f"DROP ROLE {quoted(name)}"))
    except Exception:  # noqa: BLE001 - the role is used elsewhere (another database's objects or grants)
        conn.execute(text("ROLLBACK TO SAVEPOINT cmkit_drop_login"))
        return False
    conn.execute(text("RELEASE SAVEPOINT cmkit_drop_login"))
    return True


def logins(conn: Connection, names: Iterable[str]) -> set[str]:
    """Which of `names` are PostgreSQL roles that can log in."""
    rows = conn.execute(
        text("SELECT rolname FROM pg_roles WHERE rolcanlogin AND rolname = ANY(:n)"), {"n": list(names)}
    ).scalars()
    return set(rows)


def drop_roles(conn: Connection) -> None:
    """Drop this database's NOLOGIN roles (before the database itself goes): privileges first."""
    base = prefix(conn)
    names = (
        conn.execute(
            text("SELECT rolname FROM pg_roles WHERE rolname LIKE :p AND NOT rolcanlogin"),
            {"p": base.replace("_", r"\_") + r"\_%"},
        )
        .scalars()
        .all()
    )
    for name in names:
        conn.execute(text(f"DROP OWNED BY {quoted(name)}"))
    for name in names:
        conn.execute(text(f"DROP ROLE {quoted(name)}"))
