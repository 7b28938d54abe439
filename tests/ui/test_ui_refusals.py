"""The forms' enabled state and tooltips follow `cm.why_not`: no form retypes a rule or a permission."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers import MakeTicket
from ui_helpers import shown

from cmkit import CustomerManager
from cmkit.ui import (
    ActivitiesBox,
    ChangeCompanyForm,
    CommentsPanel,
    CreateTicketForm,
    CustomerPage,
    LifecycleForm,
)
from cmkit.ui.wording import form_message

UI = Path(__file__).resolve().parents[2] / "cmkit" / "ui"


def lines(refusals: list[str]) -> str:
    """The refusals as a form shows them: one per line, in the forms' words."""
    return "\n".join(form_message(r) for r in refusals)


def assert_buttons_follow_why_not(page: CustomerPage, cm: CustomerManager) -> None:
    """Every visible button: its tooltip is why_not's list; it is disabled when that list is not empty,
    except Deactivate and Delete, whose form shows the tickets in their way (why_not without them)."""
    for action, button in page.buttons.items():
        if not shown(button):
            continue
        refusals = cm.why_not(action, page.customer_id)
        assert button.tooltip == lines(refusals), action
        if action in ("deactivate", "delete"):
            assert button.disabled == bool(cm.why_not(action, page.customer_id, tickets=False)), action
        else:
            assert button.disabled == bool(refusals), action


def test_viewer_sees_deactivate_disabled_with_the_r25_refusal(
    world: dict[str, Any], as_user: Callable[[str], CustomerManager]
) -> None:
    rita = as_user("rita")  # reads retail, nothing more
    page = CustomerPage(rita, world["anna"].id)
    deactivate = page.buttons["deactivate"]
    assert shown(deactivate) and deactivate.disabled
    assert deactivate.tooltip.startswith(
        "R25: user 'rita' lacks the 'deactivate' permission on group 'retail'"
    )
    assert deactivate.tooltip == lines(rita.why_not("deactivate", world["anna"].id))
    assert page.buttons["edit"].tooltip.startswith("R5: user 'rita' lacks the 'write' permission")
    assert_buttons_follow_why_not(page, rita)


def test_open_ticket_leaves_deactivate_enabled_and_its_tooltip_names_r18(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    anna = world["anna"]
    t = make_ticket(anna)
    page = CustomerPage(cm, anna.id)
    deactivate = page.buttons["deactivate"]
    assert not deactivate.disabled and deactivate.tooltip.startswith("R18")
    assert t.number in deactivate.tooltip
    assert_buttons_follow_why_not(page, cm)
    deactivate.click()  # the form shows the blocking ticket and offers to move it
    assert isinstance(page.form, LifecycleForm)
    assert list(page.form.blocking.frame["number"]) == [t.number] and shown(page.form.transfer_button)
    assert cm.customer(anna.id).active


def test_ticket_leaves_delete_enabled_and_its_tooltip_names_r23(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    priv = world["priv"]
    t = make_ticket(priv, closed=True)  # closed tickets name it too
    page = CustomerPage(cm, priv.id)
    delete = page.buttons["delete"]
    assert not delete.disabled and delete.tooltip.startswith("R23") and t.number in delete.tooltip
    assert not page.buttons["deactivate"].disabled and page.buttons["deactivate"].tooltip == ""
    assert_buttons_follow_why_not(page, cm)


def test_without_permission_the_tickets_do_not_enable_deactivate(
    cm: CustomerManager,
    world: dict[str, Any],
    make_ticket: MakeTicket,
    as_user: Callable[[str], CustomerManager],
) -> None:
    make_ticket(world["anna"])
    alice = as_user("alice")  # agent: no lifecycle permissions
    page = CustomerPage(alice, world["anna"].id)
    tip = page.buttons["deactivate"].tooltip
    assert page.buttons["deactivate"].disabled
    assert tip.startswith("R25") and "\nR18" in tip


def test_buttons_follow_the_tickets_after_refresh(
    cm: CustomerManager, world: dict[str, Any], make_ticket: MakeTicket
) -> None:
    anna = world["anna"]
    page = CustomerPage(cm, anna.id)
    assert page.buttons["deactivate"].tooltip == "" and page.buttons["delete"].tooltip == ""
    t = make_ticket(anna)
    page.refresh()
    assert "R18" in page.buttons["deactivate"].tooltip and "R23" in page.buttons["delete"].tooltip
    assert not page.buttons["deactivate"].disabled and not page.buttons["delete"].disabled
    cm.close_ticket(t.id)
    page.refresh()
    assert page.buttons["deactivate"].tooltip == "" and "R23" in page.buttons["delete"].tooltip
    assert_buttons_follow_why_not(page, cm)


def test_deactivated_contact_cannot_change_company_r7(cm: CustomerManager, world: dict[str, Any]) -> None:
    carl = world["carl"]
    cm.deactivate(carl.id)
    page = CustomerPage(cm, carl.id)
    button = page.buttons["change_company"]
    assert shown(button) and button.disabled
    assert button.tooltip.startswith(f"R7: contact 'Carl Zander' (#{carl.id}) is deactivated")
    assert_buttons_follow_why_not(page, cm)
    form = ChangeCompanyForm(cm, carl.id)
    assert form.change_button.disabled and form.change_button.tooltip == button.tooltip
    assert form.status.message == button.tooltip


def test_create_ticket_form_explains_itself_from_why_not(
    world: dict[str, Any], as_user: Callable[[str], CustomerManager]
) -> None:
    rita = as_user("rita")
    form = CreateTicketForm(rita, world["anna"].id)
    refusals = rita.why_not("create_ticket", world["anna"].id)
    assert refusals and refusals[0].startswith("R5")
    assert "lacks the &#x27;write&#x27; permission" in form.explain.value
    assert form.create_button.disabled and form.create_button.tooltip == lines(refusals)
    assert "New ticket for contact &#x27;Anna Müller&#x27;" in form.title.value


def test_comments_panel_reads_and_writes_as_why_not_says(
    cm: CustomerManager, world: dict[str, Any], as_user: Callable[[str], CustomerManager]
) -> None:
    pete = world["pete"]
    cm.add_comment(pete.id, "from the admin")
    rita = CommentsPanel(as_user("rita"), world["anna"].id)  # no comments_read on retail
    assert "R8: user &#x27;rita&#x27; lacks the &#x27;comments_read&#x27; permission" in rita.notice.value
    assert rita.add_button.disabled and rita.add_button.tooltip.startswith("R8")
    alice = as_user("alice")  # reads partners' comments, may not write them
    panel = CommentsPanel(alice, pete.id)
    assert panel.notice.value == "" and list(panel.table.frame["text"]) == ["from the admin"]
    assert panel.add_button.disabled and panel.add_button.tooltip == lines(alice.why_not("comment", pete.id))
    panel.choose.value = int(panel.table.frame["id"].iloc[0])
    assert panel.delete_button.disabled and panel.delete_button.tooltip.startswith("R8")
    own = CommentsPanel(alice, world["anna"].id)  # writes retail's
    assert not own.add_button.disabled and own.add_button.tooltip == ""


def test_activities_box_without_the_permission_says_why(
    world: dict[str, Any], as_user: Callable[[str], CustomerManager]
) -> None:
    lena = as_user("lena")  # lifecycle role: no activities permission
    box = ActivitiesBox(lena, world["anna"].id)
    assert box.run_button.disabled and box.run_button.tooltip.startswith("R13")
    assert "R13: user &#x27;lena&#x27; lacks the &#x27;activities&#x27; permission" in box.output.value


def test_customer_label_names_the_customer(cm: CustomerManager, world: dict[str, Any]) -> None:
    anna = cm.customer(world["anna"].id)
    assert anna.label == f"contact 'Anna Müller' (#{anna.id})"
    assert cm.customer(world["acme"].id).label == f"company 'Acme GmbH' (#{world['acme'].id})"
    assert f"CustomerPage contact 'Anna Müller' (#{anna.id})" in repr(CustomerPage(cm, anna.id))


def test_forms_use_only_the_facade() -> None:
    """cmkit.ui imports the facade, values and errors, never the layers below, and never reaches for
    the operations' context: what a form may offer comes from `cm.why_not` and `cm.may`."""
    allowed = ("cmkit.ui", "cmkit.facade", "cmkit.values", "cmkit.errors")
    for path in sorted(UI.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cmkit"):
                assert node.module.startswith(allowed), f"{path.name} imports {node.module}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("cmkit"), f"{path.name} imports {alias.name}"
            elif isinstance(node, ast.Attribute):
                assert node.attr != "context", f"{path.name}:{node.lineno} uses .context"
