"""Customer activities (R13): named actions on a company (company activities) or a contact (contact
activities), registered with `@cmkit.activity(name, kinds=...)` and offered per customer group by the
`[activities]` configuration. Running one needs the `activities` permission on the customer's group; it
works on deactivated customers too, and every run is recorded in the audit log.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cmkit.errors import NotFound, PreconditionFailed, ValidationError
from cmkit.services.base import Core
from cmkit.values import KINDS, Customer, Outcome, Ticket

#: requires(cm, customer) -> why the activity cannot run on this customer now, or None when it can
Requirement = Callable[[Any, Customer], str | None]
KIND_LABEL = {"company": "company activity", "contact": "contact activity"}


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


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


def _result_summary(result: Any) -> Any:
    """What the audit log keeps of an activity's result."""
    if isinstance(result, Ticket):
        return {"ticket_id": result.id, "number": result.number}
    if isinstance(result, Outcome):
        return {"applied": result.applied, "changes": len(result.changes)}
    if isinstance(result, str):
        return {"characters": len(result)}
    return _jsonable(result) if isinstance(result, int | float | bool | type(None)) else type(result).__name__


class ActivitiesAPI(Core):
    def _offer_problem(self, c: Customer, name: str) -> str | None:
        """Why activity `name` is not offered for customer `c` (None when it is); NotFound if unregistered."""
        configured = self.config.activities.get(c.group, ())
        if name not in configured:
            offered = ", ".join(configured) or "none"
            return (
                f"R13: activity {name!r} is not offered for group {c.group!r} (offered: {offered}); "
                f"an admin can add it under [activities] {c.group} = [...]"
            )
        act = REGISTRY.get(name)
        if act is None:
            raise NotFound(
                f"R13: activity {name!r} is configured but not registered; import the module that "
                f"defines it with @cmkit.activity({name!r})"
            )
        if c.kind not in act.kinds:
            return f"R13: {name!r} is a {KIND_LABEL[act.kinds[0]]}; it does not run on {c.kind} {c.name!r} (#{c.id})"
        return act.requires(self, c) if act.requires else None

    def activities(self, customer_id: Any) -> list[str]:
        """The activities this user may run on this customer (R13): configured for its group, fitting its
        kind and its state, in configuration order. Empty without the activities permission."""
        c = self._read(lambda w: self._customer(w, customer_id, permission=None))
        if not self.may("activities", c.group):
            return []
        names = [n for n in self.config.activities.get(c.group, ()) if n in REGISTRY]
        return [n for n in names if self._offer_problem(c, n) is None]

    def run_activity(self, customer_id: Any, name: str, **params: Any) -> object:
        """Run activity `name` on the customer and return its result (R13); the run is recorded in the
        audit log. Refuses without the activities permission on the customer's group (PermissionDenied),
        and activities not offered for the customer (PreconditionFailed); deactivated customers are fine."""
        c = self._read(lambda w: self._customer(w, customer_id, permission=None))
        self.require("activities", c.group)
        problem = self._offer_problem(c, name)
        if problem:
            raise PreconditionFailed([problem])
        act = REGISTRY[name]
        try:
            inspect.signature(act.fn).bind(self, c, **params)
        except TypeError as exc:
            raise ValidationError(
                "params", f"activity {name!r} does not take these parameters ({exc})"
            ) from None
        result = act.fn(self, c, **params)
        after = {"activity": name, "params": _jsonable(params), "result": _result_summary(result)}
        self._write(lambda work: work.audit("run_activity", "customer", c.id, c.id, None, after))
        return result


from cmkit.services import builtin_activities  # noqa: E402,F401  (registers the built-in activities)
