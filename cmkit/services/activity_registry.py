"""The activity registry (R13): named actions on a customer, registered with `@cmkit.activity(...)`.

An activity is a plain function `fn(cm, customer, **params)`; `requires(cm, customer)` may say why it cannot
run on a customer now. The built-in activities are registered explicitly by cmkit.services.activities.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cmkit.errors import ValidationError
from cmkit.services.context import Context
from cmkit.values import KINDS, Customer

#: requires(cm, customer) -> why the activity cannot run on this customer now, or None when it can
Requirement = Callable[[Any, Customer], str | None]


class Host(Protocol):
    """What the built-in activities use of the `cm` they run with: its operations' context."""

    @property
    def context(self) -> Context: ...


@dataclass(frozen=True)
class Activity:
    name: str
    kinds: tuple[str, ...]
    fn: Callable[..., Any]
    requires: Requirement | None = None

    @property
    def description(self) -> str:
        return (inspect.getdoc(self.fn) or "").split("\n", 1)[0]


REGISTRY: dict[str, Activity] = {}


def activity(
    name: str, kinds: tuple[str, ...] | list[str] | str = KINDS, requires: Requirement | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `fn(cm, customer, **params)` as the activity `name` for customers of `kinds`.

    `requires(cm, customer)` may return a reason why the activity cannot run on a customer (it is then not
    offered). Registering a name again replaces the earlier function (re-running a notebook cell).
    Which activities a group offers is configuration: `[activities] <group> = ["name", ...]`.
    """
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValidationError("name", f"activity names use letters, digits, '_' and '-' only, got {name!r}")
    wanted = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    if not wanted or any(k not in KINDS for k in wanted):
        raise ValidationError("kinds", f"must name 'company' and/or 'contact', got {kinds!r}")

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(fn):
            raise ValidationError("activity", f"{name!r} must decorate a function (cm, customer, **params)")
        REGISTRY[name] = Activity(name, wanted, fn, requires)
        return fn

    return register


def register_all(activities: tuple[Activity, ...]) -> None:
    """Register these activities (the built-in ones), replacing any of the same name."""
    REGISTRY.update({a.name: a for a in activities})
