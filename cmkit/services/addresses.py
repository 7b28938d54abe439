"""Copying a company's address to its contacts (the operation behind the `copy_company_address`
activity, R13): validated for every contact first (R4), then one set of updates and audit entries."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
from sqlalchemy import select, update

from cmkit.db import repo
from cmkit.db.change import Change
from cmkit.db.schema import CustomerRow
from cmkit.db.uow import UnitOfWork
from cmkit.domain.config import GroupDef
from cmkit.domain.fields import validate_fields
from cmkit.domain.keys import key_for
from cmkit.errors import PreconditionFailed, ValidationError
from cmkit.services import access
from cmkit.services.context import Context
from cmkit.values import CustomerRef, Outcome

C = CustomerRow
#: the fields that make up an address, in vCard order (ADR: street; locality; region; postal code; country)
ADDRESS_FIELDS = ("street", "city", "region", "state", "zip", "postal_code", "country")
COLUMNS = ["id", "name", "version", "before", "after"]


def address_fields(gdef: GroupDef, fields: str | Iterable[str] | None) -> list[str]:
    """The fields to copy: `fields`, or the address fields that companies and contacts of the group share.

    Refuses fields the contacts do not have (ValidationError) and groups without a shared address field."""
    shared = [f for f in gdef.company_fields if f in gdef.contact_fields]
    if fields is None:
        chosen = [f for f in ADDRESS_FIELDS if f in shared]
    else:
        chosen = [fields] if isinstance(fields, str) else list(fields)
        wrong = [f for f in chosen if f not in shared]
        if wrong:
            raise ValidationError(
                "fields",
                f"R13: copying needs fields of both companies and contacts of group "
                f"{gdef.name!r}, not {', '.join(map(repr, wrong))} (shared fields: "
                f"{', '.join(shared) or 'none'})",
            )
    if not chosen:
        raise PreconditionFailed(
            [
                f"R13: group {gdef.name!r} has no address field shared by companies and contacts "
                f"({', '.join(ADDRESS_FIELDS)}); an admin can add them to its contact_fields"
            ]
        )
    return chosen


def copy_company_address(
    ctx: Context,
    company_id: CustomerRef,
    *,
    fields: str | Iterable[str] | None = None,
    overwrite: bool = True,
    include_deactivated: bool = False,
    dry_run: bool = False,
) -> Outcome:
    """Copy the company's address fields to its contacts (only into empty fields with overwrite=False).

    One transaction: every contact is validated against its fields first (R4), then all are updated, each
    with a new version, its search key and an audit entry. `changes` has one row per contact that changes.
    Needs write permission on the group.
    """

    def op(work: UnitOfWork) -> Outcome:
        s = work.session
        repo.lock_customers(s, [repo.id_of(company_id)], shared=True)
        company = access.customer(ctx, work, company_id, permission="write")
        repo.lock_contacts_of(s, company.id)
        gdef = ctx.group(company.group)
        chosen = address_fields(gdef, fields)
        address = {f: company.fields[f] for f in chosen if company.fields.get(f) is not None}
        stmt = select(C.id, C.name, C.version, C.data).where(C.company_id == company.id).order_by(C.id)
        if not include_deactivated:
            stmt = stmt.where(C.active.is_(True))
        plans: list[dict[str, Any]] = []
        for row in s.execute(stmt).all():
            current = dict(row.data or {})
            wanted = {f: v for f, v in address.items() if overwrite or current.get(f) is None}
            data = validate_fields(gdef.contact_fields, wanted, current=current)
            if data != current:
                before = {f: current.get(f) for f in wanted if current.get(f) != data.get(f)}
                after = {f: data.get(f) for f in before}
                plans.append(
                    {
                        "id": row.id,
                        "name": row.name,
                        "version": row.version + 1,
                        "data": data,
                        "before": before,
                        "after": after,
                    }
                )
        changes = pd.DataFrame([{k: p[k] for k in COLUMNS} for p in plans], columns=COLUMNS)
        if dry_run:
            return Outcome(applied=False, changes=changes)
        if plans:
            s.execute(
                update(C),
                [
                    {
                        "id": p["id"],
                        "data": p["data"],
                        "version": p["version"],
                        "updated_at": work.now,
                        "search_key": key_for("contact", p["data"], gdef.contact_fields),
                    }
                    for p in plans
                ],
            )
            work.audit_many(
                Change("edit", "customer", p["id"], p["id"], p["before"], p["after"]) for p in plans
            )
        return Outcome(applied=True, changes=changes)

    return ctx.read(op) if dry_run else ctx.write(op)
