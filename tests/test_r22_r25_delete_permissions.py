"""R22-R24: deleting contacts (who, precondition, effects); R25: each lifecycle operation needs its own permission."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import MakeTicket, Snapshot

from cmkit import CustomerManager, NotFound, PermissionDenied, PreconditionFailed
from cmkit.db.details_schema import AttachmentRow, CommentRow
from cmkit.db.engine import engine_for

# -- R22 who can be deleted ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["acme", "zeta", "part"])
def test_r22_companies_of_two_level_groups_cannot_be_deleted(
    cm: CustomerManager, world, refused, who: str
) -> None:
    company = world[who]
    if who == "zeta":
        cm.deactivate(company.id)  # not even once deactivated
    err = refused(PreconditionFailed, cm.delete, company.id)
    assert len(err.problems) == 1 and err.problems[0].startswith("R22: ")
    assert f"deactivate({company.id})" in err.problems[0]
    assert cm.customer(company.id).id == company.id


@pytest.mark.parametrize("who", ["priv", "carl", "pete"])
def test_r22_contacts_can_be_deleted(cm: CustomerManager, world, who: str) -> None:
    contact = world[who]
    out = cm.delete(contact.id)
    assert out.applied and out.problems == []
    assert list(out.changes["id"]) == [contact.id] and list(out.changes["change"]) == ["delete"]
    with pytest.raises(NotFound):
        cm.customer(contact.id)


def test_r22_company_keeps_its_other_contacts(cm: CustomerManager, world) -> None:
    cm.delete(world["anna"].id)
    assert list(cm.contacts(world["acme"].id)["id"]) == [world["bert"].id]


# -- R23 precondition ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "closed"), [("main", False), ("main", True), ("additional", False), ("additional", True)]
)
def test_r23_delete_refused_while_a_ticket_names_the_contact(
    cm: CustomerManager, world, make_ticket: MakeTicket, refused, role: str, closed: bool
) -> None:
    anna, carl = world["anna"], world["carl"]
    t = make_ticket(anna, closed=closed) if role == "main" else make_ticket(carl, anna, closed=closed)
    err = refused(PreconditionFailed, cm.delete, anna.id)
    assert len(err.problems) == 1 and err.problems[0].startswith("R23: ")
    assert t.number in err.problems[0]
    assert f"transfer_tickets({anna.id}, <target>, only_open=False)" in err.problems[0]
    assert list(err.blocking["number"]) == [t.number]
    assert list(err.blocking["role"]) == [role] and list(err.blocking["state"]) == [
        "closed" if closed else "open"
    ]
    assert cm.customer(anna.id).active


def test_r23_blocking_lists_every_ticket(
    cm: CustomerManager, world, make_ticket: MakeTicket, refused
) -> None:
    anna, carl = world["anna"], world["carl"]
    ts = [
        make_ticket(anna),
        make_ticket(anna, closed=True),
        make_ticket(carl, anna),
        make_ticket(carl, anna, closed=True),
    ]
    make_ticket(carl)
    err = refused(PreconditionFailed, cm.delete, anna.id)
    assert sorted(err.blocking["number"]) == sorted(t.number for t in ts)
    assert "4 ticket(s)" in err.problems[0]


def test_r23_dry_run_lists_problems_and_changes_nothing(
    cm: CustomerManager, world, make_ticket: MakeTicket, snapshot: Snapshot
) -> None:
    anna, priv = world["anna"], world["priv"]
    make_ticket(anna, closed=True)
    before = snapshot()
    blocked = cm.delete(anna.id, dry_run=True)
    allowed = cm.delete(priv.id, dry_run=True)
    assert snapshot() == before
    assert (
        blocked.applied is False and [p[:4] for p in blocked.problems] == ["R23:"] and blocked.changes.empty
    )
    assert allowed.applied is False and allowed.problems == [] and list(allowed.changes["id"]) == [priv.id]


def test_r23_delete_allowed_after_transferring_every_ticket(
    cm: CustomerManager, world, make_ticket: MakeTicket
) -> None:
    anna, bert, carl = world["anna"], world["bert"], world["carl"]
    make_ticket(anna)
    make_ticket(carl, anna, closed=True)
    cm.transfer_tickets(anna.id, bert.id)  # open ones only: the closed one still blocks
    with pytest.raises(PreconditionFailed):
        cm.delete(anna.id)
    cm.transfer_tickets(anna.id, bert.id, only_open=False)
    assert cm.delete(anna.id).applied


# -- R24 effects --------------------------------------------------------------------------------------------------


@pytest.fixture
def deleted_anna(cm: CustomerManager, world, make_ticket: MakeTicket, db_url: str) -> dict[str, Any]:
    """Anna had tickets (moved to Bert), a comment and an attachment, and was then deleted."""
    anna, bert, carl = world["anna"], world["bert"], world["carl"]
    t_main, t_additional = make_ticket(anna, closed=True), make_ticket(carl, anna)
    with engine_for(db_url).begin() as conn:
        conn.execute(
            sa.insert(CommentRow).values(
                customer_id=anna.id, author="admin", text="Call back", text_folded="call back"
            )
        )
        conn.execute(
            sa.insert(AttachmentRow).values(
                customer_id=anna.id,
                name="a.txt",
                name_folded="a.txt",
                file_type="txt",
                media_type="text/plain",
                size=2,
                sha256="0" * 64,
                description="",
                author="admin",
                data=b"hi",
            )
        )
        conn.execute(
            sa.insert(CommentRow).values(
                customer_id=bert.id, author="admin", text="Bert's", text_folded="bert's"
            )
        )
    cm.transfer_tickets(anna.id, bert.id, only_open=False)
    cm.delete(anna.id)
    return {"anna": anna, "main": t_main, "additional": t_additional}


def test_r24_deleted_contact_is_not_found(cm: CustomerManager, world, deleted_anna) -> None:
    anna = deleted_anna["anna"]
    with pytest.raises(NotFound) as info:
        cm.customer(anna.id)
    assert f"#{anna.id}" in str(info.value)
    with pytest.raises(NotFound):
        cm.tickets(anna.id)
    with pytest.raises(NotFound):
        cm.delete(anna.id)  # irreversible, and not twice
    assert anna.id not in set(cm.frame("customers")["id"])


def test_r24_no_ticket_references_the_deleted_contact(cm: CustomerManager, deleted_anna) -> None:
    anna = deleted_anna["anna"]
    assert anna.id not in set(cm.frame("tickets")["main_customer_id"])
    assert anna.id not in set(cm.frame("ticket_customers")["customer_id"])
    assert "Anna Müller" not in set(cm.frame("customers")["name"])
    assert len(cm.frame("tickets")) == 2  # the tickets themselves remain


def test_r24_protocol_entries_naming_it_remain(cm: CustomerManager, deleted_anna) -> None:
    anna = deleted_anna["anna"]
    for key, role in (("main", "main"), ("additional", "additional")):
        p = cm.protocol(deleted_anna[key].id)
        moved = p[p["action"] == "transferred"]
        assert list(
            zip(
                moved["role"],
                moved["old_customer_id"],
                moved["old_customer_name"],
                moved["new_customer_name"],
                strict=True,
            )
        ) == [(role, anna.id, "Anna Müller", "Bert Öztürk")]
        assert "Anna Müller" in set(p["new_customer_name"].dropna())  # the entry from when she was added


def test_r24_audit_keeps_a_delete_row(cm: CustomerManager, deleted_anna) -> None:
    anna = deleted_anna["anna"]
    log = cm.history(customer_id=anna.id)
    last = log.iloc[-1]
    assert (last["action"], last["user"], last["entity_id"]) == ("delete", "admin", anna.id)
    # R24: the entry keeps action, time, user and ids; the contact's values are a neutral placeholder
    assert last["before"]["name"] == "removed" and last["before"]["fields"]["email"] == "removed"
    assert (last["before"]["kind"], last["before"]["group"]) == ("contact", "retail")
    assert last["after"] is None


def test_r24_deleted_contacts_audit_values_are_scrubbed(cm: CustomerManager, world) -> None:
    """The seed's case: a deleted contact's fields and comment texts must not stay in history()."""
    carl = world["carl"]
    cm.edit(carl.id, email="carl@zeta.example", phone="+49 221 5555")
    comment = cm.add_comment(carl.id, "erreichbar nur vormittags")
    cm.add_attachments(carl.id, {"carl-cv.txt": b"hello"})
    head_before = cm.verify_audit()
    cm.delete(carl.id)
    log = cm.history(customer_id=carl.id)
    text = " ".join(map(str, [*log["before"], *log["after"]]))
    for secret in ("carl@zeta.example", "5555", "vormittags", "carl-cv.txt", "Carl", "Zander"):
        assert secret not in text, secret
    assert "removed" in text
    # action, user and ids stay; the chain still verifies (the scrub keeps the hashes)
    assert {"create", "edit", "add_comment", "add_attachment", "delete"} <= set(log["action"])
    assert comment in set(log["entity_id"].dropna().astype(int))
    assert set(log["user"]) == {"admin"}
    assert head_before.ok and cm.verify_audit().ok


def test_r24_scrub_leaves_other_customers_history_alone(cm: CustomerManager, world) -> None:
    anna, carl = world["anna"], world["carl"]
    cm.add_comment(anna.id, "Anna likes mornings")
    cm.delete(carl.id)
    log = cm.history(customer_id=anna.id)
    assert "Anna likes mornings" in {(a or {}).get("text") for a in log["after"]}
    assert "anna@acme.example" in str(list(log["after"]))


def test_r24_comments_and_attachments_are_removed(
    cm: CustomerManager, world, deleted_anna, db_url: str
) -> None:
    with engine_for(db_url).connect() as conn:
        comments = conn.execute(sa.select(CommentRow.customer_id)).scalars().all()
        attachments = conn.execute(sa.select(sa.func.count()).select_from(AttachmentRow)).scalar_one()
    assert comments == [world["bert"].id] and attachments == 0


# -- R25 permissions ----------------------------------------------------------------------------------------------

LIFECYCLE: dict[str, Callable[[CustomerManager, dict[str, Any], bool], Any]] = {
    "transfer": lambda u, w, dry: u.transfer_tickets(w["anna"].id, w["bert"].id, dry_run=dry),
    "deactivate": lambda u, w, dry: u.deactivate(w["carl"].id, dry_run=dry),
    "reactivate": lambda u, w, dry: u.reactivate(w["gone"].id, dry_run=dry),
    "delete": lambda u, w, dry: u.delete(w["carl"].id, dry_run=dry),
}


@pytest.fixture
def lifecycle_world(cm: CustomerManager, world, make_ticket: MakeTicket) -> dict[str, Any]:
    """The world, a ticket for Anna, and deactivated customers in each group."""
    w: dict[str, Any] = dict(world)
    w["ticket"] = make_ticket(world["anna"])
    w["gone"] = cm.create_contact("retail", company=world["zeta"].id, last_name="Weg")
    w["gone_partner"] = cm.create_contact("partners", company=world["part"].id, last_name="Fort")
    w["gone_private"] = cm.create_contact("private", last_name="Raus")
    for key in ("gone", "gone_partner", "gone_private"):
        cm.deactivate(w[key].id)
    return w


@pytest.mark.parametrize("dry_run", [False, True])
@pytest.mark.parametrize("operation", list(LIFECYCLE))
def test_r25_agent_without_lifecycle_permissions_refused(
    lifecycle_world, as_user, refused, operation: str, dry_run: bool
) -> None:
    alice = as_user("alice")  # role agent: may write retail, but has none of the lifecycle permissions
    err = refused(PermissionDenied, LIFECYCLE[operation], alice, lifecycle_world, dry_run)
    assert str(err).startswith("R25: ") and f"'{operation}'" in str(err) and "'retail'" in str(err)
    assert "[roles]" in str(err)


def test_r25_lifecycle_role_allowed_on_retail(cm: CustomerManager, lifecycle_world, as_user) -> None:
    w, lena = lifecycle_world, as_user("lena")
    for operation in LIFECYCLE:
        assert LIFECYCLE[operation](lena, w, False).applied, operation
    assert cm.ticket(w["ticket"].id).main_customer_id == w["bert"].id
    assert cm.customer(w["gone"].id).active
    with pytest.raises(NotFound):
        cm.customer(w["carl"].id)
    assert list(cm.history(user="lena")["action"]) == [
        "transfer_out",
        "transfer_in",
        "deactivate",
        "reactivate",
        "delete",
    ]


OTHER_GROUPS: dict[str, Callable[[CustomerManager, dict[str, Any]], Any]] = {
    "transfer-partners": lambda u, w: u.transfer_tickets(w["pete"].id, w["part"].id),
    "transfer-private": lambda u, w: u.transfer_tickets(w["priv"].id, w["anna"].id),
    "transfer-to-private": lambda u, w: u.transfer_tickets(w["anna"].id, w["priv"].id),
    "transfer-to-partners": lambda u, w: u.transfer_tickets(w["anna"].id, w["pete"].id),
    "deactivate-partners": lambda u, w: u.deactivate(w["pete"].id),
    "deactivate-partners-company": lambda u, w: u.deactivate(w["part"].id),
    "deactivate-private": lambda u, w: u.deactivate(w["priv"].id),
    "reactivate-partners": lambda u, w: u.reactivate(w["gone_partner"].id),
    "reactivate-private": lambda u, w: u.reactivate(w["gone_private"].id),
    "delete-partners": lambda u, w: u.delete(w["pete"].id),
    "delete-private": lambda u, w: u.delete(w["priv"].id),
}


@pytest.mark.parametrize("case", list(OTHER_GROUPS))
def test_r25_lifecycle_role_refused_on_other_groups(lifecycle_world, as_user, refused, case: str) -> None:
    lena = as_user("lena")  # role lifecycle: transfer, deactivate, reactivate, delete on retail only
    operation = case.split("-")[0]
    err = refused(PermissionDenied, OTHER_GROUPS[case], lena, lifecycle_world)
    assert str(err).startswith("R25: ") and f"'{operation}'" in str(err)
    assert "'partners'" in str(err) or "'private'" in str(err)


def test_r25_admin_may_do_everything(cm: CustomerManager, lifecycle_world) -> None:
    w = lifecycle_world
    assert cm.transfer_tickets(w["pete"].id, w["part"].id).applied
    assert cm.reactivate(w["gone_private"].id).applied
    assert cm.deactivate(w["priv"].id).applied
    assert cm.delete(w["priv"].id).applied
