"""R17: no record id is ever handed out twice. After the newest contact, comment or attachment was deleted,
the next one gets a new id, so that the audit log and the ticket protocol keep naming what they named, and
a late undo of a deleted comment cannot reach another one. A database of the previous schema keeps every
row and id through the migration (0005) and hands out no id its audit log or protocol named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import MakeTicket

from cmkit import CustomerManager, NotFound
from cmkit.db import migrate
from cmkit.db.engine import engine_for


def test_r17_ids_a_deleted_newest_contact_is_not_reused(cm: CustomerManager, world: dict[str, Any]) -> None:
    gone = cm.create_contact("retail", company=world["acme"].id, last_name="Weg")
    assert cm.delete(gone.id).applied
    new = cm.create_contact("retail", company=world["acme"].id, last_name="Neu")
    assert new.id > gone.id
    actions = cm.history(customer_id=new.id)["action"].tolist()
    assert actions == ["create"], actions  # nothing of the deleted contact's life
    assert cm.history(customer_id=gone.id)["action"].tolist() == ["create", "delete"]


def test_r17_ids_a_deleted_newest_comment_is_not_reused(cm: CustomerManager, world: dict[str, Any]) -> None:
    anna = world["anna"].id
    old = cm.add_comment(anna, "alt")
    cm.delete_comment(old)
    cm.add_comment(anna, "macht die Löschung endgültig")  # the next action makes the deletion final (R11)
    new = cm.add_comment(anna, "neu")
    assert new != old and new > old
    with pytest.raises(NotFound):
        cm.undo_delete_comment(old)  # a late undo reaches nothing, never the new comment
    assert cm.comments(anna)["text"].tolist()[-1] == "neu"
    entries = cm.history(customer_id=anna)
    assert entries.loc[
        (entries["entity"] == "comment") & (entries["entity_id"] == new), "action"
    ].tolist() == ["add_comment"]


def test_r17_ids_a_deleted_newest_attachment_is_not_reused(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    anna = world["anna"].id
    (old,) = cm.add_attachments(anna, {"alt.txt": b"alt"})
    cm.delete_attachment(old)
    cm.add_comment(anna, "macht die Löschung endgültig")
    (new,) = cm.add_attachments(anna, {"neu.txt": b"neu"})
    assert new > old
    with pytest.raises(NotFound):
        cm.undo_delete_attachment(old)
    assert cm.attachment_data(new) == b"neu"


def test_r17_ids_a_deleted_customers_ticket_history_stays_its_own(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    """The protocol names the deleted contact by id and name; a new contact does not inherit the entries."""
    gone = cm.create_contact("retail", company=world["acme"].id, last_name="Weg")
    ticket = make_ticket(world["anna"], gone, closed=True)
    cm.remove_customer(ticket.id, gone.id)
    cm.delete(gone.id)
    new = cm.create_contact("retail", company=world["acme"].id, last_name="Neu")
    named = set(cm.protocol(ticket.id)["new_customer_id"].dropna()) | set(
        cm.protocol(ticket.id)["old_customer_id"].dropna()
    )
    assert gone.id in named and new.id not in named


def test_r17_ids_migration_keeps_every_row_and_hands_out_no_named_id(tmp_path: Path) -> None:
    """An SQLite file of schema 0004 whose newest contact (#3) and comment (#2) were deleted, as its audit
    log says: the migration keeps every row with its id, the search still finds, the foreign keys hold,
    and neither deleted id is handed out again. (PostgreSQL's identity sequences never reused ids.)"""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(engine_for(url), "0004")
    with engine_for(url).begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO customer_groups (id, name, model, tickets_for_companies) "
            "VALUES (1, 'retail', 'two-level', 0)"
        )
        conn.exec_driver_sql(
            "INSERT INTO customers (id, kind, group_id, company_id, active, name, search_key, data, version) "
            "VALUES (1, 'company', 1, NULL, 1, 'Acme', 'acme', '{}', 1), "
            "(2, 'contact', 1, 1, 1, 'Anna Müller', 'anna muller', '{}', 1)"
        )
        conn.exec_driver_sql(
            "INSERT INTO comments (id, customer_id, author, text, text_folded) VALUES (1, 2, 'admin', 'a', 'a')"
        )
        conn.exec_driver_sql(
            "INSERT INTO audit_log (id, user_name, action, entity, entity_id, customer_id) VALUES "
            "(1, 'admin', 'create', 'customer', 3, 3), (2, 'admin', 'delete', 'customer', 3, 3), "
            "(3, 'admin', 'add_comment', 'comment', 2, 2)"
        )
        before = {
            t: conn.exec_driver_sql(f"SELECT * FROM {t} ORDER BY 1").all()  # noqa: S608 - fixed names
            for t in ("customers", "comments", "audit_log")
        }
    migrate.upgrade(engine_for(url))
    with engine_for(url).begin() as conn:
        after = {
            t: conn.exec_driver_sql(f"SELECT * FROM {t} ORDER BY 1").all()  # noqa: S608 - fixed names
            for t in before
        }
        assert after == before
        sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'customers'").scalar_one()
        assert "AUTOINCREMENT" in sql
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        conn.exec_driver_sql(
            "INSERT INTO customers (kind, group_id, active, name, search_key, data, version) "
            "VALUES ('contact', 1, 1, 'Neu', 'neu', '{}', 1)"
        )
        conn.exec_driver_sql(
            "INSERT INTO comments (customer_id, author, text, text_folded) VALUES (2, 'x', 'b', 'b')"
        )
        assert conn.exec_driver_sql("SELECT max(id) FROM customers").scalar() == 4  # 3 was named, deleted
        assert conn.exec_driver_sql("SELECT max(id) FROM comments").scalar() == 3
        found = (
            conn.execute(sa.text("SELECT rowid FROM customer_fts WHERE customer_fts MATCH 'anna'"))
            .scalars()
            .all()
        )
        assert found == [2]
