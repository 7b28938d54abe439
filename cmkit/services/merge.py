"""Merging duplicate customers into one survivor (`merge`): any number of duplicates, one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import delete, literal, select, update

from cmkit.db import repo
from cmkit.db.among import among
from cmkit.db.details_schema import AttachmentRow, CommentRow
from cmkit.db.schema import CustomerRow, TicketRow
from cmkit.db.uow import UnitOfWork
from cmkit.domain import rules
from cmkit.domain.config import GroupDef
from cmkit.domain.fields import display_name, validate_fields
from cmkit.domain.keys import key_for
from cmkit.errors import ValidationError
from cmkit.services import access, deactivation, transfer
from cmkit.services.access import id_list
from cmkit.services.context import Context
from cmkit.services.lifecycle import record_of
from cmkit.services.planning import PlanInfo
from cmkit.values import Customer, CustomerRef, Outcome

C, T, Cm, At = CustomerRow, TicketRow, CommentRow, AttachmentRow
PLAN_COLUMNS = ["entity", "id", "label", "change", "from_id", "to_id", "detail"]


def merge_problems(
    survivor: Customer,
    duplicates: Sequence[Customer],
    group: GroupDef,
    roles: dict[int, set[str]],
    open_tickets: set[int],
) -> list[str]:
    """What refuses merging `duplicates` into `survivor`: kind and group must agree (only records of one
    customer merge), the survivor must be active and able to take the tickets (R17, R14)."""
    problems = []
    if not survivor.active:
        problems.append(
            f"R17: survivor {rules.label(survivor)} is deactivated and cannot receive tickets; "
            "reactivate it, or choose an active record as survivor"
        )
    for d in duplicates:
        if d.id == survivor.id:
            problems.append(f"R1: {rules.label(d)} is the survivor; leave it out of the duplicates")
            continue
        if d.kind != survivor.kind or d.group != survivor.group:
            problems.append(
                f"R1: {rules.label(d)} of group {d.group!r} cannot merge into {rules.label(survivor)} of group "
                f"{survivor.group!r}: only records of the same kind and group are one customer"
            )
            continue
        problems += [
            p
            for p in rules.transfer_problems(
                d,
                survivor,
                group,
                becomes_main="main" in roles.get(d.id, set()),
                open_tickets_moved=d.id in open_tickets,
            )
            if not p.startswith("R17: target")
        ]
    return problems


def merge(
    ctx: Context,
    survivor_id: CustomerRef,
    duplicate_ids: Any,
    *,
    dry_run: bool = False,
    expect: Outcome | None = None,
) -> Outcome:
    """Merge any number of duplicates into the survivor, in one transaction.

    Tickets (open and closed, main and additional role), comments and attachments move to the
    survivor; its empty fields are filled from the duplicates (first duplicate first); contacts of
    duplicate companies move to the survivor. Then duplicate contacts are deleted and duplicate
    companies deactivated. Each ticket's protocol says "merged" with the old and new customer; the
    audit log has "merge" on the survivor and "merged" on each duplicate.

    Refuses (PreconditionFailed, nothing changed) duplicates of another kind or group, a deactivated
    survivor, and what R14/R17/R20 refuse for a transfer. Needs write, transfer and delete (contacts)
    or deactivate (companies) on the group. A dry run is a plan (R34); `expect`: apply exactly that plan.
    """
    dup_ids = id_list(duplicate_ids, "duplicate_ids")
    if not dup_ids:
        raise ValidationError("duplicate_ids", "give at least one duplicate to merge into the survivor")

    def op(work: UnitOfWork) -> Outcome:
        s = work.session
        repo.lock_customers(s, [repo.id_of(survivor_id), *dup_ids], shared=False)
        repo.lock_tickets_of(s, dup_ids)
        surv = access.customer(ctx, work, survivor_id, permission="write")
        needed = ["write", "transfer", "deactivate" if surv.kind == "company" else "delete"]
        access.customers(ctx, work, [surv.id], needed)
        dups = access.customers(ctx, work, dup_ids, needed)
        if surv.kind == "company":
            repo.lock_contacts_of(s, [d.id for d in dups])
        gdef = ctx.group(surv.group)
        tickets = repo.frame_of(s, repo.linked_tickets(dup_ids).add_columns(T.main_customer_id))
        tickets["survivor_on_ticket"] = repo.on_tickets(s, tickets, surv.id)
        tickets = tickets.drop(columns=["main_customer_id"])
        roles: dict[int, set[str]] = {}
        for cid, role in zip(tickets["customer_id"], tickets["role"], strict=True):
            roles.setdefault(int(cid), set()).add(str(role))
        open_ids = set(tickets.loc[tickets["state"] == "open", "customer_id"])
        problems = merge_problems(surv, dups, gdef, roles, open_ids)
        filled = _fill(surv, dups, gdef, problems)
        changes = _merge_plan(work, surv, dups, tickets, filled)

        def apply() -> None:
            links = transfer.planned_links(tickets, source="customer_id", dst_on="survivor_on_ticket")
            _apply_merge(ctx, work, surv, dups, filled, changes, links)

        entity = changes["entity"]
        reads = {
            "customer": [surv.id, *dup_ids, *changes.loc[entity == "customer", "id"]],
            "ticket": changes.loc[entity == "ticket", "id"],
            "comment": changes.loc[entity == "comment", "id"],
            "attachment": changes.loc[entity == "attachment", "id"],
        }
        plan = PlanInfo(work, "merge", {"survivor_id": surv.id, "duplicate_ids": dup_ids}, expect, reads)
        return access.finish(changes, problems, dry_run=dry_run, apply=apply, plan=plan)

    return ctx.write(op)


def _fill(surv: Customer, dups: Sequence[Customer], gdef: GroupDef, problems: list[str]) -> dict[str, Any]:
    """The survivor's empty fields with the first duplicate's value; adds a problem if invalid now."""
    defs = gdef.fields_for(surv.kind)
    filled: dict[str, Any] = {}
    for name in defs:
        if surv.fields.get(name) is None:
            value = next((d.fields[name] for d in dups if d.fields.get(name) is not None), None)
            if value is not None:
                filled[name] = value
    try:
        validate_fields(defs, filled, current=surv.fields)
    except ValidationError as exc:
        problems.append(
            f"R4: the merged fields of {rules.label(surv)} would be invalid: {exc}; "
            "correct the field on the survivor or the duplicate first"
        )
    return filled


def _merge_plan(
    work: UnitOfWork,
    surv: Customer,
    dups: Sequence[Customer],
    tickets: pd.DataFrame,
    filled: dict[str, Any],
) -> pd.DataFrame:
    s, dup_ids = work.session, [d.id for d in dups]
    order = {d: i for i, d in enumerate(dup_ids)}
    tickets = tickets.assign(_order=tickets["customer_id"].map(order)).sort_values(["id", "_order"])
    # a duplicate that is an additional customer is dropped where the survivor is on the ticket already,
    # or comes onto it through an earlier duplicate
    present = tickets["survivor_on_ticket"].astype(bool) | (tickets.groupby("id").cumcount() > 0)
    dropped = (tickets["role"] == "additional") & present
    ticket_rows = pd.DataFrame(
        {
            "entity": "ticket",
            "id": tickets["id"],
            "label": tickets["number"],
            "change": (tickets["role"] + " customer replaced").where(
                ~dropped, "additional customer dropped (survivor already on it)"
            ),
            "from_id": tickets["customer_id"],
            "to_id": surv.id,
            "detail": tickets["state"],
        }
    )
    detail_rows = [
        repo.frame_of(
            s,
            select(
                literal("comment").label("entity"),
                Cm.id,
                Cm.text.label("label"),
                literal("move to survivor").label("change"),
                Cm.customer_id.label("from_id"),
            )
            .where(among(Cm.customer_id, dup_ids))
            .order_by(Cm.id),
        ),
        repo.frame_of(
            s,
            select(
                literal("attachment").label("entity"),
                At.id,
                At.name.label("label"),
                literal("move to survivor").label("change"),
                At.customer_id.label("from_id"),
            )
            .where(among(At.customer_id, dup_ids))
            .order_by(At.id),
        ),
    ]
    if surv.kind == "company":
        detail_rows.append(
            repo.frame_of(
                s,
                select(
                    literal("customer").label("entity"),
                    C.id,
                    C.name.label("label"),
                    literal("change company").label("change"),
                    C.company_id.label("from_id"),
                )
                .where(among(C.company_id, dup_ids), C.active.is_(True))
                .order_by(C.id),
            )
        )
    for frame in detail_rows:
        frame["to_id"], frame["detail"] = surv.id, ""
        frame["label"] = frame["label"].astype(str).str.slice(0, 60)
    own = (
        [
            {
                "entity": "customer",
                "id": surv.id,
                "label": surv.name,
                "change": "fill fields",
                "from_id": None,
                "to_id": surv.id,
                "detail": ", ".join(f"{k} = {v!r}" for k, v in filled.items()),
            }
        ]
        if filled
        else []
    )
    then = "deactivate" if surv.kind == "company" else "delete"
    own += [
        {
            "entity": "customer",
            "id": d.id,
            "label": d.name,
            "change": then,
            "from_id": d.id,
            "to_id": surv.id,
            "detail": f"merged into #{surv.id}",
        }
        for d in dups
    ]
    parts = [f for f in (ticket_rows, *detail_rows, pd.DataFrame(own, columns=PLAN_COLUMNS)) if not f.empty]
    plan = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=PLAN_COLUMNS)
    plan = plan[PLAN_COLUMNS]
    plan["from_id"] = plan["from_id"].astype("Int64")
    plan["to_id"] = plan["to_id"].astype("Int64")
    return plan


def _apply_merge(
    ctx: Context,
    work: UnitOfWork,
    surv: Customer,
    dups: Sequence[Customer],
    filled: dict[str, Any],
    plan: pd.DataFrame,
    links: pd.DataFrame,
) -> None:
    """Carry out the merge `plan`; `links` are the duplicates' tickets as the plan read them (see
    transfer.move_tickets)."""
    s, dup_ids = work.session, [d.id for d in dups]
    # what went where, per duplicate: what a revert needs to bring it back (R35)
    sent: dict[str, dict[str, list[int]]] = {str(d.id): {} for d in dups}
    for entity, table in (("comments", Cm), ("attachments", At)):
        for i, owner in s.execute(
            select(table.id, table.customer_id).where(among(table.customer_id, dup_ids))
        ):
            sent[str(owner)].setdefault(entity, []).append(int(i))
    already_by_dup = transfer.move_tickets(
        work, dups, surv, ("open", "closed"), planned=links, action="merged", audit=False
    )
    for d_id, already in already_by_dup.items():
        if already:
            sent[str(d_id)]["already_on"] = already
    for table in (Cm, At):
        s.execute(
            update(table)
            .where(among(table.customer_id, dup_ids))
            .values(customer_id=surv.id)
            .execution_options(synchronize_session=False)
        )
    if surv.kind == "company":
        for d in dups:
            moved = select(C.id).where(C.company_id == d.id)
            work.audit_customers("change_company", moved, {"company_id": d.id}, {"company_id": surv.id})
        s.execute(
            update(C)
            .where(among(C.company_id, dup_ids), C.active.is_(True))
            .values(company_id=surv.id, version=C.version + 1, updated_at=work.now)
            .execution_options(synchronize_session=False)
        )
    if filled:
        data = validate_fields(ctx.group(surv.group).fields_for(surv.kind), filled, current=surv.fields)
        s.execute(
            update(C)
            .where(C.id == surv.id)
            .values(
                data=data,
                name=display_name(surv.kind, data),
                search_key=key_for(surv.kind, data, ctx.group(surv.group).fields_for(surv.kind)),
                version=C.version + 1,
                updated_at=work.now,
            )
            .execution_options(synchronize_session=False)
        )
    counts = plan["entity"].value_counts()
    then = "deactivated" if surv.kind == "company" else "deleted"
    for d in dups:
        work.audit("merged", "customer", d.id, d.id, record_of(d), {"merged_into": surv.id, "then": then})
    work.audit(
        "merge",
        "customer",
        surv.id,
        surv.id,
        {"fields": {k: None for k in filled}},
        {
            "duplicates": [{"id": d.id, "name": d.name} for d in dups],
            "fields": filled,
            "tickets": int(plan.loc[plan["entity"] == "ticket", "id"].nunique()),
            "comments": int(counts.get("comment", 0)),
            "attachments": int(counts.get("attachment", 0)),
            "contacts_moved": int(
                ((plan["entity"] == "customer") & (plan["change"] == "change company")).sum()
            ),
            "moved": sent,
        },
    )
    if surv.kind == "company":
        deactivation.apply(work, select(C.id).where(among(C.id, dup_ids) | among(C.company_id, dup_ids)))
    else:
        s.execute(delete(C).where(among(C.id, dup_ids)).execution_options(synchronize_session=False))
