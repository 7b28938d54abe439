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
from cmkit.values import KINDS, ActivityInfo, ActivityParam, Customer

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
    #: the question a form asks before running it ('' for an activity that only reads or can be undone)
    confirm: str = ""

    @property
    def description(self) -> str:
        return (inspect.getdoc(self.fn) or "").split("\n", 1)[0]


REGISTRY: dict[str, Activity] = {}


def activity(
    name: str,
    kinds: tuple[str, ...] | list[str] | str = KINDS,
    requires: Requirement | None = None,
    confirm: str = "",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `fn(cm, customer, **params)` as the activity `name` for customers of `kinds`.

    `requires(cm, customer)` may return a reason why the activity cannot run on a customer (it is then not
    offered). `confirm` is the question a form asks before running it (for one that creates something). Registering a name again replaces the earlier function (re-running a notebook cell).
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
        REGISTRY[name] = Activity(name, wanted, fn, requires, confirm)
        return fn

    return register


def register_all(activities: tuple[Activity, ...]) -> None:
    """Register these activities (the built-in ones), replacing any of the same name."""
    REGISTRY.update({a.name: a for a in activities})


def _param_kind(p: inspect.Parameter) -> str:
    text = str(p.annotation) if p.annotation is not inspect.Parameter.empty else ""
    default = p.default
    if isinstance(default, bool) or text == "bool":
        return "flag"
    if any(t in text for t in ("Sequence", "Iterable", "list", "tuple")) or isinstance(default, list | tuple):
        return "list"
    if isinstance(default, int | float) or text.startswith(("int", "float")):
        return "number"
    return "text"


def describe(act: Activity) -> ActivityInfo:
    """The activity's description, its keyword parameters (after `cm, customer`) with their defaults, and
    the question to ask before it runs."""
    params = list(inspect.signature(act.fn).parameters.values())[2:]
    return ActivityInfo(
        name=act.name,
        description=act.description,
        params=tuple(
            ActivityParam(
                name=p.name,
                kind=_param_kind(p),
                default=None if p.default is inspect.Parameter.empty else p.default,
                required=p.default is inspect.Parameter.empty,
            )
            for p in params
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        ),
        confirm=act.confirm,
    )
