"""Customer activities (R13): named actions on a company (company activities) or a contact (contact
activities), offered per customer group by the `[activities]` configuration. Running one needs the
`activities` permission on the customer's group; it works on deactivated customers too, and every run is
recorded in the audit log. The built-in ones (cmkit.services.builtin_activities) are registered here.

`host` is what an activity function receives as its `cm`: the CustomerManager that runs it.
"""

from __future__ import annotations

import inspect
from typing import Any

from cmkit.errors import NotFound, PreconditionFailed, ValidationError
from cmkit.services import access, builtin_activities
from cmkit.services.activity_registry import REGISTRY, describe, register_all
from cmkit.services.context import Context
from cmkit.values import ActivityInfo, Customer, CustomerRef, Outcome, Ticket

KIND_LABEL = {"company": "company activity", "contact": "contact activity"}
register_all(builtin_activities.BUILTIN)


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


def _offer_problem(ctx: Context, host: Any, c: Customer, name: str) -> str | None:
    """Why activity `name` is not offered for customer `c` (None when it is); NotFound if unregistered."""
    configured = ctx.config.activities.get(c.group, ())
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
        return (
            f"R13: {name!r} is a {KIND_LABEL[act.kinds[0]]}; it does not run on {c.kind} {c.name!r} (#{c.id})"
        )
    return act.requires(host, c) if act.requires else None


def offered(ctx: Context, host: Any, customer_id: CustomerRef) -> list[str]:
    """The activities this user may run on this customer (R13): configured for its group, fitting its
    kind and its state, in configuration order. Empty without the activities permission."""
    c = ctx.read(lambda w: access.customer(ctx, w, customer_id, permission=None))
    if not ctx.may("activities", c.group):
        return []
    names = [n for n in ctx.config.activities.get(c.group, ()) if n in REGISTRY]
    return [n for n in names if _offer_problem(ctx, host, c, n) is None]


def run(ctx: Context, host: Any, customer_id: CustomerRef, name: str, params: dict[str, Any]) -> object:
    """Run activity `name` on the customer and return its result (R13); the run is recorded in the
    audit log. Refuses without the activities permission on the customer's group (PermissionDenied),
    and activities not offered for the customer (PreconditionFailed); deactivated customers are fine."""
    c = ctx.read(lambda w: access.customer(ctx, w, customer_id, permission=None))
    ctx.require("activities", c.group)
    problem = _offer_problem(ctx, host, c, name)
    if problem:
        raise PreconditionFailed([problem])
    act = REGISTRY[name]
    try:
        inspect.signature(act.fn).bind(host, c, **params)
    except TypeError as exc:
        raise ValidationError("params", f"activity {name!r} does not take these parameters ({exc})") from None
    result = act.fn(host, c, **params)
    after = {"activity": name, "params": _jsonable(params), "result": _result_summary(result)}
    ctx.write(lambda work: work.audit("run_activity", "customer", c.id, c.id, None, after))
    return result


def info(ctx: Context, name: str) -> ActivityInfo:
    """What activity `name` is: description, parameters with their defaults, the question before it runs.
    Refuses a name no module has registered (NotFound naming the registered ones)."""
    act = REGISTRY.get(name)
    if act is None:
        known = ", ".join(sorted(REGISTRY)) or "none"
        raise NotFound(f"R13: no activity {name!r} is registered (registered: {known})")
    return describe(act)
