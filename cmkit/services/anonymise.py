"""Erasing a customer's personal data while keeping its tickets (`anonymise`)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

import pandas as pd
from sqlalchemy import bindparam, delete, literal, or_, select, update

from cmkit.db import audit_chain, repo
from cmkit.db.among import among
from cmkit.db.details_schema import AttachmentRow, CommentRow
from cmkit.db.repo import table_of
from cmkit.db.schema import AuditEntry, CustomerRow, ProtocolEntry
from cmkit.db.uow import UnitOfWork
from cmkit.domain import rules
from cmkit.domain.attachments import fold
from cmkit.domain.config import FieldDef
from cmkit.domain.fields import display_name
from cmkit.domain.keys import key_for
from cmkit.services import access, deactivation
from cmkit.services.access import empty_plan, id_list
from cmkit.services.context import Context
from cmkit.services.duplicates import ANONYMISE_ACTION, anonymised_ids
from cmkit.services.planning import PlanInfo
from cmkit.values import Customer, CustomerRef, Outcome

C, Cm, At, P, L = CustomerRow, CommentRow, AttachmentRow, ProtocolEntry, AuditEntry
PLACEHOLDER = "anonymised"
PLAN_COLUMNS = ["entity", "id", "customer_id", "change", "detail"]
#: Keys of audit values that describe the record, not the person: kept when the values are redacted.
STRUCTURAL_KEYS = frozenset(
    {
        "kind",
        "group",
        "company_id",
        "active",
        "state",
        "role",
        "type",
        "size",
        "pending",
        "merged_into",
        "then",
        "only_open",
        "customer_id",
        "id",
        "queue",
        "number",
        "already_on",
        "additional_customer_id",
    }
)


def placeholder_value(fd: FieldDef, customer_id: int) -> Any:
    """What a required field holds after anonymising (None for optional fields: they are cleared)."""
    if not fd.required:
        return None
    return {
        "email": f"anonymised-{customer_id}@example.invalid",
        "phone": "000000",
        "number": 0,
        "bool": False,
        "date": "1900-01-01",
        "choice": fd.choices[0] if fd.choices else None,
    }.get(fd.type, PLACEHOLDER[: fd.max_length or None])


def identifying_texts(c: Customer) -> list[str]:
    """The strings that identify the customer in free text: its name in the usual orders, e-mail, phone."""
    f = c.fields
    first, last = str(f.get("first_name") or "").strip(), str(f.get("last_name") or "").strip()
    found = [
        c.name,
        f"{last} {first}",
        f"{last}, {first}" if first and last else "",
        str(f.get("email") or ""),
        str(f.get("phone") or ""),
    ]
    return sorted({t.strip() for t in found if len(t.strip()) >= 4}, key=len, reverse=True)


def _pattern(texts: Sequence[str]) -> re.Pattern[str] | None:
    if not texts:
        return None
    parts = [r"\s+".join(re.escape(w) for w in t.split()) for t in texts]
    return re.compile("|".join(parts), re.IGNORECASE)


def scrub(value: Any, pattern: re.Pattern[str] | None, everything: bool) -> Any:
    """`value` (JSON) with the identifying texts replaced by the placeholder; with `everything`, every string
    except those under STRUCTURAL_KEYS."""
    if isinstance(value, dict):
        return {k: v if k in STRUCTURAL_KEYS else scrub(v, pattern, everything) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, pattern, everything) for v in value]
    if isinstance(value, str):
        if everything:
            return PLACEHOLDER
        return pattern.sub(PLACEHOLDER, value) if pattern else value
    return value


def blank(value: Any, placeholder: str) -> Any:
    """`value` (JSON) with every value not under STRUCTURAL_KEYS replaced by `placeholder` (None stays None):
    what R24 leaves of a deleted contact's audit entries."""
    if isinstance(value, dict):
        return {k: v if k in STRUCTURAL_KEYS else blank(v, placeholder) for k, v in value.items()}
    if isinstance(value, list):
        return [blank(v, placeholder) for v in value]
    return None if value is None else placeholder


@dataclasses.dataclass
class Erasure:
    """What one anonymise call erases: the customers, the records once merged into them (the same persons,
    known from the audit log), the texts that identify them, and the comments of others that name them."""

    customers: list[Customer]
    merged: dict[int, list[Customer]]
    pattern: re.Pattern[str] | None
    texts: list[str]
    rewrites: dict[int, str] = dataclasses.field(default_factory=dict)

    @property
    def ids(self) -> list[int]:
        return [c.id for c in self.customers]

    @property
    def named_ids(self) -> dict[int, int]:
        """Every id whose name the protocol keeps -> the anonymised customer it now stands for."""
        return {**{m.id: c for c, ms in self.merged.items() for m in ms}, **{c: c for c in self.ids}}


def anonymise(
    ctx: Context,
    customer_id: CustomerRef | list[CustomerRef],
    *,
    dry_run: bool = False,
    expect: Outcome | None = None,
) -> Outcome:
    """Erase the personal data of one customer (or a list of them, all or none) and keep the tickets.

    The fields are cleared (required ones get a neutral placeholder), comments and attachments are
    removed, the name becomes "anonymised" in the ticket protocol and is erased from other customers'
    comments, the audit values of the customer (and of records merged into it) are redacted, and the
    customer is deactivated (a company with its contacts). Refused (R18) while an open ticket names it
    (or, for a company, its contacts), and for a customer anonymised already. Needs write, deactivate
    and delete on the group.
    """
    ids = id_list(customer_id, "customer_id")

    def op(work: UnitOfWork) -> Outcome:
        s = work.session
        repo.lock_customers(s, ids, shared=False)
        custs = access.customers(ctx, work, ids, ["write", "deactivate", "delete"])
        companies = [c.id for c in custs if c.kind == "company"]
        repo.lock_contacts_of(s, companies)
        scope = select(C.id).where(among(C.id, ids) | among(C.company_id, companies))
        blocking = repo.frame_of(s, deactivation.blocking_tickets(scope)).drop(columns=["closed_at"])
        problems = _anonymise_problems(work, custs, blocking)
        erasure = _erasure(work, custs)
        plan = _anonymise_plan(work, erasure, scope)
        entity = plan["entity"]
        reads: dict[str, Any] = {
            e: plan.loc[entity == e, "id"] for e in ("comment", "attachment", "protocol")
        }
        reads["customer"] = [*ids, *plan.loc[entity == "customer", "id"]]
        reads["ticket"] = blocking["id"]
        return access.finish(
            plan,
            problems,
            dry_run=dry_run,
            blocking=blocking,
            apply=lambda: _apply_anonymise(ctx, work, erasure, scope),
            plan=PlanInfo(work, "anonymise", {"customer_id": ids}, expect, reads),
        )

    return ctx.write(op)


def _anonymise_problems(work: UnitOfWork, custs: Sequence[Customer], blocking: pd.DataFrame) -> list[str]:
    done = set(work.session.scalars(anonymised_ids().where(among(L.customer_id, [c.id for c in custs]))))
    company_of = dict(
        work.session.execute(
            select(C.id, C.company_id).where(among(C.id, blocking["customer_id"].astype(int).tolist()))
        ).all()
    )
    problems = []
    for c in custs:
        if c.id in done:
            problems.append(
                f"R29: {rules.label(c)} is anonymised already (see its history); nothing to erase"
            )
            continue
        mine = blocking["customer_id"].map(lambda i, c=c: i == c.id or company_of.get(i) == c.id)
        numbers = list(dict.fromkeys(blocking.loc[mine.astype(bool), "number"]))
        if numbers:
            as_active = dataclasses.replace(c, active=True)  # the check of R18, also for a deactivated one
            problems += [
                p.replace("cannot deactivate", "cannot anonymise (which deactivates)")
                for p in rules.deactivate_problems(as_active, numbers, company_scope=c.kind == "company")
            ]
    return problems


def _erasure(work: UnitOfWork, custs: Sequence[Customer]) -> Erasure:
    s, ids = work.session, [c.id for c in custs]
    merged: dict[int, list[Customer]] = {}
    for survivor, after in s.execute(
        select(L.customer_id, L.after).where(among(L.customer_id, ids), L.action == "merge")
    ):
        dup_ids = [int(d["id"]) for d in (after or {}).get("duplicates", [])]
        snaps = s.execute(
            select(L.customer_id, L.before).where(among(L.customer_id, dup_ids), L.action == "merged")
        ).all()
        merged.setdefault(int(survivor), []).extend(
            Customer(
                id=int(i),
                kind=b["kind"],
                group=b["group"],
                company_id=b.get("company_id"),
                active=False,
                name=b["name"],
                fields=MappingProxyType(b.get("fields") or {}),
                version=1,
            )
            for i, b in snaps
            if isinstance(b, dict) and "name" in b
        )
    people = [*custs, *(m for ms in merged.values() for m in ms)]
    texts = sorted({t for c in people for t in identifying_texts(c)}, key=len, reverse=True)
    erasure = Erasure(list(custs), merged, _pattern(texts), texts)
    erasure.rewrites = _comment_rewrites(work, erasure)
    return erasure


def _comment_rewrites(work: UnitOfWork, erasure: Erasure) -> dict[int, str]:
    """Other customers' comments that name one of the persons: comment id -> text with the name erased."""
    if erasure.pattern is None:
        return {}
    mentions = or_(*[Cm.text_folded.contains(fold(t), autoescape=True) for t in erasure.texts])
    found = work.session.execute(
        select(Cm.id, Cm.text).where(mentions, Cm.customer_id.not_in(erasure.ids))
    ).all()
    return {i: new for i, text in found if (new := erasure.pattern.sub(PLACEHOLDER, text)) != text}


def _anonymise_plan(work: UnitOfWork, erasure: Erasure, scope: Any) -> pd.DataFrame:
    s, ids, named = work.session, erasure.ids, erasure.named_ids
    rows = [
        {
            "entity": "customer",
            "id": c.id,
            "customer_id": c.id,
            "change": "erase fields",
            "detail": ", ".join(k for k, v in c.fields.items() if v is not None),
        }
        for c in erasure.customers
    ]
    frames = [pd.DataFrame(rows, columns=PLAN_COLUMNS)]
    for table, entity in ((Cm, "comment"), (At, "attachment")):
        frames.append(
            repo.frame_of(
                s,
                select(
                    literal(entity).label("entity"),
                    table.id,
                    table.customer_id,
                    literal("remove").label("change"),
                    literal("").label("detail"),
                )
                .where(among(table.customer_id, ids))
                .order_by(table.id),
            )
        )
    entries = repo.frame_of(
        s,
        select(P.id, P.ticket_id, P.action, P.old_customer_id, P.new_customer_id)
        .where(or_(among(P.old_customer_id, named), among(P.new_customer_id, named)))
        .order_by(P.id),
    )
    who = entries["old_customer_id"].where(
        entries["old_customer_id"].isin(list(named)), entries["new_customer_id"]
    )
    frames.append(
        pd.DataFrame(
            {
                "entity": "protocol",
                "id": entries["id"],
                "customer_id": who.map(named),
                "change": "name becomes placeholder",
                "detail": "ticket #" + entries["ticket_id"].astype(str) + ": " + entries["action"],
            }
        )
    )
    if erasure.rewrites:
        owners = dict(s.execute(select(Cm.id, Cm.customer_id).where(among(Cm.id, erasure.rewrites))).all())
        frames.append(
            pd.DataFrame(
                [
                    {
                        "entity": "comment",
                        "id": i,
                        "customer_id": owners[i],
                        "change": "erase name from text",
                        "detail": "",
                    }
                    for i in sorted(erasure.rewrites)
                ]
            )
        )
    frames.append(
        repo.frame_of(
            s,
            select(
                literal("customer").label("entity"),
                C.id,
                C.id.label("customer_id"),
                literal("deactivate").label("change"),
                literal("").label("detail"),
            )
            .where(among(C.id, scope), C.active.is_(True))
            .order_by(C.id),
        )
    )
    frames = [f for f in frames if not f.empty]
    plan = pd.concat(frames, ignore_index=True) if frames else empty_plan(PLAN_COLUMNS)
    plan["customer_id"] = plan["customer_id"].astype("Int64")
    return plan[PLAN_COLUMNS]


def _apply_anonymise(ctx: Context, work: UnitOfWork, erasure: Erasure, scope: Any) -> None:
    s, ids = work.session, erasure.ids
    values: list[dict[str, Any]] = []
    for c in erasure.customers:
        defs = ctx.group(c.group).fields_for(c.kind)
        data = {k: v for k, fd in defs.items() if (v := placeholder_value(fd, c.id)) is not None}
        values.append(
            {
                "b_id": c.id,
                "b_data": data,
                "b_name": display_name(c.kind, data) or PLACEHOLDER,
                "b_key": key_for(c.kind, data, defs),
            }
        )
    ct = table_of(C)
    s.execute(
        update(ct)
        .where(ct.c.id == bindparam("b_id"))
        .values(
            data=bindparam("b_data"),
            name=bindparam("b_name"),
            search_key=bindparam("b_key"),
            version=ct.c.version + 1,
            updated_at=work.now,
        ),
        values,
    )
    removed = {}
    for table, entity in ((Cm, "comments"), (At, "attachments")):
        gone = s.execute(
            delete(table).where(among(table.customer_id, ids)).execution_options(synchronize_session=False)
        )
        removed[f"{entity}_removed"] = int(getattr(gone, "rowcount", 0) or 0)
    new_name = {v["b_id"]: v["b_name"] for v in values}
    audit_chain.rename_in_protocol(s, {i: new_name[c] for i, c in erasure.named_ids.items()})
    if erasure.rewrites:
        cmt = table_of(Cm)
        s.execute(
            update(cmt)
            .where(cmt.c.id == bindparam("b_id"))
            .values(text=bindparam("b_text"), text_folded=bindparam("b_folded")),
            [{"b_id": i, "b_text": t, "b_folded": fold(t)} for i, t in erasure.rewrites.items()],
        )
    _redact_audit(work, erasure)
    deactivation.apply(work, scope)
    for c, v in zip(erasure.customers, values, strict=True):
        work.audit(
            ANONYMISE_ACTION,
            "customer",
            c.id,
            c.id,
            {"erased": sorted(k for k, x in c.fields.items() if x is not None), **removed},
            {"name": v["b_name"], "fields": v["b_data"], "active": False},
        )


def _redact_audit(work: UnitOfWork, erasure: Erasure) -> None:
    """Redact the personal data in the audit log: every value of the persons' own customer, comment and
    attachment entries (the customers' and the records' merged into them); their names in their ticket
    entries and in the entries of the comments rewritten."""
    s = work.session
    personal = L.entity.in_(["customer", "comment", "attachment"])
    own = s.execute(
        select(L.id, L.before, L.after).where(among(L.customer_id, erasure.named_ids), personal)
    ).all()
    named = or_(
        among(L.customer_id, erasure.named_ids) & ~personal,
        (L.entity == "comment") & among(L.entity_id, erasure.rewrites),
    )
    mention = s.execute(select(L.id, L.before, L.after).where(named)).all()
    changes = [
        {"b_id": i, "b_before": scrub(b, None, True), "b_after": scrub(a, None, True)} for i, b, a in own
    ]
    changes += [
        {
            "b_id": i,
            "b_before": scrub(b, erasure.pattern, False),
            "b_after": scrub(a, erasure.pattern, False),
        }
        for i, b, a in mention
    ]
    audit_chain.scrub(s, [(c["b_id"], c["b_before"], c["b_after"]) for c in changes])
