"""Choose a customer by typing part of its name: suggestions as you type (R26), pick one from the list.

A plain HTML datalist would hide suggestions that match only after folding (`muel` finds Müller), so the
suggestions are a list box under the text field, filled by the facade's autocomplete.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import pandas as pd

from cmkit.errors import CMError, ValidationError
from cmkit.facade import CustomerManager
from cmkit.ui.common import StatusLine, customer_label, handles, show
from cmkit.values import CustomerRef

COLUMNS = ["id", "name", "kind", "group", "active"]


def name_patterns(text: str, kind: str | None) -> list[tuple[str, dict[str, str]]]:
    """Detail-search criteria (kind, {field: pattern}) that find a customer by the start of its name's
    words: a company's name, a contact's first and last name ('Anna Mül' -> first Anna*, last Mül*)."""
    words = text.replace("*", " ").split()
    if not words:
        return []
    whole = " ".join(words)
    out: list[tuple[str, dict[str, str]]] = []
    if kind in (None, "company"):
        out += [("company", {"name": f"{whole}*"}), ("company", {"name": f"* {whole}*"})]
    if kind in (None, "contact"):
        out += [("contact", {"last_name": f"{whole}*"}), ("contact", {"first_name": f"{whole}*"})]
        if len(words) > 1:
            out.append(("contact", {"first_name": f"{words[0]}*", "last_name": f"{' '.join(words[1:])}*"}))
    return out


def search_by_name(
    cm: CustomerManager,
    text: str,
    *,
    include_deactivated: bool = True,
    kind: str | None = None,
    group: str | None = None,
    company: CustomerRef | None = None,
    limit: int = 10,
    criteria: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Detail search (R28) for customers whose name words start with the words of `text`, deactivated ones
    too when asked, with further `criteria`; ordered by name. A kind whose groups lack one of the fields
    searched is left out; when every kind does, the ValidationError naming the field is raised."""
    frames: list[pd.DataFrame] = []
    refused: ValidationError | None = None
    for k, pattern in name_patterns(text, kind):
        try:
            frames.append(
                cm.detail_search(
                    include_deactivated=include_deactivated,
                    group=group,
                    kind=k,
                    company=company,
                    limit=limit,
                    **{**pattern, **(criteria or {})},
                )
            )
        except ValidationError as exc:
            refused = exc
    if not frames:
        if refused is not None and refused.field in (criteria or {}):
            raise refused
        return pd.DataFrame(columns=COLUMNS)
    df = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True).drop_duplicates("id")
    df = df.sort_values(
        ["name", "id"], key=lambda col: col.astype(str).str.casefold() if col.name == "name" else col
    )
    return df.head(limit).reset_index(drop=True)


class CustomerPicker(w.VBox):
    """Text field with suggestions; `value` is the chosen customer's id (None until one is chosen).

    `kind`/`group` narrow the suggestions; `include_deactivated` looks through deactivated customers too
    (detail search), for the tasks that need them (reactivate, transfer closed tickets). Typing `#12`
    offers customer 12 directly.
    """

    def __init__(
        self,
        cm: CustomerManager,
        description: str = "Customer",
        kind: str | None = None,
        group: str | None = None,
        include_deactivated: bool = False,
        on_pick: Callable[[int | None], None] | None = None,
        status: StatusLine | None = None,
        limit: int = 10,
        exclude: Callable[[], int | None] | None = None,
    ) -> None:
        self.cm, self.kind, self.group, self.limit = cm, kind, group, limit
        self.include_deactivated = include_deactivated
        self.on_pick, self.exclude = on_pick, exclude
        self.status = status or StatusLine()
        self.text = w.Text(
            description=description,
            placeholder="type part of a name, or #id",
            continuous_update=True,
            layout=w.Layout(width="420px"),
        )
        self.suggestions = w.Select(
            options=[], value=None, rows=6, layout=w.Layout(width="420px", margin="0 0 0 90px")
        )
        self.chosen = w.HTML()
        self.found = pd.DataFrame()
        self.value: int | None = None
        show(self.suggestions, False)
        self.text.observe(self._typed, "value")
        self.suggestions.observe(self._picked, "value")
        super().__init__([self.text, self.suggestions, self.chosen])
        self.add_class("cmkit-picker")

    def lookup(self, text: str) -> pd.DataFrame:
        """The customers that `text` suggests (id, name, kind, group, active)."""
        text = text.strip()
        if text.startswith("#") or text.isdigit():
            try:
                c = self.cm.customer(int(text.lstrip("#")))
            except (CMError, ValueError):
                return pd.DataFrame(columns=COLUMNS)
            ok = (
                self.kind in (None, c.kind)
                and self.group in (None, c.group)
                and (c.active or self.include_deactivated)
            )
            rows = (
                [{"id": c.id, "name": c.name, "kind": c.kind, "group": c.group, "active": c.active}]
                if ok
                else []
            )
            return pd.DataFrame(rows, columns=COLUMNS)
        found = self.cm.autocomplete(text, kind=self.kind, group=self.group, limit=self.limit)
        if self.include_deactivated:  # autocomplete finds active customers only (R26)
            named = search_by_name(self.cm, text, kind=self.kind, group=self.group, limit=self.limit)
            found = pd.concat([named, found], ignore_index=True).drop_duplicates("id").head(self.limit)
        return found

    @handles
    def _typed(self, change: dict[str, Any]) -> None:
        text = str(change["new"])
        if self.value is not None and text != self._label_of(self.value):
            self._set(None)
        if not text.strip():
            self.found = pd.DataFrame()
            self.suggestions.options = []
            show(self.suggestions, False)
            return
        df = self.lookup(text)
        skip = self.exclude() if self.exclude else None
        if skip is not None and len(df):
            df = df[df["id"] != skip]
        self.found = df.reset_index(drop=True)
        self.suggestions.options = [(customer_label(r), int(r["id"])) for _, r in self.found.iterrows()]
        self.suggestions.value = None
        show(self.suggestions, len(self.found) > 0)
        self.chosen.value = "" if len(self.found) else "<i>no matching customer</i>"

    def _label_of(self, cid: int) -> str:
        row = self.found[self.found["id"] == cid]
        return str(row["name"].iloc[0]) if len(row) else ""

    @handles
    def _picked(self, change: dict[str, Any]) -> None:
        if change["new"] is None:
            return
        self._set(int(change["new"]))

    def pick(self, customer_id: int) -> None:
        """Choose a customer by id, as if it had been found and clicked."""
        self.text.value = f"#{int(customer_id)}"
        self._picked({"new": int(customer_id)})

    def _set(self, cid: int | None) -> None:
        self.value = cid
        if cid is None:
            self.chosen.value = ""
        else:
            row = self.found[self.found["id"] == cid]
            label = customer_label(row.iloc[0]) if len(row) else f"#{cid}"
            self.chosen.value = f"chosen: <b>{html.escape(label)}</b>"
            show(self.suggestions, False)
        if self.on_pick:
            self.on_pick(cid)

    def clear(self) -> None:
        self.text.value = ""
        self._set(None)
