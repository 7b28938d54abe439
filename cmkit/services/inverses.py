"""The inverse steps of audit entries (R35), for `revert`: one `Step` per change to undo, with the check that
finds a conflict (changed since, refused by a rule now, or irreversible) and the change that undoes it, made
through the operations' own code (customers.write_fields, set_company, lifecycle.reactivate_rows,
deactivation.apply, tickets.link / unlink / set_state) so that each rule is checked in one place and every
undo is audited like the change it mirrors, and can itself be undone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select, update

from cmkit.db import repo
from cmkit.db.change import Change
from cmkit.db.details_schema import AttachmentRow, CommentRow
from cmkit.db.schema import AdditionalCustomer, CustomerRow, TicketRow
from cmkit.db.uow import UnitOfWork
from cmkit.domain import rules
from cmkit.domain.fields import validate_fields
from cmkit.errors import NotFound, ValidationError
from cmkit.services import access, customers, deactivation, lifecycle, tickets
from cmkit.services.context import Context
from cmkit.values import Customer

T, A, C = TicketRow, AdditionalCustomer, CustomerRow
#: entries that need no step: another entry of the same operation carries the change, or nothing changed
NOTHING_TO_UNDO = frozenset({"transfer_in", "revert", "apply_plan", "run_activity", "import_customers"})
CREATED = {
    "create": "customer",
    "create_ticket": "ticket",
    "add_comment": "comment",
    "add_attachment": "attachment",
}
DETAILS: dict[str, tuple[Any, str]] = {
    "comment": (CommentRow, "comments"),
    "attachment": (AttachmentRow, "attachments"),
}


@dataclass
class Entry:
    """One audit entry, as read."""

    id: int
    at: Any
    user: str
    action: str
    entity: str
    entity_id: int | None
    customer_id: int | None
    before: Any
    after: Any
    run_id: str | None


@dataclass
class Step:
    """One inverse change: what it undoes, how it is checked (a conflict, or None) and done."""

    entry: Entry
    entity: str
    id: int | None
    change: str
    detail: str = ""
    check: Callable[[], str | None] = lambda: None
    do: Callable[[], None] = lambda: None
    reads: dict[str, list[int]] = field(default_factory=dict)
    first: bool = False  # done before the other steps of its operation (a company's reactivation, R21)


class Inverter:
    """Builds the inverse steps of audit entries in one unit of work."""

    def __init__(self, ctx: Context, work: UnitOfWork) -> None:
        self.ctx, self.work, self.s = ctx, work, work.session

    # -- reading now ---------------------------------------------------------------------------------------
    def customer(self, cid: Any) -> Customer | None:
        if cid is None:
            return None
        try:
            return access.customer(self.ctx, self.work, int(cid), permission=None)
        except NotFound:
            return None

    def refusal(self, permission: str, *custs: Customer | None) -> str | None:
        for c in custs:
            if c is not None and (message := self.ctx.refusal(permission, c.group)):
                return message
        return None

    def ticket(self, tid: int) -> tuple[Any, set[int]] | None:
        row = self.s.execute(select(T.id, T.number, T.state, T.main_customer_id).where(T.id == tid)).first()
        if row is None:
            return None
        extra = set(self.s.scalars(select(A.customer_id).where(A.ticket_id == tid)))
        return row, extra

    # -- per entry -----------------------------------------------------------------------------------------
    def steps(self, e: Entry, protocol: list[Any]) -> list[Step]:
        if e.action in NOTHING_TO_UNDO or (e.action == "merged" and (e.after or {}).get("then") != "deleted"):
            return []
        before, after = e.before or {}, e.after or {}
        if e.action == "edit":
            return [self.fields_back(e, e.customer_id, dict(before), dict(after), "edit")]
        if e.action == "change_company":
            return [self.company_back(e)]
        if e.action == "deactivate":
            return [self.reactivate(e)]
        if e.action == "reactivate":
            return [self.deactivate(e)]
        if e.action == "transfer_out":
            return self.transfer_back(e, protocol)
        if e.action == "merge":
            return self.merge_back(e, protocol)
        if e.action == "replace_customer":
            t, role = int(e.entity_id or 0), str(after.get("role"))
            return [
                self.replace(
                    e,
                    t,
                    role,
                    int(after["customer_id"]),
                    int(before["customer_id"]),
                    new_was_on=bool(before.get("old_stays")),
                    old_stays=bool(before.get("new_was_on")),
                )
            ]
        if e.action in ("move_comment", "move_attachment"):
            return [
                self.move_detail(
                    e, e.entity, int(e.entity_id or 0), after["customer_id"], before["customer_id"]
                )
            ]
        if e.action in ("add_customer", "remove_customer"):
            return [self.link_back(e)]
        if e.action in ("close", "reopen"):
            return [self.state_back(e)]
        return [self.irreversible(e)]

    def irreversible(self, e: Entry) -> Step:
        what = f"{e.entity} #{e.entity_id}" if e.entity_id is not None else e.entity
        if e.action in ("delete", "merged"):
            why = f"R24: customer #{e.entity_id} was deleted" + (
                " by the merge" if e.action == "merged" else ""
            )
            why += "; a deletion cannot be undone"
            if e.action == "merged":
                why += (
                    f": its tickets, comments and attachments stay with #{(e.after or {}).get('merged_into')}"
                )
        elif e.action == "anonymise":
            why = f"R24: the personal data of customer #{e.entity_id} was erased; it cannot be brought back"
        elif e.action in CREATED:
            why = (
                f"R35: {CREATED[e.action]} #{e.entity_id} was created; a revert removes nothing that was created "
                "(delete or deactivate it if it should go)"
            )
        elif e.action.startswith(("delete_", "undo_delete_")):
            why = f"R11: a deletion of {what} is undone only by its user before their next action (undo_delete_*)"
        else:
            why = f"R35: {e.action!r} has no inverse; undo it by hand"
        return Step(e, e.entity, e.entity_id, f"undo {e.action}", check=lambda: why)

    # -- customers -----------------------------------------------------------------------------------------
    def fields_back(
        self, e: Entry, cid: Any, values: dict[str, Any], now: dict[str, Any], label: str
    ) -> Step:
        """Set the fields `values` (their values before) where they still hold `now` (their values after)."""

        def check() -> str | None:
            c = self.customer(cid)
            if c is None:
                return f"R24: customer #{cid} was deleted since; its {label} cannot be undone"
            if refused := self.refusal("write", c):
                return refused
            changed = [k for k, v in now.items() if c.fields.get(k) != v]
            if changed:
                shown = ", ".join(f"{k} = {c.fields.get(k)!r}" for k in changed)
                return f"R35: {rules.label(c)} was edited since ({shown}); that later change stays"
            try:
                validate_fields(self.ctx.group(c.group).fields_for(c.kind), values, current=c.fields)
            except ValidationError as exc:
                return f"R4: {rules.label(c)}: the old values are no longer valid: {exc}"
            return None

        def do() -> None:
            c = self.customer(cid)
            assert c is not None
            customers.write_fields(self.ctx, self.work, c, values)

        detail = ", ".join(f"{k}: {now.get(k)!r} -> {v!r}" for k, v in values.items())
        return Step(e, "customer", cid, "fields back", detail, check, do, {"customer": [int(cid)]})

    def company_back(self, e: Entry) -> Step:
        cid, old, new = e.customer_id, (e.before or {}).get("company_id"), (e.after or {}).get("company_id")

        def check() -> str | None:
            contact, company = self.customer(cid), self.customer(old)
            if contact is None or company is None:
                return f"R24: customer #{cid if contact is None else old} was deleted since"
            if contact.company_id != new:
                return f"R35: {rules.label(contact)} moved to company #{contact.company_id} since; that move stays"
            if refused := self.refusal("write", contact):
                return refused
            problems = rules.change_company_problems(contact, company, self.ctx.group(contact.group))
            return "; ".join(problems) or None

        def do() -> None:
            contact = self.customer(cid)
            assert contact is not None
            customers.set_company(self.work, contact, int(old or 0))

        return Step(
            e,
            "customer",
            cid,
            f"back to company #{old}",
            f"from #{new}",
            check,
            do,
            {"customer": [int(x) for x in (cid, old, new) if x is not None]},
        )

    def reactivate(self, e: Entry) -> Step:
        cid = e.customer_id
        c0 = self.customer(cid)

        def check() -> str | None:
            c = self.customer(cid)
            if c is None:
                return f"R24: customer #{cid} was deleted since"
            if c.active:
                return f"R35: {rules.label(c)} was reactivated since"
            if refused := self.refusal("reactivate", c):
                return refused
            return "; ".join(rules.reactivate_problems(c, self.customer(c.company_id))) or None

        reads = [int(x) for x in (cid, c0.company_id if c0 else None) if x is not None]
        return Step(
            e,
            "customer",
            cid,
            "reactivate",
            "",
            check,
            lambda: lifecycle.reactivate_rows(self.work, [int(cid or 0)]),
            {"customer": reads},
            first=c0 is not None and c0.kind == "company",
        )

    def deactivate(self, e: Entry) -> Step:
        cid = e.customer_id

        def check() -> str | None:
            c = self.customer(cid)
            if c is None:
                return f"R24: customer #{cid} was deleted since"
            if not c.active:
                return f"R35: {rules.label(c)} was deactivated since"
            if refused := self.refusal("deactivate", c):
                return refused
            blocking = repo.frame_of(self.s, deactivation.blocking_tickets([c.id]))
            problems = rules.deactivate_problems(
                c, list(dict.fromkeys(blocking["number"])), company_scope=False
            )
            if problems:
                return "; ".join(problems)
            if c.kind == "company":
                active = list(self.s.scalars(select(C.id).where(C.company_id == c.id, C.active.is_(True))))
                if active:
                    shown = ", ".join(f"#{i}" for i in active[:10])
                    return f"R19: contacts {shown} of {rules.label(c)} are active again since; deactivate them first"
            return None

        return Step(
            e,
            "customer",
            cid,
            "deactivate",
            "",
            check,
            lambda: deactivation.apply(self.work, [int(cid or 0)]),
            {"customer": [int(cid or 0)]},
        )

    # -- tickets -------------------------------------------------------------------------------------------
    def replace(
        self, e: Entry, t: int, role: str, old: int, new: int, *, new_was_on: bool, old_stays: bool
    ) -> Step:
        """Hand ticket `t`'s `role` from `old` to `new`. `new_was_on`: new is on the ticket already (its link
        goes); `old_stays`: old stays on it as additional customer."""

        def check() -> str | None:
            found = self.ticket(t)
            if found is None:
                return f"R35: ticket #{t} does not exist any more"
            row, extra = found
            if role == "main" and row.main_customer_id != old:
                return f"R35: ticket {row.number}: its main customer is #{row.main_customer_id} now (changed since)"
            if role != "main" and old not in (extra | {row.main_customer_id} if old_stays else extra):
                return f"R35: ticket {row.number}: #{old} is no longer an additional customer (changed since)"
            on_now = new == row.main_customer_id or new in extra
            expected_on = (new in extra) if role == "main" else on_now
            if new_was_on and not expected_on:
                return f"R35: ticket {row.number}: #{new} was removed from it since"
            if not new_was_on and on_now:
                return f"R35: ticket {row.number}: #{new} was added to it since"
            c_new, c_old = self.customer(new), self.customer(old)
            if c_new is None:
                return f"R24: customer #{new} was deleted; ticket {row.number} cannot go back to it"
            if row.state == "open" and not c_new.active:
                return f"R20: {rules.label(c_new)} is deactivated; open ticket {row.number} cannot name it"
            return self.refusal("transfer", c_new, c_old)

        def do() -> None:
            c_new, c_old = self.customer(new), self.customer(old)
            assert c_new is not None and c_old is not None
            s = self.s
            if role == "main":
                s.execute(
                    update(T)
                    .where(T.id == t)
                    .values(main_customer_id=new)
                    .execution_options(synchronize_session=False)
                )
                if new_was_on:
                    s.execute(delete(A).where(A.ticket_id == t, A.customer_id == new))
                if old_stays:
                    s.execute(insert(A).values(ticket_id=t, customer_id=old))
            else:
                if not old_stays:
                    s.execute(delete(A).where(A.ticket_id == t, A.customer_id == old))
                if not new_was_on:
                    s.execute(insert(A).values(ticket_id=t, customer_id=new))
            # the protocol tells each change of the ticket's customers, so that it replays to them (R16)
            if role == "main":
                tickets.protocol_entry(self.work, t, "reverted", "main", old=c_old, new=c_new)
                if old_stays:
                    tickets.protocol_entry(self.work, t, "reverted", "additional", old=None, new=c_old)
            elif not (old_stays and new_was_on):
                gone = None if old_stays else c_old
                tickets.protocol_entry(
                    self.work, t, "reverted", role, old=gone, new=None if new_was_on else c_new
                )
            self.work.audit(
                "replace_customer",
                "ticket",
                t,
                new,
                {"role": role, "customer_id": old, "new_was_on": new_was_on, "old_stays": old_stays},
                {"role": role, "customer_id": new},
            )

        change = f"{role} customer back to #{new}"
        detail = (
            f"from #{old}"
            + (f"; #{old} stays on it" if old_stays else "")
            + (f"; #{new} was on it" if new_was_on else "")
        )
        return Step(e, "ticket", t, change, detail, check, do, {"ticket": [t], "customer": [old, new]})

    def transfer_back(self, e: Entry, protocol: list[Any]) -> list[Step]:
        src, dst = e.customer_id, (e.after or {}).get("customer_id")
        already = (e.after or {}).get("already_on")
        if already is None or dst is None:
            return [self.unrecorded(e)] if already is None else []
        moves = [
            p
            for p in protocol
            if p.action == "transferred" and p.old_customer_id == src and p.new_customer_id == dst
        ]
        return [
            self.replace(
                e,
                p.ticket_id,
                p.role,
                int(dst),
                int(src or 0),
                new_was_on=False,
                old_stays=p.ticket_id in already,
            )
            for p in moves
        ]

    def unrecorded(self, e: Entry) -> Step:
        why = f"R35: {e.action} #{e.id} was recorded before reverts were possible (which tickets named the target is not known)"
        return Step(e, e.entity, e.entity_id, f"undo {e.action}", check=lambda: why)

    def merge_back(self, e: Entry, protocol: list[Any]) -> list[Step]:
        surv, after = int(e.customer_id or 0), e.after or {}
        steps: list[Step] = []
        filled = dict(after.get("fields") or {})
        if filled:
            steps.append(self.fields_back(e, surv, {k: None for k in filled}, filled, "merged fields"))
        moved = after.get("moved")
        dups = [int(d["id"]) for d in after.get("duplicates", [])]
        if moved is None:
            return [*steps, self.unrecorded(e)]
        for d in reversed(dups):
            if self.customer(d) is None:
                continue  # deleted by the merge: its "merged" entry is the conflict (R24)
            mine = moved.get(str(d), {})
            already = set(mine.get("already_on", []))
            steps += [
                self.replace(
                    e, p.ticket_id, p.role, surv, d, new_was_on=False, old_stays=p.ticket_id in already
                )
                for p in protocol
                if p.action == "merged" and p.old_customer_id == d and p.new_customer_id == surv
            ]
            for entity in ("comment", "attachment"):
                steps += [self.move_detail(e, entity, i, surv, d) for i in mine.get(DETAILS[entity][1], [])]
        return steps

    def link_back(self, e: Entry) -> Step:
        t, cid, adding = int(e.entity_id or 0), int(e.customer_id or 0), e.action == "remove_customer"

        def check() -> str | None:
            found, c = self.ticket(t), self.customer(cid)
            if found is None or c is None:
                return f"R24: {'ticket' if found is None else 'customer'} #{t if found is None else cid} no longer exists"
            row, extra = found
            main = self.customer(row.main_customer_id)
            if refused := self.refusal("write", main):
                return refused
            if adding:
                on = "main" if row.main_customer_id == cid else ("additional" if cid in extra else None)
                return "; ".join(rules.additional_customer_problems(c, already=on)) or None
            return None if cid in extra else f"R35: {rules.label(c)} is no longer on ticket {row.number}"

        def do() -> None:
            c = self.customer(cid)
            assert c is not None
            (tickets.link if adding else tickets.unlink)(self.work, t, c)

        change = "add customer back" if adding else "remove the added customer"
        return Step(e, "ticket", t, change, f"#{cid}", check, do, {"ticket": [t], "customer": [cid]})

    def state_back(self, e: Entry) -> Step:
        t, old, new = int(e.entity_id or 0), (e.before or {}).get("state"), (e.after or {}).get("state")

        def check() -> str | None:
            found = self.ticket(t)
            if found is None:
                return f"R35: ticket #{t} does not exist any more"
            row, extra = found
            if row.state != new:
                return f"R35: ticket {row.number} is {row.state} now (changed since)"
            if refused := self.refusal("write", self.customer(row.main_customer_id)):
                return refused
            if old == "open":
                gone = [
                    c
                    for c in map(self.customer, [row.main_customer_id, *extra])
                    if c is not None and not c.active
                ]
                if gone:
                    return f"R20: ticket {row.number} names deactivated {', '.join(map(rules.label, gone))}; it stays closed"
            return None

        def do() -> None:
            found = self.ticket(t)
            assert found is not None
            tickets.set_state(self.work, t, found[0].main_customer_id, str(new), str(old))

        return Step(
            e, "ticket", t, f"{'reopen' if old == 'open' else 'close'}", "", check, do, {"ticket": [t]}
        )

    # -- comments and attachments --------------------------------------------------------------------------
    def move_detail(self, e: Entry, entity: str, detail_id: int, frm: Any, to: Any) -> Step:
        table, permission = DETAILS[entity]

        def check() -> str | None:
            owner = self.s.scalars(select(table.customer_id).where(table.id == detail_id)).first()
            if owner is None:
                return f"R11: {entity} #{detail_id} was deleted since"
            if owner != frm:
                return f"R35: {entity} #{detail_id} moved to customer #{owner} since"
            target = self.customer(to)
            if target is None:
                return f"R24: customer #{to} was deleted"
            return self.refusal(f"{permission}_write", target, self.customer(frm))

        def do() -> None:
            self.s.execute(
                update(table)
                .where(table.id == detail_id)
                .values(customer_id=to)
                .execution_options(synchronize_session=False)
            )
            self.work.audit_many(
                [
                    Change(
                        f"move_{entity}",
                        entity,
                        detail_id,
                        int(to),
                        {"customer_id": frm},
                        {"customer_id": to},
                    )
                ]
            )

        return Step(
            e,
            entity,
            detail_id,
            f"back to customer #{to}",
            f"from #{frm}",
            check,
            do,
            {entity: [detail_id], "customer": [int(frm), int(to)]},
        )
