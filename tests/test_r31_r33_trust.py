"""Trust (R31-R33): who acts is who logged in; PostgreSQL enforces the permissions for raw SQL too; the
audit log is a hash chain that names the first entry changed, removed or out of order."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import BACKENDS, CONFIG
from sqlalchemy.exc import DBAPIError

import cmkit
from cmkit import Customer, CustomerManager, PermissionDenied, ValidationError
from cmkit.db import trust
from cmkit.db.engine import engine_for
from cmkit.db.uow import BULK_AUDIT_ROWS
from cmkit.domain import chain

pg_only = pytest.mark.parametrize("db_url", [BACKENDS[1]], indirect=True)
sqlite_only = pytest.mark.parametrize("db_url", [BACKENDS[0]], indirect=True)


def _raw(db_url: str, statement: str, **params: Any) -> Any:
    with engine_for(db_url).begin() as conn:
        return conn.execute(sa.text(statement), params)


# -- R33: the chain ------------------------------------------------------------------------------------------
def _company_with_many_contacts(cm: CustomerManager, name: str) -> tuple[Customer, list[int]]:
    """A retail company with enough contacts that deactivating it is a bulk change (one audit statement)."""
    company = cm.create_company("retail", name=name)
    contacts = [
        cm.create_contact("retail", company=company.id, last_name=f"Kontakt {n:03d}").id
        for n in range(BULK_AUDIT_ROWS + 10)
    ]
    return company, contacts


def test_r33_every_entry_is_chained_and_verifies(cm: CustomerManager, world: dict[str, Any]) -> None:
    cm.edit(world["anna"].id, email="anna@example.org")
    cm.deactivate(world["carl"].id)
    check = cm.verify_audit()
    assert check.ok and check.first_bad is None and check.reason == ""
    assert check.entries == len(cm.history()) and len(check.head) == 64
    assert cm.verify_audit(anchor=check.head).ok


def test_r33_a_bulk_change_chains_each_entry_in_order(cm: CustomerManager) -> None:
    """A deactivation of a company with many contacts writes its entries in one statement (PostgreSQL):
    every entry is there, in the order of its contacts, chained to the one before."""
    company, contacts = _company_with_many_contacts(cm, "Many Contacts GmbH")
    cm.deactivate(company.id)
    log = cm.history(run_id=None)
    done = log[(log["action"] == "deactivate")].sort_values("id")
    assert sorted(done["customer_id"]) == sorted([company.id, *contacts])
    assert list(done["customer_id"]) == sorted(done["customer_id"])  # entries in the order of the ids
    check = cm.verify_audit()
    assert check.ok and check.entries == len(cm.history())


def test_r33_an_old_entry_changed_by_the_owner_is_named(
    cm: CustomerManager, world: dict[str, Any], db_url: str
) -> None:
    cm.edit(world["anna"].id, email="anna@example.org")
    target = int(cm.history(customer_id=world["bert"].id)["id"].iloc[0])
    with engine_for(db_url).begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET user_name = 'mallory' WHERE id = :i"), {"i": target})
    check = cm.verify_audit()
    assert not check.ok and check.first_bad == target and "changed" in check.reason


def test_r33_changed_values_are_named_even_with_the_chain_fields_kept(
    cm: CustomerManager, world: dict[str, Any], db_url: str
) -> None:
    target = int(cm.history(customer_id=world["anna"].id)["id"].iloc[0])
    _raw(db_url, "UPDATE audit_log SET before = after, after = NULL WHERE id = :i", i=target)
    check = cm.verify_audit()
    assert check.first_bad == target and "before/after" in check.reason


def test_r33_a_removed_entry_is_named_by_the_one_after_it(
    cm: CustomerManager, world: dict[str, Any], db_url: str
) -> None:
    ids = [int(i) for i in cm.history()["id"]]
    _raw(db_url, "DELETE FROM audit_log WHERE id = :i", i=ids[3])
    check = cm.verify_audit()
    assert check.first_bad == ids[4] and "does not link" in check.reason


def test_r33_a_rewritten_past_is_evident_from_an_anchor(
    cm: CustomerManager, world: dict[str, Any], db_url: str
) -> None:
    """An owner who rewrites the whole chain consistently is caught by the head recorded before."""
    anchor = cm.verify_audit().head
    rows = _raw(
        db_url,
        "SELECT id, at, user_name, login, action, entity, entity_id, customer_id, run_id, "
        "data_hash FROM audit_log ORDER BY id",
    ).all()
    prev = chain.GENESIS
    with engine_for(db_url).begin() as conn:  # the forger recomputes every hash after changing one name
        for r in rows:
            user = "mallory" if r.id == rows[2].id else r.user_name
            at = r.at if not isinstance(r.at, str) else dt.datetime.fromisoformat(r.at)
            text = chain.entry_text(
                chain.microseconds(at),
                user,
                r.login,
                r.action,
                r.entity,
                r.entity_id,
                r.customer_id,
                r.run_id,
                r.data_hash,
            )
            new = chain.link(prev, text)
            conn.execute(
                sa.text("UPDATE audit_log SET user_name = :u, prev_hash = :p, hash = :h WHERE id = :i"),
                {"u": user, "p": prev or None, "h": new, "i": r.id},
            )
            prev = new
    assert cm.verify_audit().ok  # consistent in itself ...
    check = cm.verify_audit(anchor=anchor)
    assert not check.ok and "anchor" in check.reason  # ... but the recorded head is gone


def test_r33_a_bad_anchor_is_refused_with_the_parameter_named(cm: CustomerManager) -> None:
    with pytest.raises(ValidationError) as info:
        cm.verify_audit(anchor="abc")
    assert info.value.field == "anchor"


def test_r33_two_writers_at_once_keep_one_valid_chain(
    cm: CustomerManager, world: dict[str, Any], db_url: str
) -> None:
    """20 rounds of two connections writing at the same moment: every entry links to the one before."""
    other = cmkit.connect(db_url)
    for round_ in range(20):
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def write(
            manager: CustomerManager,
            customer: Any,
            n: int = round_,
            barrier: threading.Barrier = barrier,
            errors: list[BaseException] = errors,
        ) -> None:
            try:
                barrier.wait()
                manager.add_comment(customer.id, f"round {n}")
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [
            threading.Thread(target=write, args=(m, world[k])) for m, k in ((cm, "anna"), (other, "bert"))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
    check = cm.verify_audit()
    assert check.ok, check.reason
    assert len(cm.history(customer_id=world["anna"].id)) >= 21


def test_r33_verify_needs_read_on_every_group(as_user: Callable[[str], CustomerManager]) -> None:
    with pytest.raises(PermissionDenied, match="R33"):
        as_user("rita").verify_audit()


def test_r33_cli_verify_exits_1_on_a_broken_chain(
    cm: CustomerManager, world: dict[str, Any], db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from cmkit.cli import main

    assert main(["verify", "--url", db_url]) == 0
    assert "audit chain holds" in capsys.readouterr().out
    first = int(cm.history()["id"].iloc[1])
    _raw(db_url, "UPDATE audit_log SET action = 'nothing' WHERE id = :i", i=first)
    assert main(["verify", "--url", db_url]) == 1
    assert f"#{first}" in capsys.readouterr().err


# -- R31: who acts ----------------------------------------------------------------------------------------------
def test_r31_the_user_is_fixed_for_the_connection(cm: CustomerManager) -> None:
    with pytest.raises(AttributeError):
        cm.user = "alice"  # type: ignore[misc]
    assert cm.user == "admin"


@sqlite_only
def test_r31_sqlite_user_from_the_environment(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMKIT_USER", "alice")
    cm = cmkit.connect(db_url)
    assert (cm.user, cm.login) == ("alice", "alice")
    monkeypatch.delenv("CMKIT_USER")
    monkeypatch.setenv("JUPYTERHUB_USER", "lena")
    assert cmkit.connect(db_url).user == "lena"
    monkeypatch.setenv("JUPYTERHUB_USER", "somebody-not-configured")
    assert cmkit.connect(db_url).user == "admin"  # the file is the OS user's own


@sqlite_only
def test_r31_acting_as_another_user_needs_impersonate(
    db_url: str, monkeypatch: pytest.MonkeyPatch, world: dict[str, Any]
) -> None:
    monkeypatch.setenv("CMKIT_USER", "alice")
    with pytest.raises(PermissionDenied, match="R31: 'alice'.*impersonate"):
        cmkit.connect(db_url, user="admin")
    monkeypatch.delenv("CMKIT_USER")
    bob = cmkit.connect(db_url, user="alice")  # the owner (admin) holds every permission
    bob.add_comment(world["anna"].id, "written as alice")
    entry = bob.history(customer_id=world["anna"].id).iloc[-1]
    assert entry["user"] == "alice" and entry["login"] == cmkit.connect(db_url).login != "alice"


# -- R32: users and logins (PostgreSQL) -------------------------------------------------------------------------
@pytest.fixture
def login(cm: CustomerManager, db_url: str) -> Iterator[Callable[..., tuple[str, str]]]:
    """login(role, ...) -> (name, url): a new PostgreSQL login holding those cmkit roles; removed after."""
    made: list[str] = []

    def make(*roles: str) -> tuple[str, str]:
        name = f"t{uuid.uuid4().hex[:10]}"
        cm.add_user(name, list(roles))
        made.append(name)
        url = sa.engine.make_url(db_url).set(username=name, password=None)
        return name, url.render_as_string(hide_password=False)

    yield make
    for name in made:
        url = (
            sa.engine.make_url(db_url).set(username=name, password=None).render_as_string(hide_password=False)
        )
        engine_for(url).dispose()
        cm.remove_user(name)


def _refused(url: str, statement: str, **params: Any) -> str:
    with pytest.raises(DBAPIError) as info, engine_for(url).begin() as conn:
        conn.execute(sa.text(statement), params)
    return str(info.value.orig)


@pg_only
def test_r32_users_are_logins_with_their_roles(
    cm: CustomerManager, login: Callable[..., tuple[str, str]]
) -> None:
    name, url = login("agent")
    users = cm.users().set_index("name")
    assert users.loc[name, "roles"] == ["agent"] and bool(users.loc[name, "is_login"])
    assert not bool(users.loc["alice", "is_login"])  # configured, but no login was made for it
    as_login = cmkit.connect(url)
    assert (as_login.user, as_login.login) == (name, name)
    with pytest.raises(PermissionDenied, match="R32"):
        as_login.add_user("someone", ["agent"])


@pg_only
def test_r32_a_viewer_login_cannot_change_anything_by_raw_sql(
    cm: CustomerManager, world: dict[str, Any], login: Callable[..., tuple[str, str]], db_url: str
) -> None:
    name, url = login("reader")  # reads retail, nothing else
    anna = world["anna"]
    t = cm.create_ticket(anna.id, "helpdesk", "Drucker")
    assert "permission denied" in _refused(url, "UPDATE customers SET name = 'x' WHERE id = :i", i=anna.id)
    assert "permission denied" in _refused(url, "DELETE FROM tickets WHERE id = :i", i=t.id)
    assert "permission denied" in _refused(
        url, "INSERT INTO role_grants (role, permission, group_name) VALUES ('reader', 'delete', '*')"
    )
    assert "permission denied" in _refused(url, "UPDATE audit_log SET user_name = 'x'")
    for statement in (
        "CREATE TRIGGER swallow AFTER INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION cmkit_user()",
        "ALTER TABLE customers DISABLE ROW LEVEL SECURITY",
    ):
        message = _refused(url, statement)
        assert "permission denied" in message or "must be owner" in message, message
    with engine_for(url).connect() as conn:
        private = conn.execute(
            sa.text("SELECT count(*) FROM customers WHERE id = :i"), {"i": world["priv"].id}
        )
        assert private.scalar() == 0  # a group it may not read has no rows for it
        retail = conn.execute(sa.text("SELECT count(*) FROM customers WHERE id = :i"), {"i": anna.id})
        assert retail.scalar() == 1
    assert cmkit.connect(url).user == name
    with pytest.raises(PermissionDenied, match="R31"):
        cmkit.connect(url, user="admin")
    assert cm.customer(anna.id).name == anna.name


@pg_only
def test_r32_an_agent_login_cannot_deactivate_or_edit_other_groups_by_raw_sql(
    cm: CustomerManager, world: dict[str, Any], login: Callable[..., tuple[str, str]]
) -> None:
    _name, url = login("agent")  # writes retail; no deactivate; reads every group
    retail = cm.group_id("retail")
    message = _refused(url, "UPDATE customers SET active = false WHERE group_id = :g", g=retail)
    assert "R25" in message and "deactivate" in message
    message = _refused(url, "UPDATE customers SET name = 'Mallory' WHERE id = :i", i=world["priv"].id)
    assert "row-level security" in message or ("R5" in message and "private" in message)
    message = _refused(url, "DELETE FROM customers WHERE id = :i", i=world["bert"].id)
    assert "R25" in message and "delete" in message
    assert cm.customer(world["priv"].id).name == world["priv"].name
    assert cm.customer(world["anna"].id).active


@pg_only
def test_r32_a_login_reaching_only_private_reads_no_other_rows(
    cm: CustomerManager, world: dict[str, Any], login: Callable[..., tuple[str, str]]
) -> None:
    data = cm.config.to_dict()
    data["roles"]["private_reader"] = {"read": ["private"]}
    cmkit.init(str(cm.engine.url.render_as_string(hide_password=False)), data)
    t = cm.create_ticket(world["anna"].id, "helpdesk", "Drucker")
    _name, url = login("private_reader")
    with engine_for(url).connect() as conn:
        for table in ("customers", "tickets", "ticket_protocol", "audit_log"):
            rows = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()  # noqa: S608 - fixed names
            if table == "customers":
                assert rows == 1  # Petra Privat only
            elif table == "audit_log":
                assert rows == len(cm.history(customer_id=world["priv"].id))
            else:
                assert rows == 0, table
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM ticket_protocol WHERE ticket_id = :t"), {"t": t.id}
            ).scalar()
            == 0
        )


@pg_only
def test_r32_search_through_a_login_finds_only_what_it_may_read(
    cm: CustomerManager, world: dict[str, Any], login: Callable[..., tuple[str, str]]
) -> None:
    """Search runs on the owner's index function (LIKE under row-level security could not use the
    indexes): a login still finds exactly the rows of its groups, and the function itself tells it no
    more than that."""
    data = cm.config.to_dict()
    data["roles"]["private_reader"] = {"read": ["private"]}
    cmkit.init(str(cm.engine.url.render_as_string(hide_password=False)), data)
    twin = cm.create_contact("retail", company=world["acme"].id, first_name="Petra", last_name="Privat")
    own = cm.create_ticket(world["priv"].id, "helpdesk", "Rechnung Privat")
    other = cm.create_ticket(twin.id, "helpdesk", "Rechnung Privat")
    _name, url = login("private_reader")
    reader = cmkit.connect(url)
    assert set(cm.autocomplete("priv")["id"]) >= {world["priv"].id, twin.id}
    assert list(reader.autocomplete("priv")["id"]) == [world["priv"].id]
    found = reader.quick_search("privat")
    assert list(found.customers["id"]) == [world["priv"].id]
    assert list(found.tickets["id"]) == [own.id] and other.id in set(cm.quick_search("privat").tickets["id"])
    assert list(reader.ticket_search(subject="rechnung")["id"]) == [own.id]
    assert list(reader.quick_search(own.number).tickets["id"]) == [own.id]
    assert reader.quick_search(other.number).tickets.empty
    with engine_for(url).connect() as conn:
        ids = conn.execute(
            sa.text("SELECT cmkit_matching('customers', false, ARRAY['%'], ARRAY[1])")
        ).scalars()
        assert set(ids) == {world["priv"].id}


@pg_only
def test_r32_cmkit_works_through_a_login_within_its_permissions(
    cm: CustomerManager, world: dict[str, Any], login: Callable[..., tuple[str, str]]
) -> None:
    _agent, agent_url = login("agent")
    agent = cmkit.connect(agent_url)
    anna = world["anna"]
    new = agent.create_contact("retail", company=world["acme"].id, first_name="Nina", last_name="Neu")
    agent.edit(new.id, email="nina@example.org")
    t = agent.create_ticket(new.id, "helpdesk", "Login geht nicht", additional=[anna.id])
    agent.add_comment(new.id, "ruft zurück")
    agent.close_ticket(t.id)
    _lc, lifecycle_url = login("lifecycle")
    lc = cmkit.connect(lifecycle_url)
    lc.transfer_tickets(new.id, anna.id, only_open=False)
    lc.deactivate(new.id)
    lc.reactivate(new.id)
    lc.delete(new.id)
    assert [p for p in cm.protocol(t.id)["action"]] == ["created", "customer_added", "closed", "transferred"]
    assert cm.verify_audit().ok
    actions = list(cm.history(customer_id=new.id)["action"])
    assert "raw SQL" not in actions  # cmkit described these changes itself
    assert "raw SQL" in set(cm.history(statements=True)["action"])


@pg_only
def test_r33_a_bulk_change_through_a_login_chains_after_the_statement_log(
    cm: CustomerManager, login: Callable[..., tuple[str, str]]
) -> None:
    """A login's deactivation of a company with many contacts: the database chains its statement log entry
    while cmkit hashes the deactivation's entries; those are chained after it, and the chain verifies."""
    company, contacts = _company_with_many_contacts(cm, "Viele Kontakte AG")
    _lc, url = login("lifecycle")
    cmkit.connect(url).deactivate(company.id)
    log = cm.history(run_id=None, statements=True).sort_values("id")
    mine = log[log["id"] > log[log["action"] == "raw SQL"]["id"].max()]
    assert sorted(mine["customer_id"]) == sorted([company.id, *contacts])
    assert set(mine["action"]) == {"deactivate"}
    check = cm.verify_audit()
    assert check.ok, check.reason


@pg_only
def test_r33_a_login_importing_many_customers_writes_chained_entries(
    cm: CustomerManager, world: dict[str, Any], login: Callable[..., tuple[str, str]]
) -> None:
    """A bulk of audit entries by a login under row-level security (which refuses COPY) is written, in order,
    and verifies."""
    _agent, url = login("agent")
    names = [f"Importiert {n:03d}" for n in range(BULK_AUDIT_ROWS + 5)]
    frame = pd.DataFrame({"last_name": names, "kind": "contact", "company": "Acme GmbH"})
    out = cmkit.connect(url).import_customers(frame, "retail", dry_run=False)
    assert out.applied
    created = cm.history(run_id=None).query("action == 'create'").sort_values("id").tail(len(names))
    assert [a["name"] for a in created["after"]] == names
    check = cm.verify_audit()
    assert check.ok, check.reason


@pg_only
def test_r33_a_raw_sql_entry_with_long_values_verifies(
    cm: CustomerManager, world: dict[str, Any], login: Callable[..., tuple[str, str]]
) -> None:
    """The database's own entry for a statement on many rows (its values longer than any name) verifies:
    its data hash is recomputed over the whole values."""
    ids = [cm.create_contact("retail", company=world["acme"].id, last_name=f"K{n}").id for n in range(30)]
    _agent, url = login("agent")
    with engine_for(url).begin() as conn:
        conn.execute(sa.text("UPDATE customers SET version = version + 1 WHERE id = ANY(:ids)"), {"ids": ids})
    entry = cm.history(statements=True).iloc[-1]
    assert entry["action"] == "raw SQL" and len(json.dumps(entry["after"])) > 100
    check = cm.verify_audit()
    assert check.ok, check.reason


@pg_only
def test_r32_raw_sql_within_permissions_is_audited(
    cm: CustomerManager, world: dict[str, Any], login: Callable[..., tuple[str, str]]
) -> None:
    name, url = login("agent")
    with engine_for(url).begin() as conn:
        conn.execute(sa.text("UPDATE customers SET name = 'Anna M.' WHERE id = :i"), {"i": world["anna"].id})
    entry = cm.history(customer_id=world["anna"].id).iloc[-1]
    assert (entry["action"], entry["entity"], entry["login"]) == ("raw SQL", "customer", name)
    assert entry["after"]["statement"] == "UPDATE" and entry["after"]["ids"] == [world["anna"].id]
    assert cm.verify_audit().ok  # the database chained its own entry


@pg_only
def test_r33_audit_and_protocol_are_append_only_for_every_login(
    cm: CustomerManager, world: dict[str, Any], login: Callable[..., tuple[str, str]], db_url: str
) -> None:
    t = cm.create_ticket(world["anna"].id, "helpdesk", "Drucker")
    _name, url = login("lifecycle")
    with engine_for(db_url).connect() as conn:
        pg_role = trust.role_name(conn, "role_lifecycle")
    _raw(db_url, f'GRANT UPDATE, DELETE ON audit_log, ticket_protocol TO "{pg_role}"')  # a grant added later
    for statement in (
        "UPDATE audit_log SET user_name = 'x'",
        "DELETE FROM audit_log",
        "UPDATE ticket_protocol SET user_name = 'x'",
        "DELETE FROM ticket_protocol",
    ):
        assert "R33" in _refused(url, statement) or "permission denied" in _refused(url, statement)
    assert "append-only" in _refused(url, "DELETE FROM ticket_protocol WHERE ticket_id = :t", t=t.id)
    assert len(cm.protocol(t.id)) == 1 and cm.verify_audit().ok


@pg_only
def test_r32_removing_a_user_drops_its_login_and_keeps_its_entries(
    cm: CustomerManager, world: dict[str, Any], db_url: str
) -> None:
    name = f"t{uuid.uuid4().hex[:10]}"
    cm.add_user(name, ["agent"])
    url = sa.engine.make_url(db_url).set(username=name).render_as_string(hide_password=False)
    cmkit.connect(url).add_comment(world["anna"].id, "hallo")
    engine_for(url).dispose()
    users = cm.remove_user(name)
    assert name not in set(users["name"])
    assert _raw(db_url, "SELECT count(*) FROM pg_roles WHERE rolname = :n", n=name).scalar() == 0
    assert (cm.history(user=name)["action"] == "add_comment").any()


def test_r32_users_are_managed_by_the_owner_only(
    cm: CustomerManager, as_user: Callable[[str], CustomerManager]
) -> None:
    with pytest.raises(PermissionDenied, match="R32"):
        as_user("lena").add_user("newbie", ["agent"])
    with pytest.raises(ValidationError) as info:
        cm.add_user("newbie", ["no-such-role"])
    assert info.value.field == "roles"
    with pytest.raises(ValidationError) as info:
        cm.add_user("admin", ["agent"])
    assert info.value.field == "name"


@sqlite_only
def test_r32_sqlite_users_are_configuration_only(cm: CustomerManager, db_url: str) -> None:
    assert "newbie" in set(cm.add_user("newbie", ["agent"])["name"])
    assert cm.config.users["newbie"] == ("agent",)
    with pytest.raises(ValidationError, match="SQLite has no logins"):
        cm.add_user("other", ["agent"], password="secret")
    assert "newbie" not in set(cm.remove_user("newbie")["name"])


def test_r33_a_bulk_change_in_a_database_in_memory_chains_its_entries() -> None:
    """SQLite in memory (its connection bound to one thread): a deactivation of a company with many contacts
    writes and chains their entries as on a file."""
    url = "sqlite://"
    cmkit.init(url, CONFIG)
    try:
        cm = cmkit.connect(url)
        company, contacts = _company_with_many_contacts(cm, "Im Speicher GmbH")
        assert cm.deactivate(company.id).applied
        done = cm.history(run_id=None).query("action == 'deactivate'")
        assert sorted(done["customer_id"]) == sorted([company.id, *contacts])
        check = cm.verify_audit()
        assert check.ok, check.reason
    finally:
        engine_for(url).dispose()
