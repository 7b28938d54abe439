"""Lists that are cut: every list shown in part says so ("first N of M") and offers more; and the pages of
a long list (history)."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from cmkit.ui.common import show


def cut_note(shown: int, total: int | None, what: str = "rows") -> str:
    """'first 50 of 120 tickets' (total known), 'first 50 of more than 50 tickets' (total None: the search
    stopped after one more than it shows), '' when nothing is cut."""
    if total is not None and total <= shown:
        return ""
    if total is None:
        return f"first {shown} of more than {shown} {what}"
    return f"first {shown} of {total} {what}"


class More(w.HBox):
    """The note of a cut list and a "Show more" button that calls `on_more`; hidden while nothing is cut."""

    def __init__(self, on_more: Callable[[], None], label: str = "Show more") -> None:
        self.note = w.HTML()
        self.button = w.Button(description=label, icon="angle-double-down", layout=w.Layout(width="auto"))
        self.button.on_click(lambda _b: on_more())
        super().__init__([self.note, self.button])
        self.add_class("cmkit-more")
        show(self, False)

    def update(self, shown: int, total: int | None, what: str = "rows") -> None:
        """Say how much of the list is shown: `total` None means 'more than shown'."""
        text = cut_note(shown, total, what)
        self.note.value = f"<i>{text}</i>" if text else ""
        show(self, bool(text))


class Pager(w.HBox):
    """Newer / Older buttons over a list of `total` entries shown `size` at a time; `page` counts from 0."""

    def __init__(self, on_page: Callable[[int], None], size: int = 20) -> None:
        self.size, self.page, self.total, self.on_page = size, 0, 0, on_page
        self.note = w.HTML()
        self.newer = w.Button(description="Newer", icon="angle-left", layout=w.Layout(width="auto"))
        self.older = w.Button(description="Older", icon="angle-right", layout=w.Layout(width="auto"))
        self.newer.on_click(lambda _b: self.go(self.page - 1))
        self.older.on_click(lambda _b: self.go(self.page + 1))
        super().__init__([self.newer, self.note, self.older])
        self.add_class("cmkit-pager")

    def go(self, page: int) -> None:
        last = max(0, (self.total - 1) // self.size)
        self.page = min(max(0, page), last)
        self.on_page(self.page)

    def update(self, total: int, what: str = "entries") -> None:
        """Show where the current page is in a list of `total` entries."""
        self.total = total
        start = self.page * self.size
        end = min(total, start + self.size)
        self.note.value = f"<i>{what} {start + 1}-{end} of {total}</i>" if total else f"<i>no {what}</i>"
        self.newer.disabled = self.page == 0
        self.older.disabled = end >= total
