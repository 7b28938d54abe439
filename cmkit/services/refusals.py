"""`why_not`: the refusals an action on a customer would meet now, from the rules and the permissions.

The forms ask this instead of retyping a rule: a button is enabled when the list is empty, and its
tooltip is the list. The operations themselves check the same rules again when they run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
from sqlalchemy import select

from cmkit.db import repo
from cmkit.db.schema import CustomerGroup, CustomerRow
from cmkit.db.uow import UnitOfWork
from cmkit.domain import rules
from cmkit.errors import ValidationError
from cmkit.services import access, deactivation
from cmkit.services.context import Context
from cmkit.values import Customer, CustomerRef

C = CustomerRow


def _permission(ctx: Context, permission: str, c: Customer) -> list[str]:
    message = ctx.refusal(permission, c.group)
    return [message] if message else []


def _edit(ctx: Context, work: UnitOfWork, c: Customer, tickets: bool) -> list[str]:
    return _permission(ctx, "write", c)  # R6: deactivated customers can be edited too


def _change_company(ctx: Context, work: UnitOfWork, c: Customer, tickets: bool) -> list[str]:
    gdef = ctx.group(c.group)
    if c.kind != "contact" or not gdef.two_level:
        return [f"R7: only contacts of two-level groups have a company; {rules.label(c)} has none"]
    problems = _permission(ctx, "write", c)
    if not c.active:
        problems.append(
            f"R7: {rules.label(c)} is deactivated and cannot move to another company; reactivate it first"
        )
    return problems


def _create_ticket(ctx: Context, work: UnitOfWork, c: Customer, tickets: bool) -> list[str]:
    problems = rules.main_customer_problems(c, ctx.group(c.group), creating=True)
    if not ctx.config.queues_for(c.group):
        problems.append(
            f"R14: no queue is assigned to group {c.group!r}; an admin can add the group to a queue's groups"
        )
    return problems + _permission(ctx, "write", c)


def _add_to_ticket(ctx: Context, work: UnitOfWork, c: Customer, tickets: bool) -> list[str]:
    return rules.additional_customer_problems(c, already=None)


def _transfer(ctx: Context, work: UnitOfWork, c: Customer, tickets: bool) -> list[str]:
    return _permission(ctx, "transfer", c)


def _deactivate(ctx: Context, work: UnitOfWork, c: Customer, tickets: bool) -> list[str]:
    problems = _permission(ctx, "deactivate", c)
    if not c.active or tickets:
        problems += deactivation.plan(work, [c], lock=False).problems
    return problems


def _reactivate(ctx: Context, work: UnitOfWork, c: Customer, tickets: bool) -> list[str]:
    company = access.customer(ctx, work, c.company_id, permission=None) if c.company_id else None
    return _permission(ctx, "reactivate", c) + rules.reactivate_problems(c, company)


def _delete(ctx: Context, work: UnitOfWork, c: Customer, tickets: bool) -> list[str]:
    numbers: list[str] = []
    if tickets:
        found = work.session.execute(select(repo.linked_tickets([c.id]).subquery().c.number)).scalars()
        numbers = list(dict.fromkeys(found))
    return _permission(ctx, "delete", c) + rules.delete_problems(c, ctx.group(c.group), numbers)


def _detail(permission: str) -> Callable[[Context, UnitOfWork, Customer, bool], list[str]]:
    return lambda ctx, work, c, tickets: _permission(ctx, permission, c)


#: action -> the check; the names of the forms' actions
ACTIONS: dict[str, Callable[[Context, UnitOfWork, Customer, bool], list[str]]] = {
    "edit": _edit,
    "change_company": _change_company,
    "create_ticket": _create_ticket,
    "add_to_ticket": _add_to_ticket,
    "transfer": _transfer,
    "deactivate": _deactivate,
    "reactivate": _reactivate,
    "delete": _delete,
    "read_comments": _detail("comments_read"),
    "comment": _detail("comments_write"),
    "read_attachments": _detail("attachments_read"),
    "attach": _detail("attachments_write"),
    "run_activity": _detail("activities"),
    "print": lambda ctx, work, c, tickets: [],
}


def why_not(ctx: Context, action: str, customer_id: CustomerRef, *, tickets: bool = True) -> list[str]:
    """The refusals `action` on the customer would meet now (empty when it would go through), each naming
    its rule and what would make it possible. `tickets=False` leaves out the refusals that moving the
    customer's tickets away would lift (R18, R23), for a form that offers that move itself.

    Refuses an unknown action (ValidationError naming the actions); needs read permission on the customer.
    """
    check = ACTIONS.get(action)
    if check is None:
        raise ValidationError("action", f"unknown action {action!r}; one of {', '.join(ACTIONS)}")

    def op(work: UnitOfWork) -> list[str]:
        c = access.customer(ctx, work, customer_id)
        return check(ctx, work, c, tickets)

    return ctx.read(op)


#: the permissions each search action on ticked rows needs on a row's group; merge's last one by kind
SELECTION_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "deactivate": ("deactivate",),
    "transfer": ("transfer",),
    "run_activity": ("activities",),
    "merge": ("write", "transfer"),
    "anonymise": ("write", "deactivate", "delete"),
    "export": ("read",),
}
ROW_COLUMNS = ["id", "name", "kind", "group", "active", "refused"]
CHUNK = 10_000


def refused_rows(ctx: Context, action: str, ids: Sequence[int]) -> pd.DataFrame:
    """One row per id (in order): id, name, kind, group, active and `refused`, the permission refusal the
    action meets on that row ("" when the user may act on it; R5 for a group it may not read, R25, R13...).
    Read in a few queries, whatever the number of rows. Ids that no longer exist are refused as gone.

    Refuses an action that is not a search action (ValidationError naming them)."""
    if action not in SELECTION_PERMISSIONS:
        known = ", ".join(SELECTION_PERMISSIONS)
        raise ValidationError("action", f"unknown search action {action!r}; one of {known}")
    wanted = [int(i) for i in dict.fromkeys(ids)]

    def op(work: UnitOfWork) -> pd.DataFrame:
        parts = [
            repo.frame_of(
                work.session,
                select(C.id, C.name, C.kind, CustomerGroup.name.label("group"), C.active)
                .join(CustomerGroup, CustomerGroup.id == C.group_id)
                .where(C.id.in_(wanted[i : i + CHUNK])),
            )
            for i in range(0, len(wanted), CHUNK)
        ]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=ROW_COLUMNS[:-1])

    found = ctx.read(op).set_index("id")
    rows = found.reindex(wanted).reset_index()
    rows["active"] = rows["active"].astype("boolean")
    rows["refused"] = [
        _row_refusal(ctx, action, kind, group) if isinstance(group, str) else f"#{i} no longer exists"
        for i, kind, group in zip(rows["id"], rows["kind"], rows["group"], strict=True)
    ]
    return rows[ROW_COLUMNS]


def _row_refusal(ctx: Context, action: str, kind: str, group: str) -> str:
    needed = list(SELECTION_PERMISSIONS[action])
    if action == "merge":
        needed.append("delete" if kind == "contact" else "deactivate")
    for permission in ("read", *needed):
        message = ctx.refusal(permission, group)
        if message:
            return message
    return ""
