"""Search actions on ticked rows (cmkit.ui.actions): each shows its plan (rows that change, rows refused with
their rule, the dry run's changes), applies on confirmation in one transaction under one run id, and reports
what changed. Rows the user may not act on are refused, never skipped silently."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable
from typing import Any

import pandas as pd
from helpers import MakeTicket
from ui_helpers import shown

from cmkit import CustomerManager
from cmkit.ui import SearchForm
from cmkit.ui.actions import ActionBar
from cmkit.ui.table import Table

XSS = "<img src=x onerror=alert(1)>"


def everyone(cm: CustomerManager) -> SearchForm:
    """A search form showing every customer (detail search, deactivated ones included)."""
    form = SearchForm(cm)
    form.include_deactivated.value = True
    form.detail_button.click()
    assert form.mode == "detail" and form.status.kind == "ok"
    return form


def plan(form: SearchForm, action: str, ids: list[int], **options: Any) -> ActionBar:
    form.table.select(ids)
    bar = form.actions
    bar.action.value = action
    for name, value in options.items():
        getattr(bar, name).value = value
    bar.plan_button.click()
    return bar


def verdicts(bar: ActionBar) -> dict[int, str]:
    return {int(i): str(v) for i, v in zip(bar.plan_rows["id"], bar.plan_rows["verdict"], strict=True)}


def run_ids(cm: CustomerManager, action: str) -> set[str]:
    log = cm.history()
    return set(log.loc[log["action"] == action, "run_id"].dropna())


def test_r18_r25_deactivate_selection_refuses_rows_by_rule_and_applies_the_rest_in_one_run(
    cm: CustomerManager,
    world: dict[str, Any],
    make_ticket: MakeTicket,
    as_user: Callable[[str], CustomerManager],
) -> None:
    anna, bert, carl, priv = (world[k] for k in ("anna", "bert", "carl", "priv"))
    make_ticket(anna)  # an open ticket: R18 refuses Anna
    lena = as_user("lena")  # deactivate on retail only: R25 refuses Petra (private)
    form = everyone(lena)
    bar = plan(form, "deactivate", [anna.id, bert.id, carl.id, priv.id])
    assert verdicts(bar) == {anna.id: "refused", bert.id: "change", carl.id: "change", priv.id: "refused"}
    rules = dict(zip(bar.plan_rows["id"], bar.plan_rows["rule"], strict=True))
    assert rules[anna.id].startswith("R18: cannot deactivate") and rules[priv.id].startswith(
        "R25: user 'lena'"
    )
    assert set(bar.changes.frame["id"]) == {bert.id, carl.id}  # the dry run's changes
    assert set(bar.rows.italic_ids()) == {anna.id, priv.id}  # refused rows in italics
    assert all(cm.customer(c.id).active for c in (anna, bert, carl, priv)), "a plan changes nothing"
    assert bar.confirm.pending and "2 row(s); 2 refused row(s)" in bar.confirm.question.value
    bar.confirm.yes.click()
    assert form.status.kind == "ok" and bar.run_id and bar.run_id in form.status.message
    assert [cm.customer(c.id).active for c in (anna, bert, carl, priv)] == [True, False, False, True]
    assert run_ids(cm, "deactivate") == {bar.run_id}  # one run id for the whole selection
    assert "2 refused row(s) left as they were" in form.status.message
    assert {bert.id, carl.id} <= set(form.table.italic_ids())  # the search ran again


def test_r18_a_customer_deactivated_already_is_refused_not_skipped(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    cm.deactivate(world["carl"].id)
    form = everyone(cm)
    bar = plan(form, "deactivate", [world["carl"].id, world["priv"].id])
    assert verdicts(bar) == {world["carl"].id: "refused", world["priv"].id: "change"}
    assert bar.plan_rows.set_index("id").at[world["carl"].id, "rule"].startswith("R18: deactivated already")


def test_r25_user_without_the_permission_sees_every_row_refused(
    world: dict[str, Any], as_user: Callable[[str], CustomerManager]
) -> None:
    rita = as_user("rita")  # reads retail only
    form = everyone(rita)
    ids = [world["anna"].id, world["bert"].id]
    bar = plan(form, "deactivate", ids)
    assert set(verdicts(bar).values()) == {"refused"}
    assert all(
        r.startswith("R25: user 'rita' lacks the 'deactivate' permission") for r in bar.plan_rows["rule"]
    )
    assert form.status.kind == "error" and not bar.confirm.pending
    bar = plan(form, "anonymise", ids)
    assert set(verdicts(bar).values()) == {"refused"} and not bar.confirm.pending


def test_r17_transfer_tickets_of_the_selection_to_one_target(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    anna, bert, carl = world["anna"], world["bert"], world["carl"]
    t1, t2 = make_ticket(anna), make_ticket(bert, anna)
    form = everyone(cm)
    form.actions.target.value = carl.id
    bar = plan(form, "transfer", [anna.id, bert.id, carl.id])
    assert verdicts(bar) == {anna.id: "change", bert.id: "change", carl.id: "refused"}
    assert "R17: the target must not be the source" in bar.plan_rows.set_index("id").at[carl.id, "rule"]
    assert set(bar.changes.frame["id"]) == {t1.id, t2.id}
    assert cm.ticket(t1.id).main_customer_id == anna.id
    bar.confirm.yes.click()
    assert form.status.kind == "ok", form.status.message
    assert cm.ticket(t1.id).main_customer_id == carl.id and cm.ticket(t2.id).main_customer_id == carl.id
    assert anna.id not in cm.ticket(t2.id).additional_customer_ids
    assert run_ids(cm, "transfer_out") == {bar.run_id}
    assert set(cm.protocol(t2.id)["run_id"].dropna()) == {bar.run_id}


def test_r13_run_activity_on_each_selected_customer_where_offered(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    acme, anna, priv = world["acme"], world["anna"], world["priv"]
    form = everyone(cm)
    bar = plan(form, "run_activity", [acme.id, anna.id, priv.id], activity="export_vcard")
    assert verdicts(bar) == {acme.id: "refused", anna.id: "change", priv.id: "refused"}
    assert all(r.startswith("R13") for r in bar.plan_rows.loc[bar.plan_rows["verdict"] == "refused", "rule"])
    bar.confirm.yes.click()
    assert form.status.kind == "ok" and "ran on 1 customer(s)" in form.status.message
    assert len(bar.results) == 1 and "Müller" in str(bar.results[0])
    log = cm.history(customer_id=anna.id)
    assert set(log.loc[log["action"] == "run_activity", "run_id"]) == {bar.run_id}


def test_merge_selected_duplicates_into_one_survivor(cm: CustomerManager, world: dict[str, Any]) -> None:
    priv = world["priv"]
    twin = cm.create_contact("private", first_name="Petra", last_name="Privat", email="p2@example.org")
    other = cm.create_contact("private", first_name="Paul", last_name="Privat")
    cm.add_comment(twin.id, "from the twin")
    form = everyone(cm)
    form.table.select([priv.id, twin.id, other.id])
    form.actions.survivor.value = priv.id
    bar = plan(form, "merge", [priv.id, twin.id, other.id])
    assert verdicts(bar) == {priv.id: "survivor", twin.id: "change", other.id: "change"}
    assert priv.id in set(cm.frame("customers")["id"]) and twin.id in set(cm.frame("customers")["id"])
    bar.confirm.yes.click()
    assert form.status.kind == "ok", form.status.message
    ids = set(cm.frame("customers")["id"])
    assert priv.id in ids and twin.id not in ids and other.id not in ids
    assert list(cm.comments(priv.id)["text"]) == ["from the twin"]
    assert run_ids(cm, "merge") == {bar.run_id}


def test_merge_refuses_a_duplicate_of_another_group_by_its_rule(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    priv, carl = world["priv"], world["carl"]
    twin = cm.create_contact("private", first_name="Petra", last_name="Privat")
    form = everyone(cm)
    form.table.select([priv.id, twin.id, carl.id])
    form.actions.survivor.value = priv.id
    bar = plan(form, "merge", [priv.id, twin.id, carl.id])
    assert verdicts(bar) == {priv.id: "survivor", twin.id: "change", carl.id: "refused"}
    bar.confirm.yes.click()
    assert twin.id not in set(cm.frame("customers")["id"]) and cm.customer(carl.id).active


def test_anonymise_the_selection(cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket) -> None:
    priv, bert = world["priv"], world["bert"]
    make_ticket(bert)  # open: R18 refuses Bert
    form = everyone(cm)
    bar = plan(form, "anonymise", [priv.id, bert.id])
    assert verdicts(bar) == {priv.id: "change", bert.id: "refused"}
    bar.confirm.yes.click()
    assert form.status.kind == "ok", form.status.message
    after = cm.customer(priv.id)
    assert not after.active and "Petra" not in after.name and after.fields.get("email") is None
    assert cm.customer(bert.id).name == "Bert Öztürk"
    assert run_ids(cm, "anonymise") == {bar.run_id}


def download(html: str) -> bytes:
    return base64.b64decode(re.search(r"base64,([^\"]+)\"", html).group(1))  # type: ignore[union-attr]


def test_export_selection_and_whole_result_are_formula_safe(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    evil = cm.create_contact("private", first_name="@SUM(A1)", last_name="=HYPERLINK(1)")
    form = everyone(cm)
    bar = plan(form, "export", [evil.id, world["anna"].id])
    assert set(verdicts(bar).values()) == {"change"}
    bar.confirm.yes.click()
    got = pd.read_csv(io.BytesIO(download(bar.result.value)))
    assert set(got["id"]) == {evil.id, world["anna"].id}
    assert "'=HYPERLINK(1)" in set(got["name"]) or "'@SUM(A1) =HYPERLINK(1)" in set(got["name"])
    form.table.export_type.value = "xlsx"
    form.table.export_button.click()  # the whole result, not only the page shown
    whole = pd.read_excel(io.BytesIO(download(form.table.download.value)))
    assert list(whole["id"]) == list(form.results["id"])
    assert evil.name in set(whole["name"])  # in XLSX a text cell, unchanged


def test_select_all_acts_on_every_matching_row_and_says_how_many(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    table = Table(selectable=True, cm=cm, window=2)  # two rows in the browser at a time
    bar = ActionBar(cm, table)
    table.show(cm.detail_search(group="retail"))
    n = len(table.frame)
    assert n > 2 and shown(table.pager)
    table.select_all()
    assert len(table.selected_ids) == n and f"(all {n:,} matching rows)" in table.selection_note.value
    assert table.grid.selected_rows == [0, 1]  # the rows on screen are ticked too
    table.grid.selected_rows = [1]  # unticking one in the browser keeps the others
    assert len(table.selected_ids) == n - 1
    table.filter.value = "acme"  # Acme GmbH and its contacts (their company column)
    table.select_all()
    acme = {world[k].id for k in ("acme", "anna", "bert")}
    assert set(table.selected_ids) == acme and "(all 3 matching rows)" in table.selection_note.value
    bar.action.value = "export"
    bar.plan_button.click()
    assert set(bar.plan_rows["id"]) == acme


def test_ticked_rows_in_the_browser_become_ids_across_sorting_and_windows(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    table = Table(selectable=True, window=3)
    table.show(cm.detail_search(include_deactivated=True))
    table.sort_by.value = "name"
    table.descending.value = True
    names = list(table.view["name"])
    table.grid.selected_rows = [0]
    table.next.click()
    table.grid.selected_rows = [0]
    expected = {int(table.view.iloc[0]["id"]), int(table.view.iloc[3]["id"])}
    assert set(table.selected_ids) == expected and names == sorted(names, reverse=True)


def test_hostile_strings_are_escaped_in_the_plan_and_the_result(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    evil = cm.create_contact("private", first_name=XSS, last_name=XSS)
    form = everyone(cm)
    bar = plan(form, "deactivate", [evil.id])
    for table in (form.table, bar.rows, bar.changes):
        out = table.browser_html()
        assert "<img" not in out and "&lt;img src=x onerror=alert(1)&gt;" in out
    assert "<img" not in bar.summary.value + bar.problems.value + bar.confirm.question.value


def test_ticket_results_act_on_their_customers(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    t = make_ticket(world["bert"], subject="Drucker kaputt", closed=True)
    form = SearchForm(cm)
    form.find.text.value = "Drucker"
    form.search_button.click()
    assert shown(form.ticket_actions)
    form.tickets.select([t.id])
    form.ticket_actions.action.value = "deactivate"
    form.ticket_actions.plan_button.click()
    assert list(form.ticket_actions.plan_rows["id"]) == [world["bert"].id]
    form.ticket_actions.confirm.yes.click()
    assert not cm.customer(world["bert"].id).active


def test_an_action_bar_attaches_to_any_table_of_customer_ids(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    """What a ticket search form does: its table (ticket rows) gets the actions on their customers."""
    from cmkit.ui.actions import attach

    t = make_ticket(world["carl"], closed=True)
    table = Table(cm=cm)
    table.show(cm.ticket_search(customer_name="Carl"))
    bar = attach(cm, table, id_column="main_customer_id")
    assert table.selectable and table.grid._dt_args["select"] is True
    table.select([t.id])
    bar.action.value = "deactivate"
    bar.plan_button.click()
    assert verdicts(bar) == {world["carl"].id: "change"}
    bar.confirm.yes.click()
    assert not cm.customer(world["carl"].id).active and bar.status.kind == "ok"


def test_r13_run_activity_on_a_selection_is_one_transaction(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    """Follow-up tickets for Anna and Bert: both under one run id; when the activity is refused for Bert
    after the plan (he was deactivated since), Anna gets none either, and the form says why."""
    anna, bert, carl = world["anna"], world["bert"], world["carl"]
    form = everyone(cm)
    form.actions.activity.value = "create_followup_ticket"  # its parameters get a field each, as on the page
    form.actions.param_fields.inputs["queue"].value = "helpdesk"
    bar = plan(form, "run_activity", [anna.id, bert.id])
    assert verdicts(bar) == {anna.id: "change", bert.id: "change"}
    cm.deactivate(bert.id)  # another admin, between plan and confirmation
    bar.confirm.yes.click()
    assert form.status.kind == "error" and "nothing was changed" in form.status.message
    assert f"#{bert.id}" in form.status.message and "R20" in form.status.message
    assert cm.tickets(anna.id).empty and bar.run_id and cm.history(run_id=bar.run_id).empty

    bar = plan(form, "run_activity", [anna.id, carl.id])
    bar.confirm.yes.click()
    assert form.status.kind == "ok" and "ran on 2 customer(s), in one transaction" in form.status.message
    assert len(cm.tickets(anna.id)) == 1 and len(cm.tickets(carl.id)) == 1
    assert run_ids(cm, "run_activity") == {bar.run_id}
