"""Trust (R31-R33): the users and their logins, and verifying the audit chain.

Users are managed by the owner only (`admin` on the owner's login): the configuration's [users] change,
and on PostgreSQL the login is created or dropped and granted its roles (cmkit.db.trust). On SQLite there
are no logins: the file's permissions are the boundary, and the chain makes any rewrite evident.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from cmkit.db import audit_chain, config_store, trust
from cmkit.db.uow import UnitOfWork
from cmkit.domain import chain
from cmkit.domain.config import ADMIN, parse_config
from cmkit.errors import PermissionDenied, ValidationError
from cmkit.services.context import Context
from cmkit.values import AuditCheck


def _owner_only(ctx: Context, what: str) -> None:
    if ctx.user != ADMIN or not ctx.is_owner:
        raise PermissionDenied(
            f"R32: only the owner ({ADMIN!r}, on the login that owns the database) {what}; "
            f"you act as {ctx.user!r} on login {ctx.login!r}"
        )


def _roles(ctx: Context, roles: str | Iterable[str]) -> list[str]:
    names = [roles] if isinstance(roles, str) else list(roles)
    unknown = [r for r in names if r not in ctx.config.roles]
    if not names or unknown:
        known = ", ".join(ctx.config.roles) or "none"
        raise ValidationError(
            "roles", f"give one or more roles of the configuration ({known}); unknown: {unknown}"
        )
    return names


def add_user(
    ctx: Context, name: str, roles: str | Iterable[str], password: str | None = None
) -> pd.DataFrame:
    """Add (or update) user `name` with `roles` (R32): in the configuration, and on PostgreSQL as a login
    granted the roles (with `password` when given). Idempotent. Owner only; SQLite takes no password."""
    _owner_only(ctx, "adds users")
    trust.check_login_name(name)
    wanted = _roles(ctx, roles)
    if password is not None and not ctx.is_postgresql:
        raise ValidationError(
            "password", "SQLite has no logins: the database file's permissions are the boundary"
        )

    def op(work: UnitOfWork) -> None:
        data = ctx.config.to_dict()
        data["users"] = {**data["users"], name: wanted}
        config = parse_config(data)
        config_store.replace(work, config)
        if ctx.is_postgresql:
            conn = work.session.connection()
            trust.ensure_login(conn, name, password)
            trust.sync(conn, config)

    ctx.write(op)
    return users(ctx)


def remove_user(ctx: Context, name: str) -> pd.DataFrame:
    """Remove user `name` (R32): from the configuration, and on PostgreSQL its login (kept, without this
    database's roles, when it is used elsewhere in the cluster). Its audit entries stay. Owner only."""
    _owner_only(ctx, "removes users")
    trust.check_login_name(name)

    def op(work: UnitOfWork) -> None:
        data = ctx.config.to_dict()
        if name not in data["users"]:
            raise ValidationError("name", f"{name!r} is not a user of this database")
        data["users"] = {u: rs for u, rs in data["users"].items() if u != name}
        config = parse_config(data)
        config_store.replace(work, config)
        if ctx.is_postgresql:
            conn = work.session.connection()
            trust.sync(conn, config)
            trust.drop_login(conn, name)

    ctx.write(op)
    return users(ctx)


def users(ctx: Context) -> pd.DataFrame:
    """The configured users: name, roles, and whether each is a database login (PostgreSQL)."""

    def op(work: UnitOfWork) -> pd.DataFrame:
        names = list(ctx.config.users)
        logins = trust.logins(work.session.connection(), names) if ctx.is_postgresql else set()
        rows = [
            {
                "name": u,
                "roles": list(ctx.config.users[u]),
                "is_login": u in logins or (u == ADMIN and ctx.is_owner),
            }
            for u in names
        ]
        return pd.DataFrame(rows, columns=["name", "roles", "is_login"])

    return ctx.read(op)


def verify_audit(ctx: Context, anchor: str | None = None) -> AuditCheck:
    """Recompute the audit chain (R33) and name the first entry changed, removed or out of order.
    `anchor`, a head recorded earlier (a runbook run records the head it ended on), must still be on it.

    Needs read permission on every group: a chain cannot be checked from a part of it."""
    missing = [g for g in ctx.config.groups if not ctx.may("read", g)]
    if missing:
        raise PermissionDenied(
            f"R33: verifying the audit chain reads every entry; {ctx.user!r} may not read group(s) "
            f"{', '.join(missing)}: ask the owner to verify"
        )
    if anchor is not None and (not isinstance(anchor, str) or len(anchor) != 64):
        raise ValidationError(
            "anchor", "give the 64-character head a verification or a runbook record printed"
        )

    def op(work: UnitOfWork) -> AuditCheck:
        found = chain.verify(audit_chain.stored(work.session), anchor)
        return AuditCheck(
            found.first_bad is None and not found.reason,
            found.entries,
            found.head,
            found.first_bad,
            found.reason,
        )

    return ctx.read(op)


def audit_head(ctx: Context) -> str:
    """The hash of the newest audit entry (R33): record it, and verify against it later."""
    return ctx.read(lambda work: audit_chain.latest(work.session))
