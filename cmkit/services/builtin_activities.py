"""The built-in activities (R13): export_vcard, copy_company_address, create_followup_ticket.

Each is an ordinary activity `fn(cm, customer, **params)`; a group offers it when the configuration names
it under `[activities]`. They act as the user running them, so their own permissions apply too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import insert, select, update

from cmkit.db import repo
from cmkit.db.schema import AuditEntry, CustomerRow
from cmkit.db.uow import UnitOfWork
from cmkit.domain import rules
from cmkit.domain.fields import validate_fields
from cmkit.errors import PreconditionFailed, ValidationError
from cmkit.services.activities import activity
from cmkit.services.tickets import SUBJECT_MAX
from cmkit.values import Customer, Outcome, Ticket

C = CustomerRow
#: the fields that make up an address, in vCard order (ADR: street; locality; region; postal code; country)
ADDRESS_FIELDS = ("street", "city", "region", "state", "zip", "postal_code", "country")
FOLLOWUP = re.compile(r"^Follow-up to \S+: ")  # a follow-up of a follow-up names only the latest ticket


def _needs_write(cm: Any, c: Customer) -> str | None:
    if cm.may("write", c.group):
        return None
    return f"R5: user {cm.user!r} lacks the 'write' permission on group {c.group!r} that this activity needs"


def _company_of(cm: Any, c: Customer) -> Customer | None:
    if c.company_id is None:
        return None
    return cm._read(lambda w: cm._customer(w, c.company_id, permission=None))


# -- export_vcard ------------------------------------------------------------------------------------------
def _esc(value: Any) -> str:
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace(",", "\\,").replace(";", "\\;")


def _fold(line: str) -> list[str]:
    """RFC 6350 line folding: at most 75 octets per line, continuation lines start with a space."""
    out, current, size = [], "", 0
    for ch in line:
        n = len(ch.encode("utf-8"))
        if size + n > 75:
            out.append(current)
            current, size = " ", 1
        current += ch
        size += n
    return [*out, current]


def vcard(contact: Customer, company: Customer | None) -> str:
    """The contact as a vCard 3.0 (CRLF line endings), with its company as ORG and address."""
    f = contact.fields
    first, last = f.get("first_name") or "", f.get("last_name") or f.get("name") or ""
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        "PRODID:-//cmkit//customer export//EN",
        f"N:{_esc(last)};{_esc(first)};;;",
        f"FN:{_esc(contact.name)}",
        f"UID:urn:cmkit:customer:{contact.id}",
    ]
    if company is not None:
        lines.append(f"ORG:{_esc(company.name)}")
    if f.get("position"):
        lines.append(f"TITLE:{_esc(f['position'])}")
    if f.get("email"):
        lines.append(f"EMAIL;TYPE=INTERNET:{_esc(f['email'])}")
    if f.get("phone"):
        lines.append(f"TEL;TYPE=WORK,VOICE:{_esc(f['phone'])}")
    if f.get("mobile"):
        lines.append(f"TEL;TYPE=CELL:{_esc(f['mobile'])}")
    source = f if any(f.get(k) for k in ADDRESS_FIELDS) else (company.fields if company else {})
    if any(source.get(k) for k in ADDRESS_FIELDS):
        parts = [
            source.get("street"),
            source.get("city"),
            source.get("region") or source.get("state"),
            source.get("zip") or source.get("postal_code"),
            source.get("country"),
        ]
        lines.append("ADR;TYPE=WORK:;;" + ";".join(_esc(p or "") for p in parts))
    if f.get("birthday"):
        lines.append(f"BDAY:{_esc(f['birthday'])}")
    lines.append("END:VCARD")
    return "".join(part + "\r\n" for line in lines for part in _fold(line))


@activity("export_vcard", kinds=("contact",))
def export_vcard(cm: Any, customer: Customer) -> str:
    """The contact as a vCard (text/vcard, version 3.0) with name, company, e-mail, phone and address."""
    return vcard(customer, _company_of(cm, customer))


# -- copy_company_address ----------------------------------------------------------------------------------
def _address_fields(cm: Any, company: Customer, fields: Iterable[str] | None) -> list[str]:
    gdef = cm.group(company.group)
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
                f"{company.group!r}, not {', '.join(map(repr, wrong))} (shared fields: "
                f"{', '.join(shared) or 'none'})",
            )
    if not chosen:
        raise PreconditionFailed(
            [
                f"R13: group {company.group!r} has no address field shared by companies and contacts "
                f"({', '.join(ADDRESS_FIELDS)}); an admin can add them to its contact_fields"
            ]
        )
    return chosen


@activity("copy_company_address", kinds=("company",), requires=_needs_write)
def copy_company_address(
    cm: Any,
    customer: Customer,
    fields: Sequence[str] | None = None,
    overwrite: bool = True,
    include_deactivated: bool = False,
    dry_run: bool = False,
) -> Outcome:
    """Copy the company's address fields to its contacts (only into empty fields with overwrite=False).

    One transaction: every contact is validated against its fields first (R4), then all are updated, each
    with a new version and an audit entry. `changes` has one row per contact that changes.
    """
    chosen = _address_fields(cm, customer, fields)

    def op(work: UnitOfWork) -> Outcome:
        s = work.session
        repo.lock_customers(s, [customer.id], shared=True)
        repo.lock_contacts_of(s, customer.id)
        company = cm._customer(work, customer.id, permission="write")
        address = {f: company.fields[f] for f in chosen if company.fields.get(f) is not None}
        defs = cm.group(company.group).contact_fields
        stmt = select(C.id, C.name, C.version, C.data).where(C.company_id == company.id).order_by(C.id)
        if not include_deactivated:
            stmt = stmt.where(C.active.is_(True))
        rows, plans = s.execute(stmt).all(), []
        for row in rows:
            current = dict(row.data or {})
            wanted = {f: v for f, v in address.items() if overwrite or current.get(f) is None}
            data = validate_fields(defs, wanted, current=current)
            if data != current:
                before = {f: current.get(f) for f in wanted if current.get(f) != data.get(f)}
                plans.append(
                    {
                        "id": row.id,
                        "name": row.name,
                        "version": row.version + 1,
                        "data": data,
                        "before": before,
                        "after": {f: data.get(f) for f in before},
                    }
                )
        changes = pd.DataFrame(
            [{k: p[k] for k in ("id", "name", "version", "before", "after")} for p in plans],
            columns=["id", "name", "version", "before", "after"],
        )
        if dry_run:
            return Outcome(applied=False, changes=changes)
        if plans:
            s.execute(
                update(C),
                [
                    {"id": p["id"], "data": p["data"], "version": p["version"], "updated_at": work.now}
                    for p in plans
                ],
            )
            s.execute(
                insert(AuditEntry),
                [
                    {
                        "at": work.now,
                        "user_name": work.user,
                        "action": "edit",
                        "entity": "customer",
                        "entity_id": p["id"],
                        "customer_id": p["id"],
                        "before": p["before"],
                        "after": p["after"],
                        "run_id": work.run_id,
                    }
                    for p in plans
                ],
            )
        return Outcome(applied=True, changes=changes)

    return cm._read(op) if dry_run else cm._write(op)


# -- create_followup_ticket --------------------------------------------------------------------------------
def _may_have_tickets(cm: Any, c: Customer) -> str | None:
    problems = rules.main_customer_problems(c, cm.group(c.group), creating=True)
    if not cm.config.queues_for(c.group):
        problems.append(
            f"R14: no queue is assigned to group {c.group!r}; an admin can add it to a queue's groups"
        )
    return problems[0] if problems else _needs_write(cm, c)


@activity("create_followup_ticket", kinds=("company", "contact"), requires=_may_have_tickets)
def create_followup_ticket(
    cm: Any,
    customer: Customer,
    subject: str | None = None,
    queue: str | None = None,
    additional: Iterable[Any] = (),
) -> Ticket:
    """A new ticket following up the customer's latest ticket: same queue, subject 'Follow-up to <number>'.

    Without an earlier ticket, pass `queue` unless the group has a single queue. Refused like any ticket
    creation (R14, R20): not for deactivated customers, nor companies whose group takes contact tickets only.
    """
    queues = cm.config.queues_for(customer.group)
    mine = cm.tickets(customer.id)
    latest = mine.sort_values("id").iloc[-1] if len(mine) else None
    if queue is None:
        if latest is not None and latest["queue"] in queues:
            queue = str(latest["queue"])
        elif len(queues) == 1:
            queue = queues[0]
        else:
            raise ValidationError(
                "queue",
                f"R14: group {customer.group!r} has the queues {', '.join(queues)}; pass queue=<one of them>",
            )
    if subject is None:
        earlier = FOLLOWUP.sub("", str(latest["subject"])) if latest is not None else ""
        subject = (
            f"Follow-up to {latest['number']}: {earlier}"
            if latest is not None
            else f"Follow-up: {customer.name}"
        )[:SUBJECT_MAX]
    return cm.create_ticket(customer.id, queue, subject, additional=additional)
