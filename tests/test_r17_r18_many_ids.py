"""Actions on 70,000 ticked rows ("select all" over a big result): one call, one transaction, on both
databases (PostgreSQL's protocol allows 65,535 bound values per statement, so the ids are bound as one).
The rows are made by SQL here, as a big demo database would have them."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from cmkit import CustomerManager

N = 70_000  # over PostgreSQL's 65,535 bound values per statement
WITH_TICKETS = 3_000
ROWS = sa.text("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :n) ")


def _many_customers(cm: CustomerManager, template: int) -> list[int]:
    """N copies of the customer `template` (names "<name> <i>"), the first WITH_TICKETS with an open
    ticket each as main customer and the next WITH_TICKETS as additional customer on those tickets."""
    engine = cm.engine
    with engine.begin() as conn:
        top = conn.execute(sa.text("SELECT max(id) FROM customers")).scalar_one()
        conn.execute(
            sa.text(
                ROWS.text
                + "INSERT INTO customers (kind, group_id, company_id, active, name, search_key, data,"
                " version, created_at, updated_at) SELECT c.kind, c.group_id, NULL, c.active,"
                " c.name || ' ' || CAST(n.i AS TEXT), c.search_key, c.data, 1, c.created_at, c.updated_at"
                " FROM customers c, n WHERE c.id = :template ORDER BY n.i"
            ),
            {"n": N, "template": template},
        )
        ids = [
            int(i)
            for i in conn.execute(
                sa.text("SELECT id FROM customers WHERE id > :top ORDER BY id"), {"top": top}
            ).scalars()
        ]
        queue = conn.execute(sa.text("SELECT id FROM queues WHERE name = 'helpdesk'")).scalar_one()
        conn.execute(
            sa.text(
                ROWS.text
                + "INSERT INTO tickets (number, subject, search_key, queue_id, state, main_customer_id,"
                " created_by, created_at) SELECT 'M-' || CAST(n.i AS TEXT), 'many', 'many', :queue, 'open',"
                " :first + n.i - 1, 'admin', CURRENT_TIMESTAMP FROM n ORDER BY n.i"
            ),
            {"n": WITH_TICKETS, "queue": queue, "first": ids[0]},
        )
        conn.execute(
            sa.text(
                "INSERT INTO ticket_additional_customers (ticket_id, customer_id) SELECT t.id,"
                " t.main_customer_id + :offset FROM tickets t WHERE t.number LIKE 'M-%'"
            ),
            {"offset": WITH_TICKETS},
        )
    assert len(ids) == N
    return ids


def _count(cm: CustomerManager, sql: str, **params: Any) -> int:
    with cm.engine.connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar_one())


@pytest.fixture
def many(cm: CustomerManager, world) -> list[int]:
    return _many_customers(cm, world["priv"].id)


def test_r17_transfer_many_hands_the_tickets_of_70000_ticked_customers_over_at_once(
    cm: CustomerManager, world, many: list[int]
) -> None:
    target = world["anna"].id
    plan = cm.transfer_many(many, target, dry_run=True)
    assert plan.problems == [] and len(plan.changes) == 2 * WITH_TICKETS
    done = cm.transfer_many(many, target)
    assert len(done.changes) == 2 * WITH_TICKETS
    tickets = "FROM tickets WHERE number LIKE 'M-%'"
    assert _count(cm, f"SELECT count(*) {tickets} AND main_customer_id = :t", t=target) == WITH_TICKETS
    # the additional source on each ticket: dropped, as the target is its main customer now (R17)
    assert (
        _count(
            cm, f"SELECT count(*) FROM ticket_additional_customers WHERE ticket_id IN (SELECT id {tickets})"
        )
        == 0
    )
    assert _count(cm, "SELECT count(*) FROM ticket_protocol WHERE action = 'transferred'") == 2 * WITH_TICKETS
    moves = cm.history(run_id=done.run_id)
    assert (moves["action"] == "transfer_out").sum() == 2 * WITH_TICKETS  # the sources with tickets


def test_r18_deactivate_70000_ticked_customers_at_once(cm: CustomerManager, world, many: list[int]) -> None:
    refused = cm.deactivate_many(many, dry_run=True)
    assert len(refused.problems) == 2 * WITH_TICKETS  # R18: each customer named by an open ticket
    done = cm.deactivate_unblocked(many)
    changes = done.changes["change"].value_counts().to_dict()
    assert changes == {"deactivate": N - 2 * WITH_TICKETS, "blocked": 2 * WITH_TICKETS}
    active = "SELECT count(*) FROM customers WHERE active AND id BETWEEN :a AND :b"
    assert _count(cm, active, a=many[0], b=many[-1]) == 2 * WITH_TICKETS
    assert (cm.history(run_id=done.run_id)["action"] == "deactivate").sum() == N - 2 * WITH_TICKETS
