"""The built-in activities (R13): export_vcard, copy_company_address, create_followup_ticket.

Each is an ordinary activity `fn(cm, customer, **params)`; a group offers it when the configuration names
it under `[activities]`. They act as the user running them, so their own permissions apply too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from cmkit.db.schema import CustomerRow
from cmkit.errors import ValidationError
from cmkit.services import addresses, customers, refusals, tickets
from cmkit.services.activity_registry import Activity, Host
from cmkit.services.tickets import SUBJECT_MAX
from cmkit.values import Customer, Outcome, Ticket

C = CustomerRow
FOLLOWUP = re.compile(r"^Follow-up to \S+: ")  # a follow-up of a follow-up names only the latest ticket


def _needs_write(cm: Host, c: Customer) -> str | None:
    problems = refusals.why_not(cm.context, "edit", c.id)
    return problems[0] if problems else None


def _company_of(cm: Host, c: Customer) -> Customer | None:
    if c.company_id is None:
        return None
    return customers.get(cm.context, c.company_id, permission=None)


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
    source = f if any(f.get(k) for k in addresses.ADDRESS_FIELDS) else (company.fields if company else {})
    if any(source.get(k) for k in addresses.ADDRESS_FIELDS):
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


def export_vcard(cm: Host, customer: Customer) -> str:
    """The contact as a vCard (text/vcard, version 3.0) with name, company, e-mail, phone and address."""
    return vcard(customer, _company_of(cm, customer))


# -- copy_company_address ----------------------------------------------------------------------------------
def copy_company_address(
    cm: Host,
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
    return addresses.copy_company_address(
        cm.context,
        customer.id,
        fields=fields,
        overwrite=overwrite,
        include_deactivated=include_deactivated,
        dry_run=dry_run,
    )


# -- create_followup_ticket --------------------------------------------------------------------------------
def _may_have_tickets(cm: Host, c: Customer) -> str | None:
    problems = refusals.why_not(cm.context, "create_ticket", c.id)
    return problems[0] if problems else None


def create_followup_ticket(
    cm: Host,
    customer: Customer,
    subject: str | None = None,
    queue: str | None = None,
    additional: Iterable[Any] = (),
) -> Ticket:
    """A new ticket following up the customer's latest ticket: same queue, subject 'Follow-up to <number>'.

    Without an earlier ticket, pass `queue` unless the group has a single queue. Refused like any ticket
    creation (R14, R20): not for deactivated customers, nor companies whose group takes contact tickets only.
    """
    ctx = cm.context
    queues = ctx.config.queues_for(customer.group)
    mine = tickets.tickets(ctx, customer.id)
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
    return tickets.create_ticket(ctx, customer.id, queue, subject, additional)


#: the built-in activities, registered by cmkit.services.activities
BUILTIN = (
    Activity("export_vcard", ("contact",), export_vcard),
    Activity(
        "copy_company_address",
        ("company",),
        copy_company_address,
        requires=_needs_write,
        confirm="Copy the company's address into its contacts now? (Tick dry run to see the changes first.)",
    ),
    Activity(
        "create_followup_ticket",
        ("company", "contact"),
        create_followup_ticket,
        requires=_may_have_tickets,
        confirm="Create the follow-up ticket now? It is stored at once, like any new ticket.",
    ),
)
