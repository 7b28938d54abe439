"""anonymise: personal data erased everywhere it is kept, tickets kept, all or none."""

from __future__ import annotations

import json
import re

import pytest
from helpers import MakeTicket, Snapshot

from cmkit import CustomerManager, PermissionDenied, PreconditionFailed


def _everything(snapshot: Snapshot) -> str:
    """Every row of every table as casefolded text, to look for a name anywhere in the database."""
    return json.dumps(snapshot(), default=str, ensure_ascii=False).casefold()


@pytest.fixture
def petra(cm: CustomerManager, world) -> dict[str, int]:
    """Petra Privat with a closed ticket, a comment, an attachment, and a comment about her on another customer."""
    priv, anna = world["priv"], world["anna"]
    t = cm.create_ticket(priv.id, "helpdesk", "Rückruf erbeten")
    cm.close_ticket(t.id)
    cm.edit(priv.id, first_name="Petra Maria")
    cm.edit(priv.id, first_name="Petra")
    mine = cm.add_comment(priv.id, "Calls on Mondays")
    attachment = cm.add_attachments(priv.id, {"id-card.txt": b"Petra Privat, born 1970"})[0]
    about = cm.add_comment(anna.id, "Anna knows PETRA PRIVAT (petra@example.org) from school")
    return {"id": priv.id, "ticket": t.id, "comment": mine, "attachment": attachment, "about": about}


def test_anonymise_keeps_tickets_and_erases_the_name_from_comments_fields_and_protocol(
    cm: CustomerManager, world, petra, snapshot: Snapshot
) -> None:
    out = cm.anonymise(petra["id"])
    assert out.applied
    c = cm.customer(petra["id"])
    assert (c.name, dict(c.fields), c.active) == ("anonymised", {"last_name": "anonymised"}, False)
    # the ticket stays, still hers, and its protocol keeps a placeholder instead of the name
    t = cm.ticket(petra["ticket"])
    assert t.main_customer_id == petra["id"] and t.subject == "Rückruf erbeten"
    assert cm.protocol(t.id)["new_customer_name"].dropna().tolist() == ["anonymised"]
    # her comments and attachments are gone; another customer's comment no longer names her
    assert cm.comments(petra["id"]).empty and cm.attachments(petra["id"]).empty
    assert cm.comments(world["anna"].id)["text"].tolist() == [
        "Anna knows anonymised (anonymised) from school"
    ]
    # and neither name nor e-mail is left anywhere in the database, the audit log included
    everything = _everything(snapshot)
    for text in ("Petra", "Privat", "petra@example.org", "Calls on Mondays", "born 1970"):
        assert not re.search(rf"\b{re.escape(text.casefold())}\b", everything), text  # "private" is a group
    assert cm.check_invariants().empty


def test_anonymise_is_audited_without_the_erased_values(cm: CustomerManager, petra) -> None:
    cm.anonymise(petra["id"])
    log = cm.history(customer_id=petra["id"])
    last = log.iloc[-1]
    assert last["action"] == "anonymise"
    assert last["before"] == {
        "erased": ["email", "first_name", "last_name"],
        "comments_removed": 1,
        "attachments_removed": 1,
    }
    assert last["after"] == {"name": "anonymised", "fields": {"last_name": "anonymised"}, "active": False}
    assert "deactivate" in log["action"].tolist()


def test_anonymised_customer_is_not_found_any_more(cm: CustomerManager, petra) -> None:
    twin = cm.create_contact("private", first_name="Petra", last_name="Privat")
    assert len(cm.find_duplicates(group="private")) == 1
    cm.anonymise(petra["id"])
    cm.anonymise(twin.id)
    assert cm.find_duplicates(group="private").empty  # two "anonymised" are not duplicates
    assert cm.detail_search(include_deactivated=True, last_name="Privat").empty
    assert cm.ticket_search(customer_name="Petra").empty


def test_r18_anonymise_refused_while_an_open_ticket_names_the_customer(
    cm: CustomerManager, world, snapshot: Snapshot
) -> None:
    t = cm.create_ticket(world["bert"].id, "helpdesk", "Open", additional=[world["anna"].id])
    before = snapshot()
    with pytest.raises(PreconditionFailed) as info:
        cm.anonymise([world["priv"].id, world["acme"].id])  # all or none: the private customer is not erased
    assert snapshot() == before
    assert info.value.problems == [info.value.problems[0]] and info.value.problems[0].startswith(
        "R18: cannot anonymise"
    )
    assert t.number in info.value.problems[0]
    assert set(info.value.blocking["customer_id"]) == {world["bert"].id, world["anna"].id}
    dry = cm.anonymise(world["acme"].id, dry_run=True)
    assert dry.problems == info.value.problems and snapshot() == before


def test_anonymise_twice_is_refused(cm: CustomerManager, world) -> None:
    cm.anonymise(world["priv"].id)
    with pytest.raises(PreconditionFailed, match="anonymised already"):
        cm.anonymise(world["priv"].id)


def test_anonymise_dry_run_lists_what_would_be_erased(cm: CustomerManager, petra, snapshot: Snapshot) -> None:
    before = snapshot()
    plan = cm.anonymise(petra["id"], dry_run=True).changes
    assert snapshot() == before
    got = {(r.entity, r.change) for r in plan.itertuples()}
    assert got == {
        ("customer", "erase fields"),
        ("comment", "remove"),
        ("attachment", "remove"),
        ("protocol", "name becomes placeholder"),
        ("comment", "erase name from text"),
        ("customer", "deactivate"),
    }
    assert plan.loc[plan["change"] == "erase name from text", "id"].tolist() == [petra["about"]]


def test_anonymise_a_company_deactivates_its_contacts(cm: CustomerManager, world) -> None:
    cm.anonymise(world["zeta"].id)
    assert cm.customer(world["zeta"].id).name == "anonymised"
    assert not cm.customer(world["carl"].id).active
    assert cm.customer(world["carl"].id).name == "Carl Zander"  # contacts are deactivated, not erased
    assert cm.check_invariants().empty


def test_anonymise_after_merge_erases_the_merged_records_too(
    cm: CustomerManager, world, make_ticket: MakeTicket, snapshot: Snapshot
) -> None:
    priv = world["priv"]
    old = cm.create_contact("private", first_name="Petra", last_name="Privatt", email="pp@example.org")
    t = make_ticket(old, closed=True, subject="Old")
    cm.merge(priv.id, [old.id])
    cm.anonymise(priv.id)
    assert set(cm.protocol(t.id)["new_customer_name"].dropna()) == {"anonymised"}
    assert set(cm.protocol(t.id)["old_customer_name"].dropna()) == {"anonymised"}
    everything = _everything(snapshot)
    assert "privatt" not in everything and "pp@example.org" not in everything


def test_r25_anonymise_needs_deactivate_and_delete(as_user, world, snapshot: Snapshot) -> None:
    before = snapshot()
    with pytest.raises(PermissionDenied):
        as_user("alice").anonymise(world["anna"].id)
    assert snapshot() == before
