"""Additional details (comments, attachments: R8-R11), activities (R13) and change company (R7) forms."""

from __future__ import annotations

from typing import Any

import pytest
from detail_samples import pdf_bytes, png_bytes
from hostile_samples import pdf_many_pages
from ui_helpers import shown, upload

from cmkit import CustomerManager
from cmkit.ui import ActivitiesBox, AttachmentsPanel, ChangeCompanyForm, CommentsPanel, CustomerPage

# -- comments -------------------------------------------------------------------------------------------------


def test_r11_comment_add_delete_in_italics_and_undo(cm: CustomerManager, world: dict[str, Any]) -> None:
    anna = world["anna"]
    panel = CommentsPanel(cm, anna.id)
    panel.new_text.value = "Erreichbar ab 17 Uhr"
    panel.add_button.click()
    assert panel.add_status.kind == "ok"  # next to Add comment
    assert list(cm.comments(anna.id)["text"]) == ["Erreichbar ab 17 Uhr"]
    cid = int(panel.table.frame["id"].iloc[0])
    panel.choose.value = cid
    panel.delete_button.click()
    assert cm.comments(anna.id)["pending"].tolist() == [True]
    assert panel.table.italic_ids() == [cid] and not panel.undo_button.disabled
    panel.undo_button.click()
    assert cm.comments(anna.id)["pending"].tolist() == [False]
    assert panel.table.italic_ids() == [] and panel.undo_button.disabled


def test_r10_comment_filters(cm: CustomerManager, world: dict[str, Any], as_user: Any) -> None:
    anna = world["anna"]
    cm.add_comment(anna.id, "Vertrag verlängert")
    as_user("alice").add_comment(anna.id, "Rückruf erbeten")
    panel = CommentsPanel(cm, anna.id)
    assert len(panel.table.frame) == 2
    panel.author.value = "alice"
    panel.filter_button.click()
    assert list(panel.table.frame["text"]) == ["Rückruf erbeten"] and "1 comment(s)" in panel.status.message
    panel.author.value = ""
    panel.text.value = "vertrag"
    panel.filter_button.click()
    assert list(panel.table.frame["text"]) == ["Vertrag verlängert"]
    panel.until.value = "2000-01-01"  # dates are ISO, whatever the browser's locale
    panel.filter_button.click()
    assert panel.table.frame.empty
    panel.until.value = "01/31/2026"
    panel.filter_button.click()
    assert panel.status.kind == "error" and "YYYY-MM-DD" in panel.status.message
    panel.clear_button.click()
    assert len(panel.table.frame) == 2 and panel.until.value == ""


def test_r11_deletion_becomes_final_at_the_next_action(cm: CustomerManager, world: dict[str, Any]) -> None:
    anna = world["anna"]
    cm.add_comment(anna.id, "first")
    page = CustomerPage(cm, anna.id)
    panel = page.details.comments
    panel.choose.value = int(panel.table.frame["id"].iloc[0])
    panel.delete_button.click()
    panel.new_text.value = "second"
    panel.add_button.click()  # another action: the deletion is final
    assert list(cm.comments(anna.id)["text"]) == ["second"]
    assert list(panel.table.frame["text"]) == ["second"]


def test_r8_comments_without_permission(world: dict[str, Any], as_user: Any) -> None:
    rita = as_user("rita")  # may read retail customers, not their comments
    panel = CommentsPanel(rita, world["anna"].id)
    assert "R8" in panel.notice.value and panel.table.frame.empty
    alice = CommentsPanel(as_user("alice"), world["pete"].id)  # reads partners' comments, may not write them
    assert alice.add_button.disabled and alice.new_text.disabled


def test_empty_comment_is_refused_next_to_add(cm: CustomerManager, world: dict[str, Any]) -> None:
    panel = CommentsPanel(cm, world["anna"].id)
    panel.add_button.click()
    assert panel.add_status.kind == "error" and "text" in panel.add_status.message
    assert cm.comments(world["anna"].id).empty


# -- attachments ----------------------------------------------------------------------------------------------


def test_r9_upload_files_with_description_and_download(cm: CustomerManager, world: dict[str, Any]) -> None:
    anna = world["anna"]
    panel = AttachmentsPanel(cm, anna.id)
    panel.upload.value = (
        upload("vertrag.txt", b"Servicevertrag 2026", "text/plain"),
        upload("liste.csv", b"a,b\n1,2\n"),
    )
    panel.description.value = "Vertrag und Liste"
    panel.add_button.click()
    assert panel.add_status.kind == "ok", panel.add_status.message
    stored = cm.attachments(anna.id)
    assert list(stored["name"]) == ["vertrag.txt", "liste.csv"] and set(stored["description"]) == {
        "Vertrag und Liste"
    }
    assert panel.upload.value == () and panel.description.value == ""
    panel.choose.value = int(stored["id"].iloc[0])
    panel.download_button.click()
    assert 'download="vertrag.txt"' in panel.link.value and "U2VydmljZXZlcnRyYWcgMjAyNg==" in panel.link.value


def test_r9_refused_file_stores_nothing(cm: CustomerManager, world: dict[str, Any]) -> None:
    panel = AttachmentsPanel(cm, world["anna"].id)
    panel.upload.value = (upload("ok.txt", b"fine"), upload("tool.exe", b"MZ\x90\x00\x03\x00"))
    panel.add_button.click()
    assert panel.add_status.kind == "error" and "R9" in panel.add_status.message
    assert cm.attachments(world["anna"].id).empty
    panel.add_button.click()
    assert "choose one or more files" in panel.add_status.message


def test_r9_upload_result_next_to_add_and_on_the_page(cm: CustomerManager, world: dict[str, Any]) -> None:
    """The refusal shows under Add (the page's status line, far up, says it too) and the refused
    files are no longer chosen; a good upload after it is said in the same places."""
    page = CustomerPage(cm, world["anna"].id)
    panel = page.details.attachments
    panel.upload.value = (upload("tool.exe", b"MZ\x90\x00\x03\x00"),)
    panel.add_button.click()
    assert panel.add_status.kind == "error" and "tool.exe" in panel.add_status.message
    assert page.status.message == panel.add_status.message and panel.upload.value == ()
    add_box = next(c for c in panel.children if "cmkit-edit" in c._dom_classes)
    assert panel.add_status in add_box.children
    panel.upload.value = (upload("ok.txt", b"fine", "text/plain"),)
    panel.add_button.click()
    assert panel.add_status.kind == "ok" and "ok.txt" in page.status.message and panel.upload.value == ()


def test_hostile_polyglot_refused_in_the_form_and_downloads_are_octet_stream(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    """HTML named .txt is refused with the reason next to Add; what the form offers for saving is
    application/octet-stream with a download name (a data: link's Content-Disposition: attachment),
    whatever type the file has."""
    anna = world["anna"].id
    panel = AttachmentsPanel(cm, anna)
    panel.upload.value = (upload("readme.txt", b"<html><script>alert(1)</script></html>", "text/plain"),)
    panel.add_button.click()
    assert (
        panel.add_status.kind == "error"
        and "'readme.txt' is named as txt but holds a web page" in panel.add_status.message
    )
    assert cm.attachments(anna).empty
    cm.add_attachments(anna, {"scan.pdf": pdf_bytes("scan"), "logo.png": png_bytes(), "n.txt": b"plain"})
    panel.refresh()
    for row in panel.table.frame.itertuples():
        panel.choose.value = row.id
        panel.download_button.click()
        assert panel.link.value.startswith(f'<a class="cmkit-download" download="{row.name}" ')
        assert 'href="data:application/octet-stream;base64,' in panel.link.value


def test_r9_form_says_when_a_files_text_was_cut(cm: CustomerManager, world: dict[str, Any]) -> None:
    panel = AttachmentsPanel(cm, world["anna"].id)
    panel.upload.value = (upload("long.pdf", pdf_many_pages(20_000)), upload("short.pdf", pdf_bytes("short")))
    panel.add_button.click()
    assert panel.add_status.kind == "ok", panel.add_status.message
    assert panel.add_status.message.endswith(
        "added: long.pdf, short.pdf; long.pdf: text cut at the reading budget"
    )


def test_r10_r11_attachment_filters_delete_and_undo(cm: CustomerManager, world: dict[str, Any]) -> None:
    anna = world["anna"]
    cm.add_attachments(anna.id, {"notes.txt": b"hello world", "data.csv": b"x,y\n"})
    panel = AttachmentsPanel(cm, anna.id)
    panel.type.value = "csv"
    panel.filter_button.click()
    assert list(panel.table.frame["name"]) == ["data.csv"]
    panel.type.value = ""
    panel.content.value = "hello"
    panel.filter_button.click()
    assert list(panel.table.frame["name"]) == ["notes.txt"]
    panel.clear_button.click()
    panel.choose.value = int(panel.table.frame.loc[panel.table.frame["name"] == "notes.txt", "id"].iloc[0])
    panel.delete_button.click()
    assert len(panel.table.italic_ids()) == 1 and cm.attachments(anna.id)["pending"].sum() == 1
    panel.undo_button.click()
    assert not cm.attachments(anna.id)["pending"].any()


# -- activities -----------------------------------------------------------------------------------------------


def test_r13_activities_offered_and_run(cm: CustomerManager, world: dict[str, Any]) -> None:
    box = ActivitiesBox(cm, world["anna"].id)
    assert "export_vcard" in box.choose.options and "copy_company_address" not in box.choose.options
    assert box.choose.value == box.choose.options[0]  # one is chosen from the start
    box.choose.value = "export_vcard"
    box.run_button.click()
    assert box.status.kind == "ok" and "BEGIN:VCARD" in box.output.value and "Müller" in box.output.value
    company = ActivitiesBox(cm, world["acme"].id)
    company.choose.value = "copy_company_address"
    company.run_button.click()  # it changes the contacts: it asks first
    company.confirm.yes.click()  # the test groups' contacts have no address fields: refused, and said so
    assert company.status.kind == "error" and company.status.message.startswith("R13")


def test_r13_activity_parameters_are_fields_with_defaults(cm: CustomerManager, world: dict[str, Any]) -> None:
    company = ActivitiesBox(cm, world["acme"].id)
    company.choose.value = "copy_company_address"
    inputs = company.fields.inputs
    assert list(inputs) == ["fields", "overwrite", "include_deactivated", "dry_run"]
    assert inputs["overwrite"].value is True and inputs["dry_run"].value is False  # the defaults
    assert inputs["fields"].value == "" and "commas" in inputs["fields"].placeholder
    inputs["fields"].value = "street, city"
    inputs["dry_run"].value = True
    assert company.params() == {
        "fields": ["street", "city"],
        "overwrite": True,
        "include_deactivated": False,
        "dry_run": True,
    }
    assert "address fields to its contacts" in company.about.value


def test_r13_followup_ticket_asks_before_creating(cm: CustomerManager, world: dict[str, Any]) -> None:
    anna = world["anna"]
    box = ActivitiesBox(cm, anna.id)
    box.choose.value = "create_followup_ticket"
    assert (
        set(box.fields.inputs) == {"subject", "queue", "additional"}
        and box.fields.inputs["queue"].value == ""
    )
    box.run_button.click()  # no ticket yet: it asks first
    assert box.confirm.pending and "follow-up ticket" in box.confirm.question.value
    assert cm.tickets(anna.id).empty
    box.confirm.no.click()
    assert cm.tickets(anna.id).empty and not box.confirm.pending
    box.run_button.click()
    box.confirm.yes.click()  # without a queue: refused in the form's words, next to Run
    assert box.status.kind == "error" and "choose the queue" in box.status.message
    assert "pass queue=" not in box.status.message and cm.tickets(anna.id).empty
    box.fields.inputs["queue"].value = "billing"
    box.run_button.click()
    box.confirm.yes.click()
    assert box.status.kind == "ok" and list(cm.tickets(anna.id)["queue"]) == ["billing"]
    none = ActivitiesBox(cm, world["pete"].id)  # partners have no activities configured
    assert none.run_button.disabled and "no activities" in none.output.value


# -- change company -------------------------------------------------------------------------------------------


def test_r7_change_company_by_choosing_one(cm: CustomerManager, world: dict[str, Any]) -> None:
    anna, zeta = world["anna"], world["zeta"]
    done: list[Any] = []
    form = ChangeCompanyForm(cm, anna.id, on_done=done.append)
    assert "Acme GmbH" in form.title.value
    form.change_button.click()
    assert form.status.kind == "error" and "choose the new company" in form.status.message
    form.picker.pick(zeta.id)
    form.change_button.click()
    assert form.status.kind == "ok" and cm.customer(anna.id).company_id == zeta.id
    assert done and "Zeta AG" in form.title.value


def test_r7_change_company_to_a_new_company_created_inline(
    cm: CustomerManager, world: dict[str, Any]
) -> None:
    anna = world["anna"]
    form = ChangeCompanyForm(cm, anna.id)
    assert not shown(form.new_box)
    form.new_button.click()
    assert shown(form.new_box) and "cmkit-edit" in form.new_box._dom_classes
    form.new_fields.inputs["city"].value = "Bonn"
    form.create_button.click()  # name is required
    assert form.new_fields.error_fields == ["name"] and form.status.kind == "error"
    form.new_fields.inputs["name"].value = "Neu GmbH"
    form.create_button.click()
    assert form.status.kind == "ok", form.status.message
    company = cm.customer(cm.customer(anna.id).company_id)
    assert (company.name, company.fields["city"], company.group) == ("Neu GmbH", "Bonn", "retail")


def test_r7_deactivated_contact_or_company_refused(cm: CustomerManager, world: dict[str, Any]) -> None:
    cm.deactivate(world["carl"].id)
    form = ChangeCompanyForm(cm, world["carl"].id)
    assert form.change_button.disabled and "R7" in form.status.message
    cm.deactivate(world["zeta"].id)
    form = ChangeCompanyForm(cm, world["anna"].id)
    form.picker.pick(world["zeta"].id)  # typed as #id: a deactivated company is not offered
    assert form.picker.found.empty
    form.change_button.click()
    assert form.status.kind == "error" and "R7" in form.status.message
    assert cm.customer(world["anna"].id).company_id == world["acme"].id


@pytest.mark.parametrize("key", ["change_company"])
def test_change_company_from_the_page(cm: CustomerManager, world: dict[str, Any], key: str) -> None:
    page = CustomerPage(cm, world["anna"].id)
    page.buttons[key].click()
    assert isinstance(page.form, ChangeCompanyForm)
    page.form.picker.pick(world["zeta"].id)
    page.form.change_button.click()
    assert page.form is None and "Zeta AG" in page.relation.value


def test_r11_deleted_comment_reads_deleted_not_true(cm: CustomerManager, world: dict[str, Any]) -> None:
    cm.add_comment(world["anna"].id, "Rückruf erbeten")
    panel = CommentsPanel(cm, world["anna"].id)
    assert ">False<" not in panel.table.browser_html() and "<th>deleted</th>" in panel.table.browser_html()
    panel.choose.value = int(panel.table.frame["id"].iloc[0])
    panel.delete_button.click()
    assert (
        "deleted: Undo restores it" in panel.table.browser_html()
        and ">True<" not in panel.table.browser_html()
    )
    assert "pending" not in panel.table.browser_html()
