"""The one table widget of the forms: a DataFrame as an interactive table (itables' DataTables widget),
paged on the server, with a filter, sorting, a choice of columns, ticking and export."""

from __future__ import annotations

import html
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import ipywidgets as w
import pandas as pd
import traitlets
from itables import JavascriptFunction
from itables.widget import ITable

from cmkit.errors import CMError
from cmkit.ui.common import button, download_link, show
from cmkit.ui.wording import cell, header

#: rows sent to the browser at once; the browser pages, sorts and ticks within them (at 100,000 rows the
#: table pages on the server: the filter, the sort and "select all" work on the whole result in Python)
WINDOW = 1000
ITALIC = "cmkit_italic"  # the hidden column that marks a row for italics (1), not a word of the data
EXPORT_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
TABLE_CSS = ".cmkit-inactive td { font-style: italic; color: #666666; }"
CREATED_ROW = "function (row, data, index) {{ if (data[{col}] === 1) row.classList.add('cmkit-inactive'); }}"


class Exporter(Protocol):
    """What writes a table to a file: the facade's `export` (cm.export)."""

    def export(self, df: pd.DataFrame, path: str | Path) -> Path: ...


class Table(w.VBox):
    """A DataFrame as an interactive table (itables' DataTables widget): pages, sorting, a filter over every
    row, a choice of columns, deactivated rows in italics, every cell escaped. `.frame` keeps the whole
    frame shown, to drop to pandas.

    With `selectable`, rows can be ticked: `selected_ids` is the list of the ticked rows' ids (`id_column`),
    across pages and windows; `select_all()` ticks every row the filter matches, not only those on screen.
    With `cm`, Export writes the whole (filtered) result as CSV or XLSX (cm.export) and offers it as a download.
    """

    selected_ids = traitlets.List(traitlets.Int())

    def __init__(
        self,
        columns: Sequence[str] | None = None,
        empty: str = "nothing to show",
        *,
        selectable: bool = False,
        id_column: str = "id",
        cm: Exporter | None = None,
        page_length: int = 25,
        window: int = WINDOW,
        **kw: Any,
    ) -> None:
        self.columns = list(columns) if columns else None
        self.empty, self.selectable, self.id_column = empty, selectable, id_column
        self.cm, self.page_length, self.window = cm, page_length, window
        self.frame = pd.DataFrame()
        self.view = pd.DataFrame()  # the frame filtered and sorted: what the pages show
        self.italic = pd.Series(dtype=bool)
        self.offset = 0
        self._syncing = False
        self._building = True
        self.grid = ITable(pd.DataFrame(), select=selectable, showIndex=False, maxBytes=0, maxRows=0)
        self.grid_box = w.Box([self.grid])
        self.note = w.HTML()
        self.filter = w.Text(placeholder="filter: text in any column", layout=w.Layout(width="260px"))
        self.filter.observe(self._refresh, "value")
        self.sort_by = w.Dropdown(options=[("sort: as found", "")], value="", layout=w.Layout(width="200px"))
        self.descending = w.Checkbox(value=False, description="descending", indent=False)
        for part in (self.sort_by, self.descending):
            part.observe(self._refresh, "value")
        self.column_choice = w.SelectMultiple(options=[], rows=6, layout=w.Layout(width="260px"))
        self.column_choice.observe(self._draw, "value")
        self.columns_box = w.Accordion([self.column_choice], titles=("Columns",), selected_index=None)
        self.previous = button("Previous rows", "chevron-left")
        self.next = button("Next rows", "chevron-right")
        self.previous.on_click(lambda _b: self._move(-1))
        self.next.on_click(lambda _b: self._move(1))
        self.position = w.HTML()
        self.pager = w.HBox([self.previous, self.position, self.next])
        self.select_all_button = button("Select all", "check-square-o")
        self.select_all_button.on_click(lambda _b: self.select_all())
        self.clear_button = button("Clear selection", "square-o")
        self.clear_button.on_click(lambda _b: self.select([]))
        self.selection_note = w.HTML()
        self.selection_bar = w.HBox([self.select_all_button, self.clear_button, self.selection_note])
        self.export_type = w.Dropdown(options=list(EXPORT_TYPES), value="csv", layout=w.Layout(width="80px"))
        self.export_button = button("Export", "download")
        self.export_button.on_click(lambda _b: self.offer_export())
        self.download = w.HTML()
        self.export_bar = w.HBox([self.export_type, self.export_button, self.download])
        self.tools = w.HBox([self.filter, self.sort_by, self.descending, self.columns_box])
        self.body = w.VBox([self.tools, self.pager, self.grid_box, self.selection_bar, self.export_bar])
        super().__init__([self.note, self.body], **kw)
        self.add_class("cmkit-table")
        self.observe(self._selection_changed, "selected_ids")
        self._building = False
        self.show(pd.DataFrame())

    # -- showing ---------------------------------------------------------------------------------------------
    def show(self, df: pd.DataFrame, italic: Sequence[bool] | pd.Series | None = None) -> None:
        """Show `df` (the selection is cleared). Rows flagged in `italic` (default: where an `active`
        column is False) are shown in italics."""
        self.frame = df.reset_index(drop=True)
        if italic is None:
            flags = ~self.frame["active"].fillna(True).astype(bool) if "active" in df.columns else None
        else:
            flags = pd.Series(list(italic), dtype=bool)
        self.italic = flags if flags is not None else pd.Series(False, index=self.frame.index)
        cols = [c for c in (self.columns or list(self.frame.columns)) if c in self.frame.columns]
        self._building = True
        try:
            self.column_choice.value = ()
            self.column_choice.options = [str(c) for c in self.frame.columns]
            self.column_choice.value = tuple(str(c) for c in cols)
            sort = self.sort_by.value if self.sort_by.value in self.frame.columns else ""
            self.sort_by.options = [
                ("sort: as found", ""),
                *[(f"sort: {c}", str(c)) for c in self.frame.columns],
            ]
            self.sort_by.value = sort
            self.download.value = ""
            self.selected_ids = []
        finally:
            self._building = False
        self._refresh()

    @property
    def shown_columns(self) -> list[str]:
        return [c for c in self.column_choice.value if c in self.frame.columns]

    def _refresh(self, _change: object = None) -> None:
        """Filter and sort the whole frame, back to its first window."""
        if self._building:
            return
        df = self.frame
        text = str(self.filter.value).strip().lower()
        if text and len(df):
            cols = self.shown_columns or list(df.columns)
            hit = pd.Series(False, index=df.index)
            for c in cols:
                hit |= df[c].astype(str).str.lower().str.contains(text, regex=False, na=False)
            df = df[hit]
        if self.sort_by.value:
            df = df.sort_values(self.sort_by.value, ascending=not self.descending.value, kind="stable")
        self.view = df
        self.offset = 0
        self._draw()

    def _move(self, step: int) -> None:
        self.offset = max(0, min(self.offset + step * self.window, max(0, len(self.view) - 1)))
        self._draw()

    @property
    def window_frame(self) -> pd.DataFrame:
        """The rows in the browser now (at most `window`), with the hidden italics column."""
        part = self.view.iloc[self.offset : self.offset + self.window]
        shown = part[self.shown_columns or list(part.columns)].copy()
        for col in shown.columns:  # in the words of the forms: yes/no, local times (cmkit.ui.wording)
            shown[col] = [cell(col, v) for v in shown[col]]
        shown.columns = [header(c) for c in shown.columns]
        shown[ITALIC] = self.italic.reindex(part.index, fill_value=False).to_numpy(dtype=int)
        return shown.reset_index(drop=True)

    def _draw(self, _change: object = None) -> None:
        """Send the current window to the browser, its ticks set from `selected_ids`."""
        if self._building:
            return
        n, total = len(self.view), len(self.frame)
        show(self.body, total > 0)
        if not total:
            self.note.value = f'<p class="cmkit-empty"><i>{html.escape(self.empty)}</i></p>'
            if self.grid._dt_args.get("data_json") not in (None, "[]"):  # no rows of before stay in the page
                old, self.grid = self.grid, ITable(pd.DataFrame(), select=self.selectable, showIndex=False)
                self.grid_box.children = [self.grid]
                old.close()
            return
        self.note.value = "" if n == total else f"<i>{n:,} of {total:,} rows match the filter</i>"
        df = self.window_frame
        col = len(df.columns) - 1
        self._syncing = True
        try:
            options: dict[str, Any] = {
                "selected_rows": self._positions(df),
                "maxBytes": 0,  # never downsampled: the window is all the browser gets
                "maxRows": 0,
                "pageLength": self.page_length,
                "lengthMenu": [10, 25, 100, 500],
                "layout": {
                    "topStart": "pageLength",
                    "topEnd": None,
                    "bottomStart": "info",
                    "bottomEnd": "paging",
                },
                "columnDefs": [{"targets": [col], "visible": False, "searchable": False}],
                "createdRow": JavascriptFunction(CREATED_ROW.format(col=col)),
                "style": "width: auto; margin: 0",
                "css": TABLE_CSS,
            }
            # a new widget for new rows: itables' widget listens to ticks only on the table it drew first
            old, self.grid = self.grid, ITable(df, select=self.selectable, showIndex=False, **options)
            self.grid.observe(self._ticked, "selected_rows")
            self.grid_box.children = [self.grid]
            old.close()
        finally:
            self._syncing = False
        last = min(n, self.offset + self.window)
        self.position.value = f"rows {self.offset + 1:,}-{last:,} of {n:,}" if n else "no row matches"
        show(self.pager, n > self.window)
        self.previous.disabled = self.offset == 0
        self.next.disabled = last >= n
        show(self.selection_bar, self.selectable)
        show(self.export_bar, self.cm is not None)
        self._selection_changed()

    def browser_html(self) -> str:
        """The window as the browser puts it into the page: the header and the cells as sent, to check that
        customer data arrives escaped (DataTables inserts the cells as HTML)."""
        args = self.grid._dt_args
        rows = json.loads(args.get("data_json") or "[]")
        body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
        return str(args.get("table_html", "<table></table>")).replace(
            "</table>", f"<tbody>{body}</tbody></table>"
        )

    def make_selectable(self, *, id_column: str | None = None) -> None:
        """Let rows be ticked from now on (e.g. when an ActionBar is attached), ticks read from `id_column`."""
        self.selectable = True
        self.id_column = id_column or self.id_column
        self._draw()

    def italic_ids(self) -> list[int]:
        """The ids of the rows shown in italics (deactivated, pending)."""
        return [int(i) for i in self.frame.loc[self.italic.to_numpy(dtype=bool), self.id_column]]

    # -- ticking ---------------------------------------------------------------------------------------------
    def _window_ids(self) -> list[int]:
        part = self.view.iloc[self.offset : self.offset + self.window]
        return [int(i) for i in part[self.id_column]] if self.id_column in part.columns else []

    def _positions(self, df: pd.DataFrame) -> list[int]:
        chosen = set(self.selected_ids)
        return [p for p, i in enumerate(self._window_ids()) if i in chosen]

    def _ticked(self, _change: object = None) -> None:
        """Rows ticked or unticked in the browser: `selected_ids` follows, the other windows' ticks kept."""
        if self._syncing:
            return
        ids = self._window_ids()
        here = {ids[p] for p in self.grid.selected_rows if 0 <= p < len(ids)}
        keep = [i for i in self.selected_ids if i not in set(ids)]
        self._set(keep + [i for i in ids if i in here])

    def _set(self, ids: Sequence[int]) -> None:
        self._syncing = True
        try:
            self.selected_ids = list(dict.fromkeys(int(i) for i in ids))
        finally:
            self._syncing = False

    def select(self, ids: Sequence[int]) -> None:
        """Tick the rows with these ids (others unticked); ids not in the table are left out."""
        known = set(self.frame[self.id_column]) if self.id_column in self.frame.columns else set()
        self.selected_ids = [int(i) for i in dict.fromkeys(ids) if i in known]

    def select_all(self) -> None:
        """Tick every row the filter matches (all of them, also those on other pages and windows)."""
        self.select(
            [int(i) for i in self.view[self.id_column]] if self.id_column in self.view.columns else []
        )

    def _selection_changed(self, _change: object = None) -> None:
        if self._building:
            return
        if not self._syncing:
            self._syncing = True
            try:
                self.grid.selected_rows = self._positions(self.window_frame)
            finally:
                self._syncing = False
        n, matching = len(self.selected_ids), len(self.view)
        every = n and n == matching and matching > 1
        self.selection_note.value = (
            f"<b>{n:,} selected</b>" + (f" (all {matching:,} matching rows)" if every else "")
            if n
            else "<i>none selected</i>"
        )

    @property
    def selected_frame(self) -> pd.DataFrame:
        """The ticked rows of the frame, in the frame's order."""
        if self.id_column not in self.frame.columns:
            return self.frame.iloc[0:0]
        return self.frame[self.frame[self.id_column].isin(set(self.selected_ids))]

    # -- export ------------------------------------------------------------------------------------------------
    def export_bytes(self, kind: str = "csv", df: pd.DataFrame | None = None) -> bytes:
        """The rows the filter matches (or `df`), all of them, as a CSV or XLSX file written by cm.export."""
        if self.cm is None:
            raise CMError("this table has no export")
        if kind not in EXPORT_TYPES:
            raise CMError(f"export as one of {', '.join(EXPORT_TYPES)}, not {kind!r}")
        with tempfile.TemporaryDirectory() as tmp:
            path = self.cm.export(self.view if df is None else df, Path(tmp) / f"export.{kind}")
            return path.read_bytes()

    def offer_export(self) -> None:
        """Write the whole filtered result and show it as a download link."""
        kind = str(self.export_type.value)
        data = self.export_bytes(kind)
        label = f"Download {len(self.view):,} rows ({kind.upper()}, {len(data):,} bytes)"
        self.download.value = download_link(data, f"cmkit-export.{kind}", EXPORT_TYPES[kind], label)
