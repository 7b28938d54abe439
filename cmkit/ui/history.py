"""A customer's history (R29) on its page: who, when, what, and the fields that changed as
'field: before -> after', newest first, a page at a time."""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import pandas as pd

from cmkit.facade import CustomerManager
from cmkit.ui.common import StatusLine, handles
from cmkit.ui.listing import Pager
from cmkit.ui.table import Table

COLUMNS = ["when", "user", "action", "what", "changes"]
PAGE = 20


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """A JSON value as {field: value}: nested dicts flattened (the `fields` of a record name its fields
    directly, others as 'outer.inner'); anything else under the name `prefix` (or 'value')."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            name = str(k) if prefix in ("", "fields") else f"{prefix}.{k}"
            out.update(_flat(v, name))
        return out
    return {} if value is None and not prefix else {prefix or "value": value}


def _shown(value: Any) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    return str(value)


def changes_text(before: Any, after: Any) -> str:
    """The fields that differ between two audit values, one 'field: before -> after' per line."""
    b, a = _flat(before), _flat(after)
    lines = []
    for key in [*b, *[k for k in a if k not in b]]:
        old, new = b.get(key), a.get(key)
        if old == new:
            continue
        if key not in b:
            lines.append(f"{key}: {_shown(new)}")
        elif key not in a:
            lines.append(f"{key}: {_shown(old)} -> (removed)")
        else:
            lines.append(f"{key}: {_shown(old)} -> {_shown(new)}")
    return "; ".join(lines)


def readable(history: pd.DataFrame) -> pd.DataFrame:
    """`cm.history(...)` as the page shows it: newest first, when / user / action / what / changes."""
    if history.empty:
        return pd.DataFrame(columns=["id", *COLUMNS])
    df = history.sort_values("id", ascending=False)
    what = [
        f"{e} #{i}" if pd.notna(i) else str(e) for e, i in zip(df["entity"], df["entity_id"], strict=True)
    ]
    return pd.DataFrame(
        {
            "id": df["id"].to_numpy(),
            "when": pd.to_datetime(df["at"], utc=True).dt.strftime("%Y-%m-%d %H:%M UTC").to_numpy(),
            "user": df["user"].to_numpy(),
            "action": df["action"].str.replace("_", " ").to_numpy(),
            "what": what,
            "changes": [changes_text(b, a) for b, a in zip(df["before"], df["after"], strict=True)],
        }
    )


class HistoryPanel(w.VBox):
    """The customer's audit entries, newest first, PAGE at a time; `.frame` keeps them all (readable)."""

    def __init__(self, cm: CustomerManager, customer_id: int, status: StatusLine | None = None) -> None:
        self.cm, self.customer_id = cm, int(customer_id)
        self.status = status or StatusLine()
        self.frame = pd.DataFrame(columns=["id", *COLUMNS])
        self.table = Table(columns=COLUMNS, empty="no history")
        self.pager = Pager(self._show_page, size=PAGE)
        super().__init__([self.table, self.pager])
        self.add_class("cmkit-history")

    @handles
    def refresh(self) -> None:
        """Read the history again and show its newest page."""
        self.frame = readable(self.cm.history(customer_id=self.customer_id))
        self.pager.go(0)

    def _show_page(self, page: int) -> None:
        start = page * PAGE
        part = self.frame.iloc[start : start + PAGE]
        self.table.show(part, italic=[False] * len(part))
        self.pager.update(len(self.frame))
