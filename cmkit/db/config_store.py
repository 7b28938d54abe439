"""Keeping the configuration in the database, so every admin sharing it shares one configuration."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cmkit.db.schema import (
    CustomerGroup,
    CustomerRow,
    GroupField,
    Queue,
    QueueGroup,
    Role,
    RoleGrant,
    Setting,
    TicketRow,
    User,
    UserRole,
)
from cmkit.db.uow import UnitOfWork
from cmkit.domain.config import ADMIN, Config, parse_config
from cmkit.errors import ConfigError

REVISION = "config_revision"
#: the tables that hold the configuration (and the schema's revision), as opposed to the data
CONFIG_TABLES = (
    "customer_groups",
    "group_fields",
    "queues",
    "queue_groups",
    "roles",
    "role_grants",
    "users",
    "user_roles",
    "settings",
    "alembic_version",
)


def _get(session: Session, key: str, default: Any = None) -> Any:
    row = session.get(Setting, key)
    return default if row is None else row.value


def _put(session: Session, key: str, value: Any) -> None:
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value))
    else:
        row.value = value


def revision(session: Session) -> int:
    return int(session.execute(select(Setting.value).where(Setting.key == REVISION)).scalar() or 0)


def load(session: Session) -> Config:
    """The stored configuration (an empty one before the first init with a config)."""
    groups: dict[str, Any] = {}
    by_id: dict[int, str] = {}
    for g in session.scalars(select(CustomerGroup).order_by(CustomerGroup.id)):
        by_id[g.id] = g.name
        groups[g.name] = {"model": g.model, "company_fields": {}, "contact_fields": {}}
        if g.model == "two-level":
            groups[g.name]["tickets_for_companies"] = g.tickets_for_companies
    for f in session.scalars(select(GroupField).order_by(GroupField.group_id, GroupField.position)):
        spec: dict[str, Any] = {"type": f.type, "required": f.required}
        if f.max_length is not None:
            spec["max_length"] = f.max_length
        if f.choices:
            spec["choices"] = f.choices
        groups[by_id[f.group_id]][f"{f.kind}_fields"][f.name] = spec
    for g in groups.values():
        if g["model"] == "one-level":
            del g["company_fields"]
    queues: dict[str, Any] = {}
    for q in session.scalars(select(Queue).order_by(Queue.id)):
        queues[q.name] = {"groups": []}
    for qname, gname in session.execute(
        select(Queue.name, CustomerGroup.name)
        .join(QueueGroup, QueueGroup.queue_id == Queue.id)
        .join(CustomerGroup, CustomerGroup.id == QueueGroup.group_id)
        .order_by(Queue.id, CustomerGroup.id)
    ):
        queues[qname]["groups"].append(gname)
    roles: dict[str, dict[str, list[str]]] = {
        r: {} for r in session.scalars(select(Role.name).order_by(Role.name))
    }
    for grant in session.scalars(select(RoleGrant)):
        roles[grant.role].setdefault(grant.permission, []).append(grant.group_name)
    users: dict[str, list[str]] = {u: [] for u in session.scalars(select(User.name)) if u != ADMIN}
    for ur in session.scalars(select(UserRole)):
        if ur.user_name in users:
            users[ur.user_name].append(ur.role)
    data = {
        "groups": groups,
        "queues": queues,
        "attachments": _get(session, "attachments", {}),
        "roles": roles,
        "users": users,
        "activities": _get(session, "activities", {}),
    }
    return parse_config(data)


def _check_change(session: Session, new: Config) -> None:
    """Refuse what would strand data: a group with customers removed or remodelled, a queue with tickets removed."""
    counts = dict(
        session.execute(
            select(CustomerGroup.name, func.count(CustomerRow.id))
            .join(CustomerRow, CustomerRow.group_id == CustomerGroup.id)
            .group_by(CustomerGroup.name)
        ).all()
    )
    for g in session.scalars(select(CustomerGroup)):
        n = counts.get(g.name, 0)
        if not n:
            continue
        if g.name not in new.groups:
            raise ConfigError(
                f"groups.{g.name}", f"cannot be removed: the group has {n} customer(s); keep it"
            )
        if new.groups[g.name].model != g.model:
            raise ConfigError(
                f"groups.{g.name}.model",
                f"cannot change from {g.model!r} while the group has {n} customer(s); "
                "create a new group and move the customers instead",
            )
    used = session.execute(
        select(Queue.name, func.count(TicketRow.id))
        .join(TicketRow, TicketRow.queue_id == Queue.id)
        .group_by(Queue.name)
    ).all()
    for qname, n in used:
        if qname not in new.queues:
            raise ConfigError(
                f"queues.{qname}", f"cannot be removed: {n} ticket(s) are in this queue; keep it"
            )


def save(session: Session, config: Config) -> None:
    """Store `config`, replacing the previous one in place (group and queue ids are kept)."""
    _check_change(session, config)
    groups = {g.name: g for g in session.scalars(select(CustomerGroup))}
    for name in set(groups) - set(config.groups):
        session.delete(groups.pop(name))
    session.flush()
    for gdef in config.groups.values():
        row = groups.get(gdef.name)
        if row is None:
            row = CustomerGroup(name=gdef.name, model=gdef.model)
            session.add(row)
            groups[gdef.name] = row
        row.model = gdef.model
        row.tickets_for_companies = gdef.tickets_for_companies
    session.flush()
    session.execute(delete(GroupField))
    for gdef in config.groups.values():
        for kind in ("company", "contact"):
            for pos, fd in enumerate(gdef.fields_for(kind).values()):
                session.add(
                    GroupField(
                        group_id=groups[gdef.name].id,
                        kind=kind,
                        name=fd.name,
                        type=fd.type,
                        required=fd.required,
                        max_length=fd.max_length,
                        choices=list(fd.choices) or None,
                        position=pos,
                    )
                )
    queues = {q.name: q for q in session.scalars(select(Queue))}
    for name in set(queues) - set(config.queues):
        session.delete(queues.pop(name))
    session.flush()
    for qname in config.queues:
        if qname not in queues:
            queues[qname] = Queue(name=qname)
            session.add(queues[qname])
    session.flush()
    session.execute(delete(QueueGroup))
    for qname, gnames in config.queues.items():
        for gname in gnames:
            session.add(QueueGroup(queue_id=queues[qname].id, group_id=groups[gname].id))
    session.execute(delete(UserRole))
    session.execute(delete(RoleGrant))
    session.execute(delete(User))
    session.execute(delete(Role))
    session.flush()
    for rname, perms in config.roles.items():
        session.add(Role(name=rname))
        session.flush()
        for perm, granted in perms.items():
            for gname in granted:
                session.add(RoleGrant(role=rname, permission=perm, group_name=gname))
    for uname, rnames in config.users.items():
        session.add(User(name=uname))
        session.flush()
        for rname in rnames:
            session.add(UserRole(user_name=uname, role=rname))
    full = config.to_dict()
    _put(session, "attachments", full["attachments"])
    _put(session, "activities", full["activities"])
    _put(session, REVISION, revision(session) + 1)
    session.flush()


def replace(work: UnitOfWork, config: Config) -> bool:
    """Store `config` if it differs from the stored one, with a `configure` audit entry (R29) holding both;
    True when it changed. Refuses (ConfigError) what would strand data."""
    first = revision(work.session) == 0
    before = None if first else load(work.session).to_dict()
    after = config.to_dict()
    if before == after:
        return False
    save(work.session, config)
    work.audit("configure", "configuration", None, None, before, after)
    return True
