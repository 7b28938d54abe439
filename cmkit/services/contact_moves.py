"""Moving many contacts to other companies of their groups at once (R7), all or none, with a dry run."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import bindparam, select, update

from cmkit.db import repo
from cmkit.db.change import Change
from cmkit.db.repo import table_of
from cmkit.db.schema import CustomerRow
from cmkit.db.uow import UnitOfWork
from cmkit.domain import rules
from cmkit.errors import ValidationError
from cmkit.services import access, planning
from cmkit.services.context import Context
from cmkit.services.importing import read_table
from cmkit.services.planning import PlanInfo
from cmkit.values import Outcome

C = CustomerRow
MOVE_COLUMNS = ["id", "row", "name", "from_company_id", "company_id", "company_name", "change"]


def move_contacts(
    ctx: Context, moves: Any, *, dry_run: bool = False, expect: Outcome | None = None
) -> Outcome:
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
        found = _known(work, rows, problems)
        contacts = {c.id: c for c in access.customers(ctx, work, found["contact_id"].tolist(), ["write"])}
        companies = {
            c.id: c for c in access.customers(ctx, work, found["company_id"].unique().tolist(), ["read"])
        }
        for r, a, b in zip(found["row"], found["contact_id"], found["company_id"], strict=True):
            problems.extend(
                f"row {r}: {p}"
                for p in rules.change_company_problems(
                    contacts[a], companies[b], ctx.group(contacts[a].group)
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
        reads = {"customer": [*rows["contact_id"], *rows["company_id"]]}
        arguments = {"moves": planning.encode_frame(rows.drop(columns=["row"]))}
        return access.finish(
            plan.reset_index(drop=True),
            problems,
            dry_run=dry_run,
            apply=lambda: _apply_moves(work, plan),
            plan=PlanInfo(work, "move_contacts", arguments, expect, reads),
        )

    return ctx.write(op)


def _known(work: UnitOfWork, rows: pd.DataFrame, problems: list[str]) -> pd.DataFrame:
    """The rows whose contact and company exist; a problem for every other."""
    ids = set(rows["contact_id"]) | set(rows["company_id"])
    existing = set(work.session.scalars(select(C.id).where(C.id.in_([int(i) for i in ids]))))
    for col, what in (("contact_id", "contact"), ("company_id", "company")):
        gone = rows[~rows[col].isin(existing)]
        problems.extend(
            f"row {r}: {what} #{i} does not exist" for r, i in zip(gone["row"], gone[col], strict=True)
        )
    return rows[rows["contact_id"].isin(existing) & rows["company_id"].isin(existing)]


def _apply_moves(work: UnitOfWork, plan: pd.DataFrame) -> None:
    if plan.empty:
        return
    ct = table_of(C)
    work.session.execute(
        update(ct)
        .where(ct.c.id == bindparam("b_id"))
        .values(company_id=bindparam("b_company"), version=ct.c.version + 1, updated_at=work.now),
        [{"b_id": int(i), "b_company": int(c)} for i, c in zip(plan["id"], plan["company_id"], strict=True)],
    )
    work.audit_many(
        Change(
            "change_company", "customer", int(i), int(i), {"company_id": int(old)}, {"company_id": int(new)}
        )
        for i, old, new in zip(plan["id"], plan["from_company_id"], plan["company_id"], strict=True)
    )
