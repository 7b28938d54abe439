"""The deactivation plan (R18, R19), computed in one place for `deactivate`, `deactivate_many`,
`check_invariants` and the forms: which customers a deactivation takes along, which open tickets block
it, and the refusals.

A company takes its contacts along (R19). An open ticket blocks the customer it names and, when that
customer is a contact of a company asked for, the company (R18).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Select, select, update

from cmkit.db import repo
from cmkit.db.among import among
from cmkit.db.schema import CustomerGroup, CustomerRow
from cmkit.db.uow import UnitOfWork
from cmkit.domain import rules
from cmkit.values import Customer

C = CustomerRow
#: the plan's columns: one row per customer that would be deactivated
COLUMNS = ["id", "name", "kind", "group", "company_id", "version", "requested", "change", "blocked_by"]


def blocking_tickets(customer_ids: Any) -> Select[Any]:
    """The open tickets naming any of `customer_ids` (ids or a select), one row per ticket and customer
    (R18: they block a deactivation)."""
    return repo.linked_tickets(customer_ids, ("open",), few=True)


@dataclass(frozen=True)
class DeactivationPlan:
    """What deactivating `requested` would do."""

    #: the ids that would be deactivated: the requested customers and their companies' contacts, if active
    scope: Select[Any]
    #: one row per customer in scope (COLUMNS); `blocked_by` lists the ticket numbers blocking it
    customers: pd.DataFrame
    #: the open tickets naming the requested customers or their companies' contacts
    blocking: pd.DataFrame
    #: the refusals (R18), one per blocked requested customer
    problems: list[str]


def plan(work: UnitOfWork, requested: Sequence[Customer], *, lock: bool = True) -> DeactivationPlan:
    """The plan for deactivating `requested` (locked by the caller); with `lock`, the contacts of the
    companies among them are locked here (PostgreSQL), as the deactivation changes them."""
    s = work.session
    asked = [c.id for c in requested]
    companies = [c.id for c in requested if c.kind == "company"]
    if lock:
        repo.lock_contacts_of(s, companies)
    reach = among(C.id, asked) | among(C.company_id, companies)
    everyone = repo.frame_of(
        s,
        select(C.id, C.name, C.kind, CustomerGroup.name.label("group"), C.company_id, C.version, C.active)
        .join(CustomerGroup, CustomerGroup.id == C.group_id)
        .where(reach),
    ).sort_values("id", ignore_index=True)  # here: SQLite would sort the rows with their names
    blocking = repo.frame_of(s, blocking_tickets(select(C.id).where(reach))).drop(columns=["closed_at"])
    company_of = blocking["customer_id"].map(everyone.set_index("id")["company_id"])
    blocked = pd.concat(
        [
            blocking.assign(blocks=blocking["customer_id"])[blocking["customer_id"].isin(asked)],
            blocking.assign(blocks=company_of)[company_of.isin(companies)],
        ]
    )
    numbers = blocked.groupby("blocks")["number"].agg(lambda n: list(dict.fromkeys(n))).to_dict()
    own = blocking.groupby("customer_id")["number"].agg(lambda n: list(dict.fromkeys(n))).to_dict()
    customers = everyone[everyone["active"].astype(bool)].drop(columns=["active"]).reset_index(drop=True)
    customers["company_id"] = customers["company_id"].astype("Int64")
    customers["requested"] = customers["id"].isin(asked)
    customers["change"] = "deactivate"
    # a requested customer is blocked by its own tickets and (a company) its contacts', another by its own
    ids = customers["id"]
    listed, owned = (ids.map({k: ", ".join(v) for k, v in d.items()}).astype(object) for d in (numbers, own))
    customers["blocked_by"] = owned.where(~customers["requested"], listed).fillna("").astype(str)
    problems = [
        p
        for c in requested
        for p in rules.deactivate_problems(c, numbers.get(c.id, []), company_scope=c.kind == "company")
    ]
    scope = select(C.id).where(C.active.is_(True), reach)
    return DeactivationPlan(scope, customers[COLUMNS], blocking, problems)


def carry_out(work: UnitOfWork, plan: DeactivationPlan) -> None:
    """Deactivate the customers `plan` found, one audit entry each (R29): they were read in this
    transaction under lock (see `plan`), so they are audited as read, not read again."""
    ids = plan.customers["id"].tolist()
    work.audit_each("deactivate", ids, _BEFORE, _AFTER, meanwhile=lambda: _deactivate(work, plan.scope))


def apply(work: UnitOfWork, scope: Any) -> None:
    """Deactivate the active customers in `scope` (ids or a select), one audit entry each (R29)."""
    work.audit_customers("deactivate", scope, _BEFORE, _AFTER)
    _deactivate(work, scope)


_BEFORE, _AFTER = {"active": True}, {"active": False}


def _deactivate(work: UnitOfWork, scope: Any) -> None:
    work.session.execute(
        update(C)
        .where(among(C.id, scope), C.active.is_(True))
        .values(active=False, deactivated_at=work.now, version=C.version + 1, updated_at=work.now)
        .execution_options(synchronize_session=False)
    )
