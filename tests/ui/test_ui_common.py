"""The shared parts of the forms: escaped tables with italics, the status line, the error guard, confirmation."""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import pandas as pd
from ipywidgets.widgets.widget_description import DescriptionWidget

from cmkit import CMError, CustomerManager
from cmkit.ui import ActivitiesBox, ChangeCompanyForm, CustomerPage, LifecycleForm, SearchForm, TransferForm
from cmkit.ui.common import Confirm, StatusLine, download_link, handles
from cmkit.ui.table import Table

XSS = "<img src=x onerror=alert(1)>"


def test_hostile_table_escapes_customer_data_and_headers() -> None:
    df = pd.DataFrame({"id": [1], "name": [XSS], XSS: ["x"], "active": [True]})
    t = Table()
    t.show(df)
    out = t.browser_html()
    assert "<img" not in out
    assert "&lt;img src=x onerror=alert(1)&gt;" in out
    assert out.count("&lt;img") == 2  # the cell and the column header


def test_table_shows_deactivated_rows_in_italics() -> None:
    df = pd.DataFrame({"id": [1, 2], "name": ["Active", "Gone"], "active": [True, False]})
    t = Table()
    t.show(df)
    assert t.italic_ids() == [2]
    assert [row[-1] for row in t.window_frame.itertuples(index=False)] == [False, True]  # the hidden flag
    assert "cmkit-inactive" in t.grid._dt_args["createdRow"]


def test_table_italic_flags_and_empty_frame() -> None:
    t = Table(empty="no comments")
    t.show(pd.DataFrame({"id": [1, 2], "pending": [False, True]}), italic=[False, True])
    assert t.italic_ids() == [2]
    assert list(t.frame["id"]) == [1, 2]
    t.show(pd.DataFrame(columns=["id"]))
    assert "no comments" in t.note.value


class _Form:
    def __init__(self) -> None:
        self.status = StatusLine()

    @handles
    def refuse(self) -> None:
        raise CMError("R99: refused; do this instead")

    @handles
    def crash(self) -> None:
        raise KeyError("boom")


def test_handler_errors_reach_the_status_line() -> None:
    form = _Form()
    form.refuse()
    assert (form.status.kind, form.status.message) == ("error", "R99: refused; do this instead")
    form.crash()
    assert form.status.kind == "error" and "unexpected error (KeyError)" in form.status.message


def test_status_line_escapes_and_shows_progress() -> None:
    s = StatusLine()
    s.ok(XSS)
    assert "<img" not in s.line.value and s.kind == "ok"
    with s.busy("working", steps=2) as step:
        assert s.bar.layout.display == "flex"
        step("half way")
        assert s.bar.value == 1 and "half way" in s.message
    assert s.bar.layout.display == "none"


def test_confirm_acts_only_on_yes() -> None:
    done: list[str] = []
    c = Confirm()
    c.ask("Really?", lambda: done.append("yes"))
    c.no.click()
    assert done == [] and not c.pending
    c.ask("Really?", lambda: done.append("yes"))
    c.yes.click()
    assert done == ["yes"]
    c.yes.click()  # a second click does nothing more
    assert done == ["yes"]


def test_download_link_escapes_the_file_name() -> None:
    link = download_link(b"data", 'a"><script>.txt', "text/plain", "save")
    assert "<script>" not in link and 'download="a&quot;&gt;&lt;script&gt;.txt"' in link


def test_xss_customer_name_is_text_on_every_form(cm: CustomerManager, world: dict[str, Any]) -> None:
    from cmkit.ui import CustomerPage, LifecycleForm

    evil = cm.create_contact("retail", company=world["acme"].id, first_name="Eve", last_name=XSS)
    cm.add_comment(evil.id, XSS)
    page = CustomerPage(cm, evil.id)
    company = CustomerPage(cm, world["acme"].id)
    form = LifecycleForm(cm, evil.id, "delete")
    html = page.header.value + page.view.value
    html += company.contacts.browser_html() + page.details.comments.table.browser_html()
    html += form.title.value + form.confirm.question.value
    assert "<img" not in html
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") >= 5


def test_table_columns_sort_filter_and_pages_work_on_the_whole_frame() -> None:
    df = pd.DataFrame(
        {"id": range(1, 31), "name": [f"n{i:02d}" for i in range(1, 31)], "city": ["Köln"] * 30}
    )
    t = Table(columns=["id", "name"], window=10)
    t.show(df)
    assert list(t.window_frame.columns) == ["id", "name", "cmkit_italic"]  # the columns asked for
    t.column_choice.value = ("name", "city")
    assert list(t.window_frame.columns) == ["name", "city", "cmkit_italic"]
    t.sort_by.value, t.descending.value = "name", True
    assert list(t.window_frame["name"][:2]) == ["n30", "n29"]
    assert t.position.value == "rows 1-10 of 30" and t.previous.disabled
    t.next.click()
    assert list(t.window_frame["name"][:1]) == ["n20"] and t.position.value == "rows 11-20 of 30"
    t.filter.value = "n0"
    assert len(t.view) == 9 and "9 of 30 rows match" in t.note.value and t.offset == 0


def _widgets(root: Any) -> list[Any]:
    """Every widget under `root`, hidden ones included."""
    out, todo = [], [root]
    while todo:
        widget = todo.pop()
        out.append(widget)
        todo.extend(getattr(widget, "children", ()))
    return out


def test_labels_fit_buttons_and_inputs_on_every_form(cm: CustomerManager, world: dict[str, Any]) -> None:
    """No label is cut ('Change compa...', 'Open con...'): a button is as wide as its label, an input's
    label longer than the default width gets the width it needs; dates are ISO text, not a date picker
    that shows mm/dd/yyyy in an English browser."""
    contact, company = CustomerPage(cm, world["anna"].id), CustomerPage(cm, world["acme"].id)
    forms = [contact, company, SearchForm(cm), LifecycleForm(cm), TransferForm(cm), ActivitiesBox(cm, 1)]
    for action in ("change_company", "create_ticket", "transfer", "delete"):
        contact.buttons[action].click()
        forms.append(contact.form)
    forms.append(ChangeCompanyForm(cm, world["anna"].id))
    checked = 0
    for form in forms:
        for widget in _widgets(form):
            description = getattr(widget, "description", "")
            if isinstance(widget, w.Button | w.FileUpload) and description:
                fits = widget.layout.width in ("auto", "max-content")
                assert fits or (widget.layout.width or "").endswith("px"), description
                if not fits:
                    assert int(widget.layout.width[:-2]) >= 9 * len(description) + 30, description
                checked += 1
            elif isinstance(widget, DescriptionWidget) and not isinstance(
                widget, w.Checkbox | w.Button | w.FileUpload
            ):
                if len(description) > 8:
                    assert widget.style.description_width == "initial", description
                checked += 1
            assert not isinstance(widget, w.DatePicker), "dates are typed as YYYY-MM-DD"
    assert checked > 50
