"""Customers: create companies and contacts, edit with versions (R1-R5), change company (R7)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import insert, select, update

from cmkit.db import repo
from cmkit.db.schema import CustomerRow
from cmkit.db.uow import UnitOfWork
from cmkit.domain import rules
from cmkit.domain.fields import display_name, validate_fields
from cmkit.domain.keys import key_for
from cmkit.errors import PreconditionFailed, StaleVersion, ValidationError
from cmkit.services import access
from cmkit.services.context import Context
from cmkit.values import Customer, CustomerRef

C = CustomerRow


def get(ctx: Context, customer_id: CustomerRef, *, permission: str | None = "read") -> Customer:
    """The customer as stored now (NotFound if it does not exist; needs `permission` on its group)."""
    return ctx.read(lambda work: access.customer(ctx, work, customer_id, permission=permission))


def _create(
    ctx: Context, work: UnitOfWork, group: str, kind: str, company_id: int | None, fields: dict[str, Any]
) -> Customer:
    data = validate_fields(ctx.group(group).fields_for(kind), fields)
    name = display_name(kind, data)
    new_id = work.session.execute(
        insert(C)
        .values(
            kind=kind,
            group_id=ctx.group_id(group),
            company_id=company_id,
            active=True,
            name=name,
            search_key=key_for(kind, data, ctx.group(group).fields_for(kind)),
            data=data,
            version=1,
            created_at=work.now,
            updated_at=work.now,
        )
        .returning(C.id)
    ).scalar_one()
    after = {"kind": kind, "group": group, "company_id": company_id, "name": name, "fields": data}
    work.audit("create", "customer", new_id, new_id, None, after)
    return access.customer(ctx, work, new_id, permission=None)


def create_company(ctx: Context, group: str, **fields: Any) -> Customer:
    """A new company in a two-level group (R2, R4). Refuses one-level groups and invalid fields."""

    def op(work: UnitOfWork) -> Customer:
        gdef = ctx.group(group)
        if not gdef.two_level:
            raise ValidationError(
                "group", f"R2: {group!r} is a one-level group without companies; use create_contact"
            )
        ctx.require("write", group)
        return _create(ctx, work, group, "company", None, fields)

    return ctx.write(op)


def create_contact(ctx: Context, group: str, company: CustomerRef | None = None, **fields: Any) -> Customer:
    """A new contact (R2-R4). In a two-level group it needs an active company of the same group."""

    def op(work: UnitOfWork) -> Customer:
        gdef = ctx.group(group)
        ctx.require("write", group)
        if not gdef.two_level:
            if company is not None:
                raise ValidationError(
                    "company", f"R2: one-level group {group!r} has no companies; leave company out"
                )
            return _create(ctx, work, group, "contact", None, fields)
        if company is None:
            raise ValidationError(
                "company",
                f"R3: a contact of two-level group {group!r} belongs to one company; pass company=<id>",
            )
        repo.lock_customers(work.session, [repo.id_of(company)], shared=True)
        comp = access.customer(ctx, work, company, permission=None)
        if comp.kind != "company" or comp.group != group:
            raise ValidationError("company", f"R3: {rules.label(comp)} is not a company of group {group!r}")
        if not comp.active:
            raise PreconditionFailed(
                [
                    f"R20: {rules.label(comp)} is deactivated; contacts cannot be added to it; reactivate it first"
                ]
            )
        return _create(ctx, work, group, "contact", comp.id, fields)

    return ctx.write(op)


def edit(ctx: Context, id: CustomerRef, *, version: int | None = None, **fields: Any) -> Customer:
    """Change data fields (R4, R5, R6): None clears a field. Refuses a stale `version` (StaleVersion)."""
    if version is not None:
        try:
            version = int(version)
        except (TypeError, ValueError):
            raise ValidationError(
                "version",
                f"must be the version the customer was read with (Customer.version), got {version!r}",
            ) from None

    def op(work: UnitOfWork) -> Customer:
        repo.lock_customers(work.session, [repo.id_of(id)], shared=False)
        cur = access.customer(ctx, work, id, permission="write")
        if version is not None and int(version) != cur.version:
            raise StaleVersion(
                f"R5: {rules.label(cur)} was changed by someone else (version {cur.version}, your edit is "
                f"against version {version}); reload it, reapply your change and save again",
                current_version=cur.version,
            )
        return write_fields(ctx, work, cur, fields)

    return ctx.write(op)


def write_fields(ctx: Context, work: UnitOfWork, cur: Customer, fields: dict[str, Any]) -> Customer:
    """Store `fields` (None clears one) on the customer `cur` (locked, as read), validated (R4), with a new
    version and an "edit" audit entry of the values before and after (R29). `edit` and `revert` use it."""
    data = validate_fields(ctx.group(cur.group).fields_for(cur.kind), fields, current=cur.fields)
    if data == dict(cur.fields):
        return cur
    before = {k: cur.fields.get(k) for k in set(data) | set(cur.fields) if data.get(k) != cur.fields.get(k)}
    after = {k: data.get(k) for k in before}
    done = work.session.execute(
        update(C)
        .where(C.id == cur.id, C.version == cur.version)
        .values(
            data=data,
            name=display_name(cur.kind, data),
            search_key=key_for(cur.kind, data, ctx.group(cur.group).fields_for(cur.kind)),
            version=C.version + 1,
            updated_at=work.now,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(done, "rowcount", 0) != 1:  # pragma: no cover - the row lock makes this unreachable
        raise StaleVersion(f"R5: {rules.label(cur)} changed while saving; reload and try again")
    work.audit("edit", "customer", cur.id, cur.id, before, after)
    return access.customer(ctx, work, cur.id, permission=None)


def change_company(ctx: Context, contact_id: CustomerRef, company_id: CustomerRef) -> Customer:
    """Move a contact to another company of its group (R7). Refused for deactivated contact or company."""

    def op(work: UnitOfWork) -> Customer:
        ids = [repo.id_of(company_id), repo.id_of(contact_id)]
        repo.lock_customers(work.session, ids[:1], shared=True)
        repo.lock_customers(work.session, ids[1:], shared=False)
        contact = access.customer(ctx, work, contact_id, permission="write")
        company = access.customer(ctx, work, company_id, permission="read")
        problems = rules.change_company_problems(contact, company, ctx.group(contact.group))
        if problems:
            raise PreconditionFailed(problems)
        if contact.company_id == company.id:
            return contact
        set_company(work, contact, company.id)
        return access.customer(ctx, work, contact.id, permission=None)

    return ctx.write(op)


def set_company(work: UnitOfWork, contact: Customer, company_id: int) -> None:
    """Move the contact to the company (checked by the caller, R7), with a "change_company" audit entry."""
    work.session.execute(
        update(C)
        .where(C.id == contact.id)
        .values(company_id=company_id, version=C.version + 1, updated_at=work.now)
        .execution_options(synchronize_session=False)
    )
    work.audit(
        "change_company",
        "customer",
        contact.id,
        contact.id,
        {"company_id": contact.company_id},
        {"company_id": company_id},
    )


def contacts(ctx: Context, company_id: CustomerRef, *, include_deactivated: bool = False) -> pd.DataFrame:
    """The company's contacts as a table: id, name, active, version and one column per data field."""

    def op(work: UnitOfWork) -> pd.DataFrame:
        comp = access.customer(ctx, work, company_id)
        stmt = (
            select(C.id, C.name, C.active, C.version, C.data)
            .where(C.company_id == comp.id)
            .order_by(C.name, C.id)
        )
        if not include_deactivated:
            stmt = stmt.where(C.active.is_(True))
        df = repo.frame_of(work.session, stmt)
        return expand_fields(df, list(ctx.group(comp.group).contact_fields))

    return ctx.read(op)


def expand_fields(df: pd.DataFrame, field_names: list[str], column: str = "data") -> pd.DataFrame:
    """Replace the JSON `data` column by one column per field (in configuration order)."""
    data = df.pop(column) if column in df else pd.Series([], dtype=object)
    values = pd.DataFrame([d or {} for d in data], index=df.index)
    for name in field_names:
        if name not in df.columns:  # a company's `name` field is the `name` column already
            df[name] = values[name] if name in values else None
    if "company_id" in df:
        df["company_id"] = df["company_id"].astype("Int64")
    if "active" in df:
        df["active"] = df["active"].astype(bool)
    return df
