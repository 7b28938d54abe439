"""check_invariants: exactly one row per violated rule and record; empty when the database is consistent.

The violations are made with raw SQL, behind cmkit's back, since cmkit itself never makes them.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from helpers import MakeTicket

from cmkit import CustomerManager
from cmkit.db.engine import engine_for
from cmkit.db.schema import AdditionalCustomer, CustomerGroup, CustomerRow, TicketRow


def _sql(db_url: str, *statements: sa.Executable) -> None:
    with engine_for(db_url).begin() as conn:
        for stmt in statements:
            conn.execute(stmt)


def _rows(found: pd.DataFrame) -> set[tuple[str, str, int]]:
    return {(r.rule, r.entity, r.id) for r in found.itertuples()}


def test_consistent_database_has_no_violations(cm: CustomerManager, world, make_ticket: MakeTicket) -> None:
    make_ticket(world["anna"], world["bert"], subject="Open")
    make_ticket(world["carl"], closed=True, subject="Closed")
    cm.deactivate(world["carl"].id)
    found = cm.check_invariants()
    assert found.empty and list(found.columns) == ["rule", "entity", "id", "detail"]


def test_each_rule_is_reported_once_per_record(cm: CustomerManager, world, db_url: str) -> None:
    C, A = CustomerRow, AdditionalCustomer
    anna, bert, carl, acme, zeta, part, priv = (
        world[k] for k in ("anna", "bert", "carl", "acme", "zeta", "part", "priv")
    )
    open_t = cm.create_ticket(anna.id, "helpdesk", "Open", additional=[bert.id])
    part_t = cm.create_ticket(part.id, "partnerdesk", "Company ticket")
    with engine_for(db_url).connect() as conn:
        private_gid = conn.execute(
            sa.select(CustomerGroup.id).where(CustomerGroup.name == "private")
        ).scalar_one()
    _sql(
        db_url,
        sa.update(C).where(C.id == bert.id).values(active=False),  # R18 on the open ticket
        sa.update(C).where(C.id == zeta.id).values(active=False),  # R19: carl stays active
        sa.update(C)
        .where(C.id == world["pete"].id)
        .values(company_id=acme.id),  # R3: company of another group
        sa.update(C)
        .where(C.id == priv.id)
        .values(company_id=acme.id),  # R2: one-level contact with a company
        sa.update(C)
        .where(C.id == anna.id)
        .values(name="Anna M.", data={"last_name": "Müller", "email": "bad", "x": 1}),
        sa.insert(A).values(ticket_id=open_t.id, customer_id=anna.id),  # R15: additional and main
        sa.update(C).where(C.id == part.id).values(group_id=private_gid),  # R2: company in a one-level group
    )
    found = cm.check_invariants()
    assert _rows(found) == {
        ("R2", "customer", priv.id),
        ("R2", "customer", part.id),
        ("R3", "customer", world["pete"].id),
        ("R4", "customer", anna.id),
        ("R14", "ticket", part_t.id),  # its company moved to a group the partnerdesk does not serve
        ("R15", "ticket", open_t.id),
        ("R18", "ticket", open_t.id),
        ("R19", "customer", carl.id),
    }
    assert found["rule"].tolist() == ["R2", "R2", "R3", "R4", "R14", "R15", "R18", "R19"]
    detail = found.set_index(["rule", "id"])["detail"]
    assert detail[("R18", open_t.id)] == f"names deactivated additional customer #{bert.id} Bert Öztürk"
    r4 = detail[("R4", anna.id)]
    assert "x: not a field" in r4 and "'bad' is not an e-mail" in r4 and "the stored name 'Anna M.'" in r4
    # partners take tickets for companies: the only finding on that ticket is its queue
    assert (
        detail[("R14", part_t.id)]
        == "its queue partnerdesk is not assigned to its main customer's group private"
    )


def test_r3_r14_contact_without_company_and_company_as_main_customer(
    cm: CustomerManager, world, db_url: str
) -> None:
    t = cm.create_ticket(world["anna"].id, "helpdesk", "Printer")
    _sql(
        db_url,
        sa.update(CustomerRow).where(CustomerRow.id == world["bert"].id).values(company_id=None),
        sa.update(TicketRow).where(TicketRow.id == t.id).values(main_customer_id=world["acme"].id),
    )
    found = cm.check_invariants()
    assert _rows(found) == {("R3", "customer", world["bert"].id), ("R14", "ticket", t.id)}


def test_r4_required_field_missing_is_found(cm: CustomerManager, world, db_url: str) -> None:
    _sql(
        db_url,
        sa.update(CustomerRow)
        .where(CustomerRow.id == world["carl"].id)
        .values(data={"first_name": "Carl"}, name="Carl"),
    )
    found = cm.check_invariants()
    assert _rows(found) == {("R4", "customer", world["carl"].id)}
    assert found.iloc[0]["detail"] == "last_name: is required and empty"


def test_only_readable_groups_are_checked(as_user, world, db_url: str) -> None:
    _sql(db_url, sa.update(CustomerRow).where(CustomerRow.id == world["priv"].id).values(name="Someone else"))
    assert len(as_user("admin").check_invariants()) == 1
    assert as_user("rita").check_invariants().empty  # rita reads retail only


def test_r19_repair_deactivates_contacts_of_deactivated_companies_except_blocked_ones(
    cm: CustomerManager, world, db_url: str, snapshot
) -> None:
    zeta, carl = world["zeta"], world["carl"]
    busy = cm.create_contact("retail", company=zeta.id, last_name="Busy")
    open_ticket = cm.create_ticket(busy.id, "helpdesk", "Still open")
    _sql(db_url, sa.update(CustomerRow).where(CustomerRow.id == zeta.id).values(active=False))
    before = snapshot()
    plan = cm.deactivate_contacts_of_deactivated_companies(dry_run=True)
    assert snapshot() == before and plan.problems == []
    assert plan.changes[["id", "change", "blocked_by"]].values.tolist() == [
        [carl.id, "deactivate", ""],
        [busy.id, "blocked", open_ticket.number],
    ]
    assert plan.blocking["number"].tolist() == [open_ticket.number]
    done = cm.deactivate_contacts_of_deactivated_companies()
    assert done.applied and not cm.customer(carl.id).active and cm.customer(busy.id).active
    assert _rows(cm.check_invariants()) == {("R19", "customer", busy.id)}
    assert cm.history().query("action == 'deactivate'")["customer_id"].tolist() == [carl.id]
    assert cm.deactivate_contacts_of_deactivated_companies(dry_run=True).changes["id"].tolist() == [busy.id]


def test_r19_repair_only_in_groups_the_user_may_deactivate(
    as_user, cm: CustomerManager, world, db_url: str
) -> None:
    _sql(
        db_url,
        sa.update(CustomerRow)
        .where(CustomerRow.id.in_([world["acme"].id, world["part"].id]))
        .values(active=False),
    )
    lena = as_user("lena")  # deactivates in retail only
    assert set(lena.deactivate_contacts_of_deactivated_companies().changes["id"]) == {
        world["anna"].id,
        world["bert"].id,
    }
    assert _rows(cm.check_invariants()) == {("R19", "customer", world["pete"].id)}
    assert as_user("rita").deactivate_contacts_of_deactivated_companies(dry_run=True).changes.empty


def test_customer_counts_per_group_kind_and_state(as_user, cm: CustomerManager, world) -> None:
    cm.deactivate(world["carl"].id)
    counts = cm.customer_counts()
    assert counts.values.tolist() == [
        ["retail", "company", 2, 0],
        ["retail", "contact", 2, 1],
        ["partners", "company", 1, 0],
        ["partners", "contact", 1, 0],
        ["private", "contact", 1, 0],
    ]
    assert list(counts.columns) == ["group", "kind", "active", "deactivated"]
    assert as_user("rita").customer_counts()["group"].tolist() == ["retail", "retail"]
