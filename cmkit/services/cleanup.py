"""Bulk cleanup for audits and runbooks: deactivate many, move contacts to companies, and the facade's
`CleanupAPI`, which gathers duplicates, merge, anonymise, invariants and import.

Each operation is one transaction and set-based; with `dry_run=True` it returns the plan as a table and
changes nothing; without, a refused operation raises PreconditionFailed and changes nothing (R30).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import bindparam, insert, select, update

from cmkit.db import repo
from cmkit.db.schema import AuditEntry, CustomerGroup, CustomerRow
from cmkit.db.uow import UnitOfWork
from cmkit.domain import rules
from cmkit.errors import ValidationError
from cmkit.services.anonymise import AnonymiseAPI
from cmkit.services.bulk import BulkAPI, id_list, table_of
from cmkit.services.duplicates import DuplicatesAPI
from cmkit.services.importing import ImportAPI, read_table
from cmkit.services.invariants import InvariantsAPI
from cmkit.services.merge import MergeAPI
from cmkit.values import Outcome

C = CustomerRow
DEACTIVATE_COLUMNS = ["id", "name", "kind", "group", "company_id", "requested", "change", "blocked_by"]
MOVE_COLUMNS = ["id", "row", "name", "from_company_id", "company_id", "company_name", "change"]


class BulkLifecycleAPI(BulkAPI):
    def deactivate_many(self, ids: Any, dry_run: bool = False) -> Outcome:
        """Deactivate all these customers (companies with their contacts, R19) or none.

        Refused (R18) while an open ticket names one of them or a contact of one of these companies: then
        `problems` has one entry per blocked customer with its tickets, the plan's `blocked_by` column lists
        the ticket numbers, and the error's `.blocking` has the tickets. Customers deactivated already are
        left out. Needs the deactivate permission on their groups.
        """
        wanted = id_list(ids, "ids")

        def op(work: UnitOfWork) -> Outcome:
            s = work.session
            repo.lock_customers(s, wanted, shared=False)
            custs = [c for c in self._customers(work, wanted, ["deactivate"]) if c.active]
            requested = [c.id for c in custs]
            companies = [c.id for c in custs if c.kind == "company"]
            for comp in companies:
                repo.lock_contacts_of(s, comp)
            scope = select(C.id).where(C.active.is_(True), C.id.in_(requested) | C.company_id.in_(companies))
            plan = repo.frame_of(
                s,
                select(
                    C.id,
                    C.name,
                    C.kind,
                    CustomerGroup.name.label("group"),
                    C.company_id,
                )
                .join(CustomerGroup, CustomerGroup.id == C.group_id)
                .where(C.id.in_(scope))
                .order_by(C.id),
            )
            plan["company_id"] = plan["company_id"].astype("Int64")
            plan["requested"] = plan["id"].isin(requested)
            blocking = repo.frame_of(s, repo.linked_tickets(scope, ("open",))).drop(columns=["closed_at"])
            # a ticket blocks the customer it names, if asked for, and that customer's company, if asked for
            company_of = blocking["customer_id"].map(plan.set_index("id")["company_id"])
            blocked = pd.concat(
                [
                    blocking.assign(blocks=blocking["customer_id"])[blocking["customer_id"].isin(requested)],
                    blocking.assign(blocks=company_of)[company_of.isin(companies)],
                ]
            )
            numbers = blocked.groupby("blocks")["number"].agg(lambda n: list(dict.fromkeys(n)))
            own = blocking.groupby("customer_id")["number"].agg(lambda n: list(dict.fromkeys(n)))
            plan["change"] = "deactivate"
            plan["blocked_by"] = [
                ", ".join((numbers if asked else own).get(i, []))
                for i, asked in zip(plan["id"], plan["requested"], strict=True)
            ]
            problems = [
                p
                for c in custs
                for p in rules.deactivate_problems(
                    c, numbers.get(c.id, []), company_scope=c.kind == "company"
                )
            ]
            return self._finish(
                plan[DEACTIVATE_COLUMNS],
                problems,
                dry_run,
                blocking,
                lambda: self._apply_deactivate(work, scope),
            )

        return self._write(op)

    def move_contacts(self, moves: Any, dry_run: bool = False) -> Outcome:
        """Move contacts to other companies of their groups (R7), all or none, in one transaction.

        `moves`: a DataFrame, or a CSV/XLSX file, with columns contact_id and company_id (one row per contact).
        Problems name the row (as a spreadsheet numbers it: the first data row is row 2): unknown ids, a
        target that is not a company of the contact's group, a deactivated contact or company (R7, R20).
        Needs write on the contacts' groups.
        """
        table = read_table(moves, "moves")
        missing = [c for c in ("contact_id", "company_id") if c not in table.columns]
        if missing:
            raise ValidationError(
                "moves", f"needs the columns contact_id and company_id; missing: {', '.join(missing)}"
            )
        rows = pd.DataFrame(
            {
                "row": range(2, len(table) + 2),
                "contact_id": pd.to_numeric(table["contact_id"], errors="coerce"),
                "company_id": pd.to_numeric(table["company_id"], errors="coerce"),
            }
        )
        read_problems = [
            f"row {r}: contact_id and company_id must be whole numbers"
            for r in rows.loc[rows[["contact_id", "company_id"]].isna().any(axis=1), "row"]
        ]
        rows = rows.dropna().astype("int64")
        twice = rows[rows.duplicated("contact_id", keep=False)]
        read_problems += [
            f"row {r}: contact #{c} is listed more than once; keep one row per contact"
            for r, c in zip(twice["row"], twice["contact_id"], strict=True)
        ]

        def op(work: UnitOfWork) -> Outcome:
            s, problems = work.session, list(read_problems)
            repo.lock_customers(s, rows["company_id"].tolist(), shared=True)
            repo.lock_customers(s, rows["contact_id"].tolist(), shared=False)
            found = self._known(work, rows, problems)
            contacts = {c.id: c for c in self._customers(work, found["contact_id"].tolist(), ["write"])}
            companies = {
                c.id: c for c in self._customers(work, found["company_id"].unique().tolist(), ["read"])
            }
            for r, a, b in zip(found["row"], found["contact_id"], found["company_id"], strict=True):
                problems.extend(
                    f"row {r}: {p}"
                    for p in rules.change_company_problems(
                        contacts[a], companies[b], self.group(contacts[a].group)
                    )
                )
            found = found[
                [
                    contacts[a].company_id != b
                    for a, b in zip(found["contact_id"], found["company_id"], strict=True)
                ]
            ]
            plan = pd.DataFrame(
                {
                    "id": found["contact_id"],
                    "row": found["row"],
                    "name": [contacts[a].name for a in found["contact_id"]],
                    "from_company_id": pd.array(
                        [contacts[a].company_id for a in found["contact_id"]], dtype="Int64"
                    ),
                    "company_id": found["company_id"],
                    "company_name": [companies[b].name for b in found["company_id"]],
                    "change": "change company",
                },
                columns=MOVE_COLUMNS,
            )
            return self._finish(
                plan.reset_index(drop=True), problems, dry_run, apply=lambda: self._apply_moves(work, plan)
            )

        return self._write(op)

    def _known(self, work: UnitOfWork, rows: pd.DataFrame, problems: list[str]) -> pd.DataFrame:
        """The rows whose contact and company exist; a problem for every other."""
        ids = set(rows["contact_id"]) | set(rows["company_id"])
        existing = set(work.session.scalars(select(C.id).where(C.id.in_([int(i) for i in ids]))))
        for col, what in (("contact_id", "contact"), ("company_id", "company")):
            gone = rows[~rows[col].isin(existing)]
            problems.extend(
                f"row {r}: {what} #{i} does not exist" for r, i in zip(gone["row"], gone[col], strict=True)
            )
        return rows[rows["contact_id"].isin(existing) & rows["company_id"].isin(existing)]

    def _apply_moves(self, work: UnitOfWork, plan: pd.DataFrame) -> None:
        if plan.empty:
            return
        ct = table_of(C)
        work.session.execute(
            update(ct)
            .where(ct.c.id == bindparam("b_id"))
            .values(company_id=bindparam("b_company"), version=ct.c.version + 1, updated_at=work.now),
            [
                {"b_id": int(i), "b_company": int(c)}
                for i, c in zip(plan["id"], plan["company_id"], strict=True)
            ],
        )
        work.session.execute(
            insert(AuditEntry),
            [
                {
                    "at": work.now,
                    "user_name": work.user,
                    "action": "change_company",
                    "entity": "customer",
                    "entity_id": int(i),
                    "customer_id": int(i),
                    "before": {"company_id": int(old)},
                    "after": {"company_id": int(new)},
                    "run_id": work.run_id,
                }
                for i, old, new in zip(plan["id"], plan["from_company_id"], plan["company_id"], strict=True)
            ],
        )


class CleanupAPI(DuplicatesAPI, MergeAPI, AnonymiseAPI, BulkLifecycleAPI, ImportAPI, InvariantsAPI):
    """Audits and bulk cleanup: find_duplicates, suggest_merges, merge, anonymise, deactivate_many,
    move_contacts, check_invariants, import_customers."""
