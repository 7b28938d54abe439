"""The lifecycle rules as pure checks: each returns the list of problems (empty when allowed).

Every problem names its rule and says what would make the operation possible.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cmkit.domain.config import GroupDef
from cmkit.values import Customer


def label(c: Customer) -> str:
    return c.label


def _numbers(numbers: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(numbers[:limit])
    return shown + (f" and {len(numbers) - limit} more" if len(numbers) > limit else "")


def main_customer_problems(c: Customer, group: GroupDef, *, creating: bool) -> list[str]:
    """R14/R15/R20: may `c` be (or become) the main customer of a ticket?"""
    problems = []
    if not c.active:
        verb = "create a ticket for" if creating else "assign a ticket to"
        problems.append(
            f"R20: cannot {verb} deactivated {label(c)}; reactivate it first, or choose an active customer"
        )
    if c.kind == "company" and group.two_level and not group.tickets_for_companies:
        problems.append(
            f"R14: group {group.name!r} takes tickets for contacts only, not for {label(c)}; "
            "choose one of its contacts (or set tickets_for_companies = true for the group)"
        )
    return problems


def queue_problems(c: Customer, queue: str, queues_for_group: Sequence[str]) -> list[str]:
    if queue in queues_for_group:
        return []
    offered = ", ".join(queues_for_group) or "none"
    return [f"R14: queue {queue!r} is not assigned to group {c.group!r}; choose one of its queues: {offered}"]


def additional_customer_problems(c: Customer, *, already: str | None) -> list[str]:
    """R15: may `c` be added to a ticket as an additional customer? `already`: its current role there."""
    problems = []
    if not c.active:
        problems.append(f"R15: deactivated {label(c)} cannot be assigned to a ticket; reactivate it first")
    if already:
        problems.append(f"R15: {label(c)} already is the {already} customer of this ticket; nothing to add")
    return problems


def transfer_problems(
    source: Customer,
    target: Customer,
    target_group: GroupDef,
    *,
    becomes_main: bool,
    open_tickets_moved: bool,
) -> list[str]:
    """R17 (and R14/R20 for the target)."""
    if source.id == target.id:
        return [f"R17: the target must not be the source ({label(source)}); choose another customer"]
    problems = []
    if not target.active:
        problems.append(
            f"R17: target {label(target)} is deactivated; reactivate it or choose an active customer"
        )
    if (
        becomes_main
        and target.kind == "company"
        and target_group.two_level
        and not target_group.tickets_for_companies
    ):
        problems.append(
            f"R14: target {label(target)} would become main customer, but group {target_group.name!r} takes "
            "tickets for contacts only; choose one of its contacts"
        )
    if open_tickets_moved and not source.active:  # cannot happen while R18 holds; checked for safety
        problems.append(f"R20: source {label(source)} is deactivated and has open tickets; close them first")
    return problems


def transfer_queue_problems(
    target: Customer, tickets: Iterable[tuple[str, str]], queues_for_group: Sequence[str]
) -> list[str]:
    """R17 (R14): the tickets (number, queue) that would move to `target` as main customer must be in
    queues assigned to its group; one problem per queue that is not, naming its tickets."""
    outside: dict[str, list[str]] = {}
    served = frozenset(queues_for_group)
    for number, queue in tickets:
        if queue not in served:
            outside.setdefault(queue, []).append(number)
    offered = ", ".join(queues_for_group) or "none"
    return [
        f"R17: ticket(s) {_numbers(numbers)} in queue {queue!r} would get {label(target)} as main customer, "
        f"but that queue is not assigned to group {target.group!r} (its queues: {offered}); "
        "choose a target of a group the queue serves"
        for queue, numbers in outside.items()
    ]


def deactivate_problems(c: Customer, blocking_numbers: Sequence[str], *, company_scope: bool) -> list[str]:
    """R18: no open ticket may name the customer (or, for a company of a two-level group, its contacts)."""
    if not c.active:
        return [f"R18: {label(c)} is already deactivated; nothing to do (reactivate() undoes it)"]
    if not blocking_numbers:
        return []
    who = "it or its contacts" if company_scope else "it"
    source = "<customer named on them>" if company_scope else str(c.id)
    return [
        f"R18: cannot deactivate {label(c)}: {len(blocking_numbers)} open ticket(s) name {who} as main or "
        f"additional customer ({_numbers(blocking_numbers)}). Close them, or move them with "
        f"transfer_tickets({source}, <target>, only_open=True), then deactivate"
    ]


def reactivate_problems(c: Customer, company: Customer | None) -> list[str]:
    """R21: the customer must be deactivated; a contact's company must be active."""
    if c.active:
        return [f"R21: {label(c)} is active; nothing to reactivate"]
    if company is not None and not company.active:
        return [
            f"R21: the company of {label(c)}, {label(company)}, is deactivated; reactivate the company first"
        ]
    return []


def delete_problems(c: Customer, group: GroupDef, ticket_numbers: Sequence[str]) -> list[str]:
    """R22: only contacts are deleted; R23: no ticket, open or closed, may name the contact."""
    if c.kind == "company":
        return [f"R22: companies are deactivated, never deleted; use deactivate({c.id}) for {label(c)}"]
    if not ticket_numbers:
        return []
    return [
        f"R23: cannot delete {label(c)}: {len(ticket_numbers)} ticket(s), open or closed, name it "
        f"({_numbers(ticket_numbers)}). Move them first with transfer_tickets({c.id}, <target>, only_open=False)"
    ]


def change_company_problems(contact: Customer, company: Customer, group: GroupDef) -> list[str]:
    """R7 (and R3, R20): move an active contact to an active company of the same group."""
    problems = []
    if contact.kind != "contact" or not group.two_level:
        problems.append(f"R7: only contacts of two-level groups have a company; {label(contact)} has none")
        return problems
    if company.kind != "company":
        problems.append(
            f"R7: the target {label(company)} is not a company; choose a company of group {group.name!r}"
        )
    elif company.group != contact.group:
        problems.append(
            f"R3: {label(company)} is in group {company.group!r}, {label(contact)} in {contact.group!r}; "
            "a contact belongs to a company of its own group"
        )
    if not contact.active:
        problems.append(
            f"R7: {label(contact)} is deactivated and cannot move to another company; reactivate it first"
        )
    if company.kind == "company" and not company.active:
        problems.append(
            f"R7: {label(company)} is deactivated; contacts cannot move into it; reactivate it first"
        )
    return problems
