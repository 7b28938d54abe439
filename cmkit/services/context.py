"""The context every operation runs in: the engine, the acting user, the configuration (kept current),
the permissions, and the units of work.

Operations are plain functions taking a `Context` first (`lifecycle.deactivate(ctx, customer_id)`); they
call each other by import. `read` and `write` run a function in one transaction (cmkit.db.uow).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import TypeVar

from sqlalchemy import Engine, select

from cmkit.db import config_store, identity, pending, uow
from cmkit.db.schema import CustomerGroup
from cmkit.domain.config import ADMIN, Config, GroupDef
from cmkit.errors import PermissionDenied, ValidationError

T = TypeVar("T")

#: The rule that asks for each permission, for the refusal's message.
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


class Context:
    """One admin's connection to one cmkit database: who acts, on what, under which configuration.

    The acting user is who the database says (R31, cmkit.db.identity): the login, or `admin` for the
    login that owns the schema. Naming another `user` needs the `impersonate` permission; the audit then
    records both (`user_name` the user acted as, `login` who really acted).
    """

    def __init__(self, engine: Engine, user: str | None = None, *, run_id: str | None = None) -> None:
        self.engine = engine
        self._login = identity.login_of(engine)
        self._user = ADMIN  # while the configuration is read
        self.run_id = run_id if run_id is not None else os.environ.get("CMKIT_RUN_ID") or None
        self._joined: uow.UnitOfWork | None = None  # the open transaction of `atomic`
        self._config: Config | None = None
        self._revision = -1
        self._group_ids: dict[str, int] = {}
        self.read(lambda _work: None)  # loads the configuration
        self._user = self._acting_user(user)

    def _acting_user(self, asked: str | None) -> str:
        """R31: the login's own cmkit user, or `asked` when the login may impersonate."""
        login, users = self._login, self.config.users
        if login.name == ADMIN and not login.is_owner:
            raise PermissionDenied(
                f"R31: the login {ADMIN!r} does not own this database; {ADMIN!r} is the owner's name in cmkit"
            )
        if login.name in users:
            own = login.name
        elif login.is_owner:
            own = ADMIN
        else:
            raise PermissionDenied(
                f"R31: login {login.name!r} is not a user of this cmkit database; the owner can add it "
                f"(cmkit user add {login.name} --role ...)"
            )
        if asked is None or asked == own:
            return own
        if asked not in users:
            known = ", ".join(sorted(users))
            raise PermissionDenied(
                f"unknown user {asked!r}; add it under [users] in the configuration (known: {known})"
            )
        if not self.config.allowed(own, "impersonate", "*"):
            raise PermissionDenied(
                f"R31: {own!r} (login {login.name!r}) may not act as {asked!r}: that needs the 'impersonate' "
                f"permission; connect as {asked!r} with their own login instead"
            )
        return asked

    def __repr__(self) -> str:
        shown = (
            self._user if self._user == self._login.name else f"{self._user!r} (login {self._login.name!r})"
        )
        return f"<cmkit {self.engine.url.render_as_string(hide_password=True)} as {shown}>"

    @property
    def user(self) -> str:
        """The acting user (fixed for the life of the context)."""
        return self._user

    @property
    def login(self) -> str:
        """The database login (R31): who really acts."""
        return self._login.name

    @property
    def is_owner(self) -> bool:
        """Whether the login owns the cmkit schema (on PostgreSQL only the owner changes configuration)."""
        return self._login.is_owner

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    # -- configuration ------------------------------------------------------------------------------
    @property
    def config(self) -> Config:
        """The configuration as of the last unit of work (every unit of work brings it up to date)."""
        assert self._config is not None
        return self._config

    @property
    def revision(self) -> int:
        """The configuration revision this context holds."""
        return self._revision

    def refresh(self, work: uow.UnitOfWork) -> None:
        """Reload the configuration and the group ids if another admin changed them."""
        rev = config_store.revision(work.session)
        if rev != self._revision or self._config is None:
            self._config = config_store.load(work.session)
            rows = work.session.execute(select(CustomerGroup.name, CustomerGroup.id)).all()
            self._group_ids = {name: gid for name, gid in rows}
            self._revision = rev

    def group(self, name: str) -> GroupDef:
        """The group's definition; ValidationError naming the known groups if there is none."""
        if name not in self.config.groups:
            known = ", ".join(self.config.groups) or "none configured"
            raise ValidationError("group", f"unknown customer group {name!r} (groups: {known})")
        return self.config.groups[name]

    def group_id(self, name: str) -> int:
        self.group(name)
        return self._group_ids[name]

    @property
    def group_ids(self) -> Mapping[str, int]:
        """Group name -> id, for every group in the database."""
        return MappingProxyType(self._group_ids)

    def group_names(self) -> dict[int, str]:
        """Group id -> name."""
        return {gid: name for name, gid in self._group_ids.items()}

    # -- permissions ----------------------------------------------------------------------------------
    def may(self, permission: str, group: str) -> bool:
        return self.config.allowed(self._user, permission, group)

    def refusal(self, permission: str, group: str) -> str | None:
        """Why the acting user may not do `permission` on `group` (None when allowed)."""
        if self.may(permission, group):
            return None
        rule = PERMISSION_RULE.get(permission, "R25")
        return (
            f"{rule}: user {self._user!r} lacks the {permission!r} permission on group {group!r}; "
            f"an admin can grant it in [roles] to one of {self._user!r}'s roles"
        )

    def require(self, permission: str, group: str) -> None:
        """Refuse (PermissionDenied) unless the acting user holds `permission` on `group`."""
        message = self.refusal(permission, group)
        if message is not None:
            raise PermissionDenied(message)

    def readable_groups(self, permission: str = "read") -> list[str]:
        """The configured groups on which the acting user holds `permission`."""
        return [g for g in self.config.groups if self.may(permission, g)]

    def readable_group_ids(self, permission: str = "read") -> list[int]:
        return [self._group_ids[g] for g in self.readable_groups(permission)]

    def with_run(self, run_id: str) -> Context:
        """This context (same user, login, configuration), its changes recorded under `run_id`."""
        other = copy.copy(self)
        other.run_id = run_id
        other._joined = None
        return other

    # -- units of work -------------------------------------------------------------------------------------
    def _run(
        self,
        fn: Callable[[uow.UnitOfWork], T],
        *,
        write: bool,
        finalize_pending: bool,
        run_id: str | None = None,
    ) -> T:
        def step(work: uow.UnitOfWork) -> T:
            self.refresh(work)
            return fn(work)

        if self._joined is not None:  # inside `atomic`: the enclosing transaction, under a savepoint
            return uow.within(self._joined, step, run_id=run_id)
        return uow.run(
            self.engine,
            self._user,
            step,
            write=write,
            run_id=run_id or self.run_id,
            login=self._login.name,
            finalize_pending=finalize_pending,
        )

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Everything this context reads and writes inside the block in one transaction: committed when the
        block ends normally, rolled back (nothing changed) when it raises. An operation that raises inside
        it undoes only its own changes. Nested blocks join the outermost one. No retries inside: a
        conflict with another writer ends the block with the error, and nothing is changed."""
        if self._joined is not None:
            yield
            return
        with uow.transaction(
            self.engine, self._user, write=True, run_id=self.run_id, login=self._login.name
        ) as work:
            work.audit_many(pending.finalize(work.session, self._user))  # R11, as any write does first
            self._joined = work
            try:
                yield
            finally:
                self._joined = None

    def read(self, fn: Callable[[uow.UnitOfWork], T]) -> T:
        """Run `fn` in one read transaction."""
        return self._run(fn, write=False, finalize_pending=False)

    def write(
        self, fn: Callable[[uow.UnitOfWork], T], *, finalize_pending: bool = True, run_id: str | None = None
    ) -> T:
        """Run `fn` in one write transaction; it first makes the user's pending deletions final (R11)
        unless `finalize_pending=False`. `run_id`: the run its entries carry, instead of the context's."""
        return self._run(fn, write=True, finalize_pending=finalize_pending, run_id=run_id)
