"""Configuration (groups, fields, queues, attachments, roles, users, activities): parse and validate.

Every refusal is a `ConfigError` whose `.field` is the dotted key at fault, e.g. `groups.retail.model`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmkit.errors import ConfigError

FIELD_TYPES = ("text", "email", "phone", "number", "date", "bool", "choice")
MODELS = ("one-level", "two-level")
PERMISSIONS = (
    "read",
    "write",
    "comments_read",
    "comments_write",
    "attachments_read",
    "attachments_write",
    "activities",
    "transfer",
    "deactivate",
    "reactivate",
    "delete",
    "impersonate",  # R31: act as another user (give it as ["*"])
)
ADMIN = "admin"
TOP_KEYS = ("groups", "queues", "attachments", "roles", "users", "activities")


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str = "text"
    required: bool = False
    max_length: int | None = None
    choices: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.required:
            out["required"] = True
        if self.max_length is not None:
            out["max_length"] = self.max_length
        if self.choices:
            out["choices"] = list(self.choices)
        return out


@dataclass(frozen=True)
class GroupDef:
    name: str
    model: str
    tickets_for_companies: bool = False
    company_fields: Mapping[str, FieldDef] = field(default_factory=dict)
    contact_fields: Mapping[str, FieldDef] = field(default_factory=dict)

    @property
    def two_level(self) -> bool:
        return self.model == "two-level"

    def fields_for(self, kind: str) -> Mapping[str, FieldDef]:
        return self.company_fields if kind == "company" else self.contact_fields


@dataclass(frozen=True)
class AttachmentPolicy:
    allowed_types: tuple[str, ...] = ("pdf", "png", "jpg", "txt", "csv", "docx", "xlsx")
    max_bytes: int = 10_000_000
    searchable: bool = True


@dataclass(frozen=True)
class Config:
    groups: Mapping[str, GroupDef] = field(default_factory=dict)
    queues: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    attachments: AttachmentPolicy = field(default_factory=AttachmentPolicy)
    roles: Mapping[str, Mapping[str, frozenset[str]]] = field(default_factory=dict)
    users: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    activities: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def group(self, name: str) -> GroupDef:
        return self.groups[name]

    def queues_for(self, group: str) -> list[str]:
        return sorted(q for q, gs in self.queues.items() if group in gs)

    def allowed(self, user: str, permission: str, group: str) -> bool:
        """True when `user` holds `permission` on `group` through one of its roles; admin holds all."""
        if user == ADMIN:
            return True
        for role in self.users.get(user, ()):
            groups = self.roles.get(role, {}).get(permission, frozenset())
            if "*" in groups or group in groups:
                return True
        return False

    def to_dict(self) -> dict[str, Any]:
        """The configuration in the TOML shape, normalised (what `parse_config` reads back)."""
        groups: dict[str, Any] = {}
        for g in self.groups.values():
            groups[g.name] = {
                "model": g.model,
                "company_fields": {f.name: f.to_dict() for f in g.company_fields.values()},
                "contact_fields": {f.name: f.to_dict() for f in g.contact_fields.values()},
            }
            if g.two_level:
                groups[g.name]["tickets_for_companies"] = g.tickets_for_companies
            else:
                del groups[g.name]["company_fields"]
        return {
            "groups": groups,
            "queues": {q: {"groups": list(gs)} for q, gs in self.queues.items()},
            "attachments": {
                "allowed_types": list(self.attachments.allowed_types),
                "max_bytes": self.attachments.max_bytes,
                "searchable": self.attachments.searchable,
            },
            "roles": {r: {p: sorted(gs) for p, gs in perms.items()} for r, perms in self.roles.items()},
            "users": {u: list(rs) for u, rs in self.users.items() if u != ADMIN},
            "activities": {g: list(a) for g, a in self.activities.items()},
        }


def load_config(source: str | Path | Mapping[str, Any] | None) -> Config:
    """Read a TOML path or a dict of the same shape. Refuses unknown keys and wrong types (ConfigError)."""
    if source is None:
        return Config()
    if isinstance(source, Mapping):
        return parse_config(source)
    path = Path(source)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(str(path), "configuration file not found; give the path of a TOML file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML ({exc}); fix the file and run init again") from exc
    return parse_config(data)


def _table(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(key, f"must be a table, got {type(value).__name__}")
    return value


def _unknown(table: Mapping[str, Any], allowed: tuple[str, ...], key: str) -> None:
    for k in table:
        if k not in allowed:
            raise ConfigError(f"{key}.{k}" if key else k, f"unknown key; allowed here: {', '.join(allowed)}")


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, f"must be true or false, got {value!r}")
    return value


def _int(value: Any, key: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(key, f"must be a whole number >= {minimum}, got {value!r}")
    return value


def _names(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(key, f"must be a list of names, got {value!r}")
    return tuple(dict.fromkeys(value))


def _ident(name: Any, key: str) -> str:
    if (
        not isinstance(name, str)
        or not name
        or len(name) > 100
        or not all(c.isalnum() or c in "_-" for c in name)
    ):
        raise ConfigError(key, "names use letters, digits, '_' and '-' only (at most 100 characters)")
    return name


def _field(name: str, spec: Any, key: str) -> FieldDef:
    _ident(name, key)
    spec = _table(spec, key)
    _unknown(spec, ("type", "required", "max_length", "choices"), key)
    ftype = spec.get("type", "text")
    if ftype not in FIELD_TYPES:
        raise ConfigError(f"{key}.type", f"unknown field type {ftype!r}; use one of {', '.join(FIELD_TYPES)}")
    required = _bool(spec.get("required", False), f"{key}.required")
    max_length = spec.get("max_length")
    if max_length is not None:
        max_length = _int(max_length, f"{key}.max_length")
    choices = _names(spec.get("choices", []), f"{key}.choices")
    if ftype == "choice" and not choices:
        raise ConfigError(f"{key}.choices", "a choice field needs a non-empty list of choices")
    if ftype != "choice" and choices:
        raise ConfigError(f"{key}.choices", "only fields of type 'choice' take choices")
    return FieldDef(name, ftype, required, max_length, choices)


def _fields(spec: Any, key: str) -> dict[str, FieldDef]:
    return {name: _field(name, f, f"{key}.{name}") for name, f in _table(spec, key).items()}


def _group(name: str, spec: Any) -> GroupDef:
    key = f"groups.{name}"
    _ident(name, key)
    spec = _table(spec, key)
    _unknown(spec, ("model", "tickets_for_companies", "company_fields", "contact_fields"), key)
    model = spec.get("model")
    if model not in MODELS:
        raise ConfigError(f"{key}.model", f"must be one of {', '.join(MODELS)}, got {model!r}")
    tfc = _bool(spec.get("tickets_for_companies", False), f"{key}.tickets_for_companies")
    company = _fields(spec.get("company_fields", {}), f"{key}.company_fields")
    contact = _fields(spec.get("contact_fields", {}), f"{key}.contact_fields")
    if model == "one-level":
        if company:
            raise ConfigError(
                f"{key}.company_fields", "a one-level group has contacts only; remove company_fields"
            )
        if tfc:
            raise ConfigError(f"{key}.tickets_for_companies", "a one-level group has no companies")
    elif "name" not in company:
        raise ConfigError(f"{key}.company_fields.name", "a two-level group's companies need a 'name' field")
    if "last_name" not in contact and "name" not in contact:
        raise ConfigError(f"{key}.contact_fields.last_name", "contacts need a 'last_name' (or 'name') field")
    return GroupDef(name, model, tfc, company, contact)


def parse_config(data: Mapping[str, Any]) -> Config:
    """Validate a configuration dict; the first problem found raises ConfigError naming its key."""
    data = _table(data, "config")
    _unknown(data, TOP_KEYS, "")
    groups = {n: _group(n, g) for n, g in _table(data.get("groups", {}), "groups").items()}

    queues: dict[str, tuple[str, ...]] = {}
    for q, spec in _table(data.get("queues", {}), "queues").items():
        key = f"queues.{q}"
        _ident(q, key)
        spec = _table(spec, key)
        _unknown(spec, ("groups",), key)
        names = _names(spec.get("groups", []), f"{key}.groups")
        for g in names:
            if g not in groups:
                raise ConfigError(f"{key}.groups", f"names unknown group {g!r}; define [groups.{g}] first")
        queues[q] = names

    att = _table(data.get("attachments", {}), "attachments")
    _unknown(att, ("allowed_types", "max_bytes", "searchable"), "attachments")
    default = AttachmentPolicy()
    policy = AttachmentPolicy(
        allowed_types=tuple(
            t.lower().lstrip(".")
            for t in _names(att.get("allowed_types", default.allowed_types), "attachments.allowed_types")
        ),
        max_bytes=_int(att.get("max_bytes", default.max_bytes), "attachments.max_bytes"),
        searchable=_bool(att.get("searchable", default.searchable), "attachments.searchable"),
    )

    roles: dict[str, dict[str, frozenset[str]]] = {}
    for r, spec in _table(data.get("roles", {}), "roles").items():
        key = f"roles.{r}"
        _ident(r, key)
        spec = _table(spec, key)
        _unknown(spec, PERMISSIONS, key)
        perms: dict[str, frozenset[str]] = {}
        for p in PERMISSIONS:
            names = _names(spec.get(p, []), f"{key}.{p}")
            for g in names:
                if g != "*" and g not in groups:
                    raise ConfigError(f"{key}.{p}", f"names unknown group {g!r}; use a defined group or '*'")
            perms[p] = frozenset(names)
        roles[r] = perms

    users: dict[str, tuple[str, ...]] = {ADMIN: ()}
    for u, rs in _table(data.get("users", {}), "users").items():
        key = f"users.{u}"
        _ident(u, key)
        if u == ADMIN:
            raise ConfigError(key, "admin is always present and holds every permission; do not list it")
        names = _names(rs, key)
        for r in names:
            if r not in roles:
                raise ConfigError(key, f"names unknown role {r!r}; define [roles.{r}] first")
        users[u] = names

    activities: dict[str, tuple[str, ...]] = {}
    for g, names in _table(data.get("activities", {}), "activities").items():
        if g not in groups:
            raise ConfigError(f"activities.{g}", f"unknown group {g!r}; define [groups.{g}] first")
        activities[g] = _names(names, f"activities.{g}")

    return Config(groups, queues, policy, roles, users, activities)
