"""What every operation shares: the engine, the acting user, the configuration, permissions, the unit of work."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine, select

from cmkit.db import config_store, repo, uow
from cmkit.db.schema import CustomerGroup
from cmkit.domain.config import ADMIN, Config, GroupDef
from cmkit.errors import PermissionDenied, ValidationError
from cmkit.values import Customer

T = TypeVar("T")

# The rule that asks for each permission, for the refusal's message.
PERMISSION_RULE = {
    "read": "R5",
    "write": "R5",
    "comments_read": "R8",
    "comments_write": "R8",
    "attachments_read": "R8",
    "attachments_write": "R8",
    "activities": "R13",
    "transfer": "R25",
    "deactivate": "R25",
    "reactivate": "R25",
    "delete": "R25",
}

#: Called as hook(core, work) at the start of every write unit of work, before the operation itself and
#: inside its transaction (R11 makes the user's pending deletions final here). An operation that must not
#: trigger them (undoing a pending deletion) runs with `_write(fn, hooks=False)`.
WRITE_HOOKS: list[Callable[[Any, uow.UnitOfWork], None]] = []


class Core:
    """One admin's connection to one cmkit database."""

    def __init__(self, engine: Engine, user: str = ADMIN, run_id: str | None = None) -> None:
        self.engine = engine
        self.user = user
        self.run_id = run_id if run_id is not None else os.environ.get("CMKIT_RUN_ID") or None
        self._config: Config | None = None
        self._revision = -1
        self._group_ids: dict[str, int] = {}
        self._read(lambda u: None)  # loads the configuration and checks the user
        if user not in self.config.users:
            known = ", ".join(sorted(self.config.users))
            raise PermissionDenied(
                f"unknown user {user!r}; add it under [users] in the configuration (known: {known})"
            )

    def __repr__(self) -> str:
        return f"<cmkit {self.engine.url.render_as_string(hide_password=True)} as {self.user!r}>"

    # -- configuration ------------------------------------------------------------------------------
    @property
    def config(self) -> Config:
        assert self._config is not None
        return self._config

    def _refresh_config(self, work: uow.UnitOfWork) -> None:
        rev = config_store.revision(work.session)
        if rev != self._revision or self._config is None:
            self._config = config_store.load(work.session)
            self._group_ids = dict(work.session.execute(select(CustomerGroup.name, CustomerGroup.id)).all())
            self._revision = rev

    def group(self, name: str) -> GroupDef:
        if name not in self.config.groups:
            known = ", ".join(self.config.groups) or "none configured"
            raise ValidationError("group", f"unknown customer group {name!r} (groups: {known})")
        return self.config.groups[name]

    def group_id(self, name: str) -> int:
        self.group(name)
        return self._group_ids[name]

    # -- permissions ----------------------------------------------------------------------------------
    def may(self, permission: str, group: str) -> bool:
        return self.config.allowed(self.user, permission, group)

    def require(self, permission: str, group: str) -> None:
        """Refuse (PermissionDenied) unless the acting user holds `permission` on `group`."""
        if not self.may(permission, group):
            rule = PERMISSION_RULE.get(permission, "R25")
            raise PermissionDenied(
                f"{rule}: user {self.user!r} lacks the {permission!r} permission on group {group!r}; "
                f"an admin can grant it in [roles] to one of {self.user!r}'s roles"
            )

    def readable_groups(self, permission: str = "read") -> list[str]:
        return [g for g in self.config.groups if self.may(permission, g)]

    # -- units of work -----------------------------------------------------------------------------------
    def _run(self, fn: Callable[[uow.UnitOfWork], T], *, write: bool, hooks: bool = True) -> T:
        def step(work: uow.UnitOfWork) -> T:
            self._refresh_config(work)
            if write and hooks:
                for hook in WRITE_HOOKS:
                    hook(self, work)
            return fn(work)

        return uow.run(self.engine, self.user, step, write=write, run_id=self.run_id)

    def _read(self, fn: Callable[[uow.UnitOfWork], T]) -> T:
        return self._run(fn, write=False)

    def _write(self, fn: Callable[[uow.UnitOfWork], T], *, hooks: bool = True) -> T:
        return self._run(fn, write=True, hooks=hooks)

    def _customer(self, work: uow.UnitOfWork, customer_id: Any, permission: str | None = "read") -> Customer:
        """The customer's snapshot, after checking `permission` on its group."""
        row, group = repo.customer_row(work.session, customer_id)
        if permission:
            self.require(permission, group)
        return repo.snapshot(row, group)

    def customer(self, id: Any) -> Customer:
        """The customer as stored now (NotFound if it does not exist; needs read permission)."""
        return self._read(lambda w: self._customer(w, id))
