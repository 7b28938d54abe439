"""The additional details of a customer page: tabs Comments and Attachments (R8-R11), with filters,
delete shown in italics with Undo, and file upload with a description. What the acting user may not
read or write is said by `cm.why_not` (read_comments/comment, read_attachments/attach)."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w
import pandas as pd

from cmkit.errors import CMError
from cmkit.facade import CustomerManager
from cmkit.ui.common import (
    LABELLED,
    DateInput,
    StatusLine,
    allow,
    button,
    download_link,
    esc,
    handles,
    reports_on,
    show,
    tooltip,
)
from cmkit.ui.table import Table

SMALL = w.Layout(width="180px")


def _text(widget: w.Text) -> str | None:
    return widget.value.strip() or None


def _choices(df: pd.DataFrame, label: str) -> list[tuple[str, int]]:
    return [
        (f"#{i} {str(text)[:50]}" + (" (deleted: undo possible)" if pending else ""), int(i))
        for i, text, pending in zip(df["id"], df[label], df["pending"], strict=True)
    ]


class _DetailPanel(w.VBox):
    """What comments and attachments share: a filtered list, choose one, delete / undo."""

    noun = "item"
    #: the `cm.why_not` actions for reading the list and for adding, deleting and undoing
    read_action = ""
    write_action = ""
    label_column = "text"

    def __init__(self, cm: CustomerManager, customer_id: int, status: StatusLine | None = None) -> None:
        self.cm, self.customer_id = cm, int(customer_id)
        # the results show next to the controls (under the list, in the add box) and on `status` too
        self.status = StatusLine(forward=status)
        self.add_status = StatusLine(forward=status)
        self.table = Table(empty=f"no {self.noun}s", cm=self.cm)
        self.choose = w.Dropdown(
            description=self.noun.capitalize(),
            options=[],
            value=None,
            style=LABELLED,
            layout=w.Layout(width="420px"),
        )
        self.delete_button = button("Delete", "times", "danger")
        self.undo_button = button("Undo", "undo")
        self.filter_button = button("Filter", "filter")
        self.clear_button = button("Clear filters", "eraser")
        self.notice = w.HTML()
        self.on_change: Callable[[], None] | None = None
        self._write_refusals: list[str] = []
        self.delete_button.on_click(self._delete)
        self.undo_button.on_click(self._undo)
        self.filter_button.on_click(self._filter)
        self.clear_button.on_click(self._clear)
        self.choose.observe(lambda _c: self._sync_buttons(), "value")
        super().__init__()

    # -- to be given by subclasses -------------------------------------------------------------------
    def _list(self) -> pd.DataFrame:
        raise NotImplementedError

    def _reset_filters(self) -> None:
        raise NotImplementedError

    # -- shared behaviour ------------------------------------------------------------------------------
    def changed(self) -> None:
        """Reload the list after a change of a detail, and say so to `on_change`."""
        self.refresh()
        if self.on_change is not None:
            self.on_change()

    def refresh(self) -> None:
        """Reload the list with the current filters (a refused filter shows on the status line)."""
        self._write_refusals = self.cm.why_not(self.write_action, self.customer_id)
        allow(self.write_widgets(), self._write_refusals)
        unreadable = self.cm.why_not(self.read_action, self.customer_id)
        self.notice.value = f"<i>{esc(tooltip(unreadable))}</i>" if unreadable else ""
        if unreadable:
            self.table.show(pd.DataFrame())
            self.choose.options = []
        else:
            df = self._list()
            self.table.show(df, italic=df["pending"] if "pending" in df else None)
            keep = self.choose.value
            self.choose.options = _choices(df, self.label_column)
            self.choose.value = keep if keep in set(df["id"]) else None
        self._sync_buttons()

    def write_widgets(self) -> list[w.Widget]:
        """The widgets that add a detail: enabled only when `write_action` is allowed."""
        return []

    def _sync_buttons(self) -> None:
        """Delete for a chosen detail, Undo for a chosen pending one; neither without write permission."""
        df = self.table.frame
        chosen = (
            df[df["id"] == self.choose.value] if self.choose.value is not None and len(df) else df.iloc[0:0]
        )
        pending = bool(chosen["pending"].iloc[0]) if len(chosen) else False
        refused = self._write_refusals
        self.delete_button.disabled = chosen.empty or pending or bool(refused)
        self.undo_button.disabled = not pending or bool(refused)
        self.delete_button.tooltip = self.undo_button.tooltip = tooltip(refused)

    @handles
    def _filter(self, _b: object = None) -> None:
        self.refresh()
        self.status.info(f"{len(self.table.frame)} {self.noun}(s) match the filters")

    @handles
    def _clear(self, _b: object = None) -> None:
        self._reset_filters()
        self.refresh()
        self.status.clear()

    def _delete_one(self, detail_id: int) -> None:
        raise NotImplementedError

    def _undo_one(self, detail_id: int) -> None:
        raise NotImplementedError

    @handles
    def _delete(self, _b: object = None) -> None:
        if self.choose.value is None:
            raise CMError(f"choose the {self.noun} to delete first")
        did = int(self.choose.value)
        self._delete_one(did)
        self.changed()
        self.choose.value = did
        self.status.ok(
            f"{self.noun} #{did} deleted: shown in italics; Undo restores it until your next other action (R11)"
        )

    @handles
    def _undo(self, _b: object = None) -> None:
        if self.choose.value is None:
            raise CMError(f"choose the deleted {self.noun} to restore first")
        did = int(self.choose.value)
        self._undo_one(did)
        self.changed()
        self.status.ok(f"{self.noun} #{did} restored")


class CommentsPanel(_DetailPanel):
    """Comments of a customer: filter by author, words of the text and dates; add; delete with undo."""

    noun = "comment"
    read_action = "read_comments"
    write_action = "comment"

    def __init__(self, cm: CustomerManager, customer_id: int, status: StatusLine | None = None) -> None:
        super().__init__(cm, customer_id, status)
        self.author = w.Text(placeholder="author", layout=SMALL)
        self.text = w.Text(placeholder="words of the text", layout=SMALL)
        self.since = DateInput("from")
        self.until = DateInput("to")
        self.new_text = w.Textarea(placeholder="a new comment", layout=w.Layout(width="500px", height="70px"))
        self.add_button = button("Add comment", "plus", "primary")
        self.add_button.on_click(self._add)
        add_box = w.VBox([self.new_text, self.add_button, self.add_status])
        add_box.add_class("cmkit-edit")
        self.children = [
            w.HBox([self.author, self.text, self.since, self.until, self.filter_button, self.clear_button]),
            self.notice,
            self.table,
            w.HBox([self.choose, self.delete_button, self.undo_button]),
            self.status,
            add_box,
        ]
        self.add_class("cmkit-comments")
        self.refresh()

    def write_widgets(self) -> list[w.Widget]:
        return [self.new_text, self.add_button]

    def _list(self) -> pd.DataFrame:
        df = self.cm.comments(
            self.customer_id,
            author=_text(self.author),
            text=_text(self.text),
            since=self.since.date,
            until=self.until.date,
        )
        return df[[c for c in ("id", "created_at", "author", "text", "pending") if c in df]]

    def _reset_filters(self) -> None:
        self.author.value = self.text.value = ""
        self.since.value = self.until.value = ""

    def _delete_one(self, detail_id: int) -> None:
        self.cm.delete_comment(detail_id)

    def _undo_one(self, detail_id: int) -> None:
        self.cm.undo_delete_comment(detail_id)

    @reports_on("add_status")
    def _add(self, _b: object = None) -> None:
        new_id = self.cm.add_comment(self.customer_id, self.new_text.value)
        self.new_text.value = ""
        self.changed()
        self.add_status.ok(f"comment #{new_id} added")


class AttachmentsPanel(_DetailPanel):
    """Attachments of a customer: filters, upload one or more files with a description, download,
    delete with undo."""

    noun = "attachment"
    read_action = "read_attachments"
    write_action = "attach"
    label_column = "name"

    def __init__(self, cm: CustomerManager, customer_id: int, status: StatusLine | None = None) -> None:
        super().__init__(cm, customer_id, status)
        types = list(cm.config.attachments.allowed_types)
        self.name = w.Text(placeholder="file name", layout=SMALL)
        self.type = w.Dropdown(
            options=[("any type", ""), *[(t, t) for t in types]], value="", layout=w.Layout(width="110px")
        )
        self.author = w.Text(placeholder="author", layout=SMALL)
        self.content = w.Text(placeholder="words in the content", layout=SMALL)
        self.since = DateInput("from")
        self.until = DateInput("to")
        show(self.content, bool(cm.config.attachments.searchable))
        self.upload = w.FileUpload(
            multiple=True, description="Choose files", layout=w.Layout(width="max-content")
        )
        self.description = w.Text(placeholder="description (optional)", layout=w.Layout(width="300px"))
        self.add_button = button("Add", "upload", "primary")
        self.add_button.on_click(self._add)
        self.download_button = button("Download", "download")
        self.download_button.on_click(self._download)
        self.link = w.HTML()
        limits = w.HTML(
            f"<small>allowed: {', '.join(types)}; at most {cm.config.attachments.max_bytes:,} bytes per file</small>"
        )
        add_box = w.VBox([w.HBox([self.upload, self.description, self.add_button]), self.add_status, limits])
        add_box.add_class("cmkit-edit")
        self.children = [
            w.HBox([self.name, self.type, self.author, self.content]),
            w.HBox([self.since, self.until, self.filter_button, self.clear_button]),
            self.notice,
            self.table,
            w.HBox([self.choose, self.download_button, self.delete_button, self.undo_button]),
            self.status,
            self.link,
            add_box,
        ]
        self.add_class("cmkit-attachments")
        self.refresh()

    def write_widgets(self) -> list[w.Widget]:
        return [self.upload, self.description, self.add_button]

    def _list(self) -> pd.DataFrame:
        df = self.cm.attachments(
            self.customer_id,
            name=_text(self.name),
            type=self.type.value or None,
            author=_text(self.author),
            since=self.since.date,
            until=self.until.date,
            content=_text(self.content),
        )
        cols = ("id", "name", "type", "size", "description", "author", "created_at", "pending")
        return df[[c for c in cols if c in df]]

    def _reset_filters(self) -> None:
        self.name.value = self.author.value = self.content.value = ""
        self.type.value = ""
        self.since.value = self.until.value = ""

    def _delete_one(self, detail_id: int) -> None:
        self.cm.delete_attachment(detail_id)

    def _undo_one(self, detail_id: int) -> None:
        self.cm.undo_delete_attachment(detail_id)

    def _sync_buttons(self) -> None:
        super()._sync_buttons()
        self.download_button.disabled = self.choose.value is None
        self.link.value = ""

    @reports_on("add_status")
    def _add(self, _b: object = None) -> None:
        """Store the chosen files; whatever the outcome, the choice is cleared (a refused file stays
        named in the message next to Add, not chosen for the next try)."""
        files = {f["name"]: bytes(f["content"]) for f in self.upload.value}
        if not files:
            raise CMError("choose one or more files first (Choose files), then Add")
        try:
            with self.add_status.busy(f"uploading {len(files)} file(s)"):
                ids = self.cm.add_attachments(self.customer_id, files, description=self.description.value)
        finally:
            self.upload.value = ()
        self.description.value = ""
        self.changed()
        notes = self._text_notes(ids)
        self.add_status.ok(f"{len(ids)} attachment(s) added: {', '.join(files)}" + "".join(notes))

    def _text_notes(self, ids: list[int]) -> list[str]:
        """What the audit says about files whose text was not read, or was cut, for content search (R9)."""
        h = self.cm.history(customer_id=self.customer_id)
        added = h[(h["action"] == "add_attachment") & h["entity_id"].isin(ids)]
        return [
            f"; {a['name']}: {a['text']}" for a in added["after"] if isinstance(a, dict) and a.get("text")
        ]

    @handles
    def _download(self, _b: object = None) -> None:
        if self.choose.value is None:
            raise CMError("choose the attachment to download first")
        row = self.table.frame[self.table.frame["id"] == self.choose.value].iloc[0]
        data = self.cm.attachment_data(int(row["id"]))
        self.link.value = download_link(
            data, str(row["name"]), "application/octet-stream", f"Save {row['name']}"
        )
        self.status.ok(f"{row['name']}: {len(data):,} bytes ready; click the link to save it")


class DetailsTabs(w.Tab):
    """The additional details box: tabs Comments and Attachments; `on_change` is called after each
    change of a detail (a page's printout is out of date then)."""

    def __init__(
        self,
        cm: CustomerManager,
        customer_id: int,
        status: StatusLine | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.comments = CommentsPanel(cm, customer_id, status)
        self.attachments = AttachmentsPanel(cm, customer_id, status)
        self.comments.on_change = self.attachments.on_change = on_change
        super().__init__(children=[self.comments, self.attachments], titles=("Comments", "Attachments"))

    def refresh(self) -> None:
        self.comments.refresh()
        self.attachments.refresh()
