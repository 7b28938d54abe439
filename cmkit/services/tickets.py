"""Tickets and their customers: create (R14), add customers (R15), close / reopen, protocol (R16)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import pandas as pd
from sqlalchemy import delete, insert, select, update

from cmkit.db import repo
from cmkit.db.schema import AdditionalCustomer, ProtocolEntry, Queue, TicketRow
from cmkit.db.uow import UnitOfWork
from cmkit.domain import rules
from cmkit.domain.fields import _CONTROL, check_one_line
from cmkit.domain.text import search_key
from cmkit.errors import PreconditionFailed, ValidationError
from cmkit.services import access
from cmkit.services.context import Context
from cmkit.values import Customer, CustomerRef, Ticket, TicketRef

T, A = TicketRow, AdditionalCustomer
SUBJECT_MAX = 500


def clean_subject(subject: Any) -> str:
    """A ticket subject: non-empty text of at most 500 characters without control characters."""
    if not isinstance(subject, str) or not subject.strip():
        raise ValidationError("subject", "a ticket needs a subject (non-empty text)")
    subject = check_one_line(subject.strip(), "subject")
    if len(subject) > SUBJECT_MAX or any(
        c in _CONTROL or c in "\n\r\t" or "\ud800" <= c <= "\udfff" for c in subject
    ):
        raise ValidationError(
            "subject", f"must be one line of at most {SUBJECT_MAX} characters without control characters"
        )
    return str(subject)


def ticket_number(ticket_id: int) -> str:
    return f"T{ticket_id:07d}"


def protocol_entry(
    work: UnitOfWork,
    ticket_id: int,
    action: str,
    role: str | None = None,
    old: Customer | None = None,
    new: Customer | None = None,
) -> None:
    work.session.execute(
        insert(ProtocolEntry).values(
            ticket_id=ticket_id,
            at=work.now,
            user_name=work.user,
            action=action,
            role=role,
            old_customer_id=old.id if old else None,
            old_customer_name=old.name if old else None,
            new_customer_id=new.id if new else None,
            new_customer_name=new.name if new else None,
            run_id=work.run_id,
        )
    )


def create_ticket(
    ctx: Context, customer_id: CustomerRef, queue: str, subject: str, additional: Iterable[CustomerRef] = ()
) -> Ticket:
    """A ticket whose main customer is `customer_id` (R14), with optional additional customers (R15).

    Refuses deactivated customers, companies of groups with tickets for contacts only, and queues not
    assigned to the customer's group.
    """

    def op(work: UnitOfWork) -> Ticket:
        text = clean_subject(subject)
        extra_ids = [repo.id_of(x) for x in additional]
        repo.lock_customers(work.session, [repo.id_of(customer_id), *extra_ids], shared=True)
        main = access.customer(ctx, work, customer_id, permission="write")
        gdef = ctx.group(main.group)
        if queue not in ctx.config.queues:
            known = ", ".join(ctx.config.queues_for(main.group)) or "none"
            raise ValidationError(
                "queue", f"unknown queue {queue!r}; queues of group {main.group!r}: {known}"
            )
        problems = rules.main_customer_problems(main, gdef, creating=True)
        problems += rules.queue_problems(main, queue, ctx.config.queues_for(main.group))
        extras: list[Customer] = []
        for x in extra_ids:
            c = access.customer(ctx, work, x)
            seen = "main" if c.id == main.id else ("additional" if c.id in {e.id for e in extras} else None)
            problems += rules.additional_customer_problems(c, already=seen)
            extras.append(c)
        if problems:
            raise PreconditionFailed(problems)
        queue_id = work.session.execute(select(Queue.id).where(Queue.name == queue)).scalar_one()
        tid = work.session.execute(
            insert(T)
            .values(
                number="~" + uuid.uuid4().hex[:19],
                subject=text,
                search_key=search_key(text),
                queue_id=queue_id,
                state="open",
                main_customer_id=main.id,
                created_by=work.user,
                created_at=work.now,
            )
            .returning(T.id)
        ).scalar_one()
        work.session.execute(update(T).where(T.id == tid).values(number=ticket_number(tid)))
        protocol_entry(work, tid, "created", "main", new=main)
        for c in extras:
            work.session.execute(insert(A).values(ticket_id=tid, customer_id=c.id))
            protocol_entry(work, tid, "customer_added", "additional", new=c)
        after = {
            "number": ticket_number(tid),
            "subject": text,
            "queue": queue,
            "main_customer_id": main.id,
            "additional_customer_ids": [c.id for c in extras],
        }
        work.audit("create_ticket", "ticket", tid, main.id, None, after)
        return repo.ticket_value(work.session, repo.ticket_row(work.session, tid))

    return ctx.write(op)


def ticket(ctx: Context, ticket_id: TicketRef) -> Ticket:
    """The ticket as stored now (NotFound if there is none; PermissionDenied unless the user may read its
    main customer's group)."""
    return ctx.read(lambda w: repo.ticket_value(w.session, access.ticket(ctx, w, ticket_id)))


def _ticket_for_change(ctx: Context, work: UnitOfWork, ticket_id: TicketRef) -> tuple[TicketRow, Customer]:
    row = repo.ticket_row(work.session, ticket_id, lock=True)
    main = access.customer(ctx, work, row.main_customer_id, permission="write")
    return row, main


def add_customer(ctx: Context, ticket_id: TicketRef, customer_id: CustomerRef) -> Ticket:
    """Add an additional customer to a ticket (R15). Refuses deactivated customers and duplicates."""

    def op(work: UnitOfWork) -> Ticket:
        row, _main = _ticket_for_change(ctx, work, ticket_id)
        repo.lock_customers(work.session, [repo.id_of(customer_id)], shared=True)
        c = access.customer(ctx, work, customer_id)
        on = work.session.execute(
            select(A.customer_id).where(A.ticket_id == row.id, A.customer_id == c.id)
        ).first()
        already = "main" if row.main_customer_id == c.id else ("additional" if on else None)
        problems = rules.additional_customer_problems(c, already=already)
        if problems:
            raise PreconditionFailed(problems)
        link(work, row.id, c)
        return repo.ticket_value(work.session, row)

    return ctx.write(op)


def remove_customer(ctx: Context, ticket_id: TicketRef, customer_id: CustomerRef) -> Ticket:
    """Remove an additional customer from a ticket (the main customer is replaced by transfer instead)."""

    def op(work: UnitOfWork) -> Ticket:
        row, _main = _ticket_for_change(ctx, work, ticket_id)
        c = access.customer(ctx, work, customer_id)
        if row.main_customer_id == c.id:
            raise PreconditionFailed(
                [
                    f"R15: {rules.label(c)} is the main customer; a ticket keeps one. "
                    f"Use transfer_tickets to hand it to another customer"
                ]
            )
        if not unlink(work, row.id, c):
            raise PreconditionFailed([f"R15: {rules.label(c)} is not a customer of ticket {row.number}"])
        return repo.ticket_value(work.session, row)

    return ctx.write(op)


def set_main_customer(ctx: Context, ticket_id: TicketRef, customer_id: CustomerRef) -> Ticket:
    """Make `customer_id` the ticket's main customer; the former main customer leaves the ticket (R15: one
    main customer; an additional customer that becomes main is no longer additional). Refuses deactivated
    customers (R15, R20), companies of groups with tickets for contacts only (R14), customers of a group the
    ticket's queue is not assigned to (R14, R17) and the current main customer. Protocol and audit name both."""

    def op(work: UnitOfWork) -> Ticket:
        row, old = _ticket_for_change(ctx, work, ticket_id)
        repo.lock_customers(work.session, [repo.id_of(customer_id)], shared=True)
        new = access.customer(ctx, work, customer_id, permission="write")
        if new.id == old.id:
            raise PreconditionFailed(
                [f"R15: {rules.label(new)} already is the main customer of {row.number}"]
            )
        queue = work.session.execute(select(Queue.name).where(Queue.id == row.queue_id)).scalar_one()
        problems = rules.main_customer_problems(new, ctx.group(new.group), creating=False)
        problems += rules.queue_problems(new, queue, ctx.config.queues_for(new.group))
        if problems:
            raise PreconditionFailed(problems)
        s = work.session
        s.execute(delete(A).where(A.ticket_id == row.id, A.customer_id == new.id))
        s.execute(
            update(T)
            .where(T.id == row.id)
            .values(main_customer_id=new.id)
            .execution_options(synchronize_session=False)
        )
        protocol_entry(work, row.id, "main_changed", "main", old=old, new=new)
        work.audit(
            "set_main_customer", "ticket", row.id, new.id, {"customer_id": old.id}, {"customer_id": new.id}
        )
        return repo.ticket_value(s, repo.ticket_row(s, row.id))

    return ctx.write(op)


def link(work: UnitOfWork, ticket_id: int, c: Customer) -> None:
    """Add `c` to the ticket as additional customer (checked by the caller, R15), with protocol and audit."""
    work.session.execute(insert(A).values(ticket_id=ticket_id, customer_id=c.id))
    protocol_entry(work, ticket_id, "customer_added", "additional", new=c)
    work.audit("add_customer", "ticket", ticket_id, c.id, None, {"additional_customer_id": c.id})


def unlink(work: UnitOfWork, ticket_id: int, c: Customer) -> bool:
    """Remove `c` as additional customer from the ticket, with protocol and audit; False if it was not one."""
    gone = work.session.execute(delete(A).where(A.ticket_id == ticket_id, A.customer_id == c.id))
    if getattr(gone, "rowcount", 0) != 1:
        return False
    protocol_entry(work, ticket_id, "customer_removed", "additional", old=c)
    work.audit("remove_customer", "ticket", ticket_id, c.id, {"additional_customer_id": c.id}, None)
    return True


def _set_state(ctx: Context, ticket_id: TicketRef, state: str) -> Ticket:
    def op(work: UnitOfWork) -> Ticket:
        row, main = _ticket_for_change(ctx, work, ticket_id)
        if row.state == state:
            return repo.ticket_value(work.session, row)
        if state == "open":
            ids = [main.id, *work.session.scalars(select(A.customer_id).where(A.ticket_id == row.id))]
            repo.lock_customers(work.session, ids, shared=True)
            gone = [access.customer(ctx, work, i, permission=None) for i in ids]
            inactive = [rules.label(c) for c in gone if not c.active]
            if inactive:
                raise PreconditionFailed(
                    [
                        f"R20: ticket {row.number} names deactivated {', '.join(inactive)}; an open ticket cannot. "
                        "Reactivate them, or transfer the closed ticket to an active customer, then reopen"
                    ]
                )
        set_state(work, row.id, main.id, row.state, state)
        return repo.ticket_value(work.session, repo.ticket_row(work.session, row.id))

    return ctx.write(op)


def set_state(work: UnitOfWork, ticket_id: int, main_id: int, old: str, state: str) -> None:
    """Close or reopen the ticket (checked by the caller, R20), with protocol and audit entries."""
    work.session.execute(
        update(T)
        .where(T.id == ticket_id)
        .values(state=state, closed_at=work.now if state == "closed" else None)
        .execution_options(synchronize_session=False)
    )
    protocol_entry(work, ticket_id, "closed" if state == "closed" else "reopened")
    work.audit(
        "close" if state == "closed" else "reopen",
        "ticket",
        ticket_id,
        main_id,
        {"state": old},
        {"state": state},
    )


def close_ticket(ctx: Context, ticket_id: TicketRef) -> Ticket:
    return _set_state(ctx, ticket_id, "closed")


def reopen_ticket(ctx: Context, ticket_id: TicketRef) -> Ticket:
    """Reopen a closed ticket; refused (R20) while one of its customers is deactivated."""
    return _set_state(ctx, ticket_id, "open")


def tickets(
    ctx: Context, customer_id: CustomerRef, state: str | None = None, *, contacts: bool = False
) -> pd.DataFrame:
    """The customer's tickets, as main or additional customer: id, number, subject, queue, state, role;
    only tickets whose main customer the user may read. `contacts=True`: for a company also its contacts'
    tickets, one row per ticket and customer named, with customer_id, customer_name and `part` ("own" or
    "contacts"): what its page and its printout show."""
    if state not in (None, "open", "closed"):
        raise ValidationError("state", f"must be 'open', 'closed' or None, got {state!r}")

    def op(work: UnitOfWork) -> pd.DataFrame:
        c = access.customer(ctx, work, customer_id)
        states = (state,) if state else ("open", "closed")
        if contacts:
            return linked(ctx, work, c, states)
        stmt = repo.linked_tickets([c.id], states).where(T.main_customer_id.in_(access.readable_mains(ctx)))
        df = repo.frame_of(work.session, stmt)
        return df.drop(columns=["customer_id", "customer_name"])

    return ctx.read(op)


def linked(
    ctx: Context, work: UnitOfWork, c: Customer, states: tuple[str, ...] = ("open", "closed")
) -> pd.DataFrame:
    """The tickets naming `c` and, for a company, its contacts, whose main customer the user may read: one
    row per ticket and customer named, `part` "own" (the customer's own) or "contacts" (a contact's)."""
    scope: Any = repo.company_and_contacts(c.id) if c.kind == "company" else [c.id]
    readable = T.main_customer_id.in_(access.readable_mains(ctx))
    df = repo.frame_of(work.session, repo.linked_tickets(scope, states).where(readable))
    df["part"] = ["own" if int(i) == c.id else "contacts" for i in df["customer_id"]]
    return df


def protocol(ctx: Context, ticket_id: TicketRef) -> pd.DataFrame:
    """The ticket's protocol (R16): when, who, what, and which customer was replaced by which.
    Refused (PermissionDenied) unless the user may read the ticket's main customer's group."""

    def op(work: UnitOfWork) -> pd.DataFrame:
        row = access.ticket(ctx, work, ticket_id)
        P = ProtocolEntry
        stmt = (
            select(
                P.id,
                P.at,
                P.user_name.label("user"),
                P.action,
                P.role,
                P.old_customer_id,
                P.old_customer_name,
                P.new_customer_id,
                P.new_customer_name,
                P.run_id,
            )
            .where(P.ticket_id == row.id)
            .order_by(P.id)
        )
        return repo.frame_of(work.session, stmt)

    return ctx.read(op)
