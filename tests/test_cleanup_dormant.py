"""Dormant customers (no activity for `days` days) and deactivating them, blocked ones left active (R18).

Ages are made with raw SQL: every customer and the named tickets are moved 800 days into the past.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from helpers import MakeTicket, Snapshot

from cmkit import CustomerManager, PermissionDenied, ValidationError
from cmkit.db.engine import engine_for
from cmkit.db.schema import CustomerRow, TicketRow
from cmkit.services.dormant import COLUMNS

OLD = dt.datetime.now(dt.UTC) - dt.timedelta(days=800)


def _age(db_url: str, *ticket_ids: int, customers: bool = True) -> None:
    """Move every customer's creation (and these tickets' creation and closing) 800 days back."""
    with engine_for(db_url).begin() as conn:
        if customers:
            conn.execute(sa.update(CustomerRow).values(created_at=OLD))
        if ticket_ids:
            conn.execute(
                sa.update(TicketRow)
                .where(TicketRow.id.in_(ticket_ids))
                .values(created_at=OLD, closed_at=sa.case((TicketRow.state == "closed", OLD), else_=None))
            )


@pytest.fixture
def aged(world, make_ticket: MakeTicket, db_url: str) -> dict[str, Any]:
    """The world 800 days old: Petra's ticket closed long ago, Bert's open for ages, Carl's recent."""
    closed = make_ticket(world["priv"], closed=True, subject="Long ago")
    stuck = make_ticket(world["bert"], subject="Open for ages")
    recent = make_ticket(world["carl"], subject="Recent")
    _age(db_url, closed.id, stuck.id)
    return {**world, "closed": closed, "stuck": stuck, "recent": recent}


def _ids(world: dict[str, Any], *names: str) -> set[int]:
    return {world[n].id for n in names}


def test_dormant_customers_had_no_ticket_and_were_created_before_the_period(
    cm: CustomerManager, aged: dict[str, Any]
) -> None:
    dormant = cm.dormant_customers(days=365)
    assert list(dormant.columns) == COLUMNS
    # Zeta is busy through its contact Carl's recent ticket; Bert's ticket is old, open or not
    assert set(dormant["id"]) == _ids(aged, "acme", "anna", "bert", "part", "pete", "priv")
    row = dormant.set_index("id")
    assert row.loc[aged["priv"].id, "last_ticket"] == pd.Timestamp(OLD)
    assert pd.isna(row.loc[aged["anna"].id, "last_ticket"])
    assert row.loc[aged["anna"].id, "last_activity"] == pd.Timestamp(OLD)
    assert (row["days_idle"] >= 799).all() and str(row["last_activity"].dt.tz) == "UTC"
    assert cm.dormant_customers(days=900).empty


def test_last_activity_lists_every_active_customer(cm: CustomerManager, aged: dict[str, Any]) -> None:
    cm.close_ticket(aged["recent"].id)
    cm.deactivate(aged["carl"].id)
    activity = cm.last_activity().set_index("id")
    assert set(activity.index) == _ids(aged, "acme", "zeta", "anna", "bert", "part", "pete", "priv")
    assert activity.loc[aged["zeta"].id, "days_idle"] == 0  # its contact's ticket, closed just now
    assert activity.loc[aged["acme"].id, "days_idle"] >= 799
    assert cm.last_activity(group="private")["id"].tolist() == [aged["priv"].id]


def test_closing_a_ticket_and_being_its_additional_customer_count_as_activity(
    cm: CustomerManager, world, make_ticket: MakeTicket, db_url: str
) -> None:
    with_anna = make_ticket(world["bert"], world["anna"], subject="Old, closed today")
    make_ticket(world["priv"], closed=True, subject="New today")
    _age(db_url, with_anna.id)  # the customers and Bert's ticket are old, Petra's ticket is new
    cm.close_ticket(with_anna.id)  # created 800 days ago, closed now
    dormant = set(cm.dormant_customers(days=365)["id"])
    assert dormant == _ids(world, "zeta", "carl", "part", "pete")


def test_a_company_is_dormant_only_when_its_contacts_are(
    cm: CustomerManager, world, make_ticket: MakeTicket, db_url: str
) -> None:
    gone = cm.create_contact("partners", company=world["part"].id, last_name="Gone")
    make_ticket(gone, closed=True, subject="Last week")
    cm.deactivate(gone.id)
    _age(db_url)
    new = cm.create_contact("retail", company=world["zeta"].id, last_name="New")  # created today
    dormant = set(cm.dormant_customers(days=365)["id"])
    assert world["zeta"].id not in dormant and world["carl"].id in dormant  # a new contact keeps it busy
    assert world["part"].id not in dormant  # a deactivated contact's recent ticket counts for its company
    assert world["pete"].id in dormant and new.id not in dormant
    assert world["acme"].id in dormant


def test_dormant_customers_refuse_bad_days(cm: CustomerManager, world) -> None:
    assert len(cm.dormant_customers(days=0)) == 8  # everything happened before now
    for bad in (-1, True, "365", 1.5, None):
        with pytest.raises(ValidationError, match="days"):
            cm.dormant_customers(days=bad)  # type: ignore[arg-type]


def test_dormant_customers_only_of_groups_the_user_may_read(
    as_user, aged: dict[str, Any], cm: CustomerManager
) -> None:
    rita = as_user("rita")  # reads retail only
    assert set(rita.dormant_customers(days=365)["id"]) == _ids(aged, "acme", "anna", "bert")
    assert set(rita.last_activity()["group"]) == {"retail"}
    with pytest.raises(
        PermissionDenied, match="R5: user 'rita' lacks the 'read' permission on group 'private'"
    ):
        rita.dormant_customers(group="private")
    with pytest.raises(ValidationError, match="unknown customer group"):
        cm.dormant_customers(group="nope")


def test_deactivate_dormant_leaves_those_blocked_by_open_tickets_active(
    cm: CustomerManager, aged: dict[str, Any], snapshot: Snapshot
) -> None:
    before = snapshot()
    plan = cm.deactivate_dormant(days=365, dry_run=True)
    assert snapshot() == before and not plan.applied and plan.problems == []
    change = plan.changes.set_index("id")["change"].to_dict()
    assert change == {
        aged["acme"].id: "blocked",  # its contact Bert's open ticket blocks it (R18)
        aged["bert"].id: "blocked",
        aged["anna"].id: "deactivate",
        aged["part"].id: "deactivate",
        aged["pete"].id: "deactivate",
        aged["priv"].id: "deactivate",
    }
    blocked_by = plan.changes.set_index("id")["blocked_by"]
    assert blocked_by[aged["acme"].id] == blocked_by[aged["bert"].id] == aged["stuck"].number
    assert set(plan.blocking["number"]) == {aged["stuck"].number}
    done = cm.deactivate_dormant(days=365)
    assert done.applied
    active = {
        k: cm.customer(aged[k].id).active
        for k in ("acme", "zeta", "anna", "bert", "carl", "part", "pete", "priv")
    }
    assert [k for k, on in active.items() if on] == ["acme", "zeta", "bert", "carl"]
    deactivated = cm.history().query("action == 'deactivate'")["customer_id"]
    assert sorted(deactivated) == sorted(_ids(aged, "anna", "part", "pete", "priv"))
    assert cm.check_invariants().empty


def test_deactivate_dormant_only_in_groups_the_user_may_deactivate(
    as_user, aged: dict[str, Any], cm: CustomerManager, refused
) -> None:
    lena = as_user("lena")  # deactivates in retail only
    plan = lena.deactivate_dormant(days=365, dry_run=True)
    assert set(plan.changes["id"]) == _ids(aged, "acme", "anna", "bert")
    lena.deactivate_dormant(days=365)
    assert not cm.customer(aged["anna"].id).active
    assert cm.customer(aged["priv"].id).active and cm.customer(aged["part"].id).active
    error = refused(PermissionDenied, lena.deactivate_dormant, group="private")
    assert "R25" in str(error) and "'deactivate'" in str(error)
    assert as_user("rita").deactivate_dormant(days=365, dry_run=True).changes.empty
