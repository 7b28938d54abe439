"""What the forms say where the library speaks to programmers: column headers and cell values in the
forms' words, times in local time, and the rules' advice naming the form's own button instead of the
facade call a script would make (`transfer_tickets(7, <target>, only_open=True)` -> *Transfer data...*).

The library keeps its wording (the API's messages name the calls a script makes); the forms pass every
message they show through `form_message`, every header through `header` and every cell through `cell`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pandas as pd

#: column -> header shown on the forms (other columns: the name with spaces for underscores)
HEADERS = {
    "customer_id": "customer #",
    "customer_name": "customer",
    "company_id": "company #",
    "target_already_on_ticket": "target already on the ticket",
    "pending": "deleted",
    "created_at": "created",
    "closed_at": "closed",
    "old_customer_id": "old customer #",
    "new_customer_id": "new customer #",
}

#: column -> how its True and False read (other yes/no columns: "yes" / "no")
FLAGS = {
    "pending": ("deleted: Undo restores it", ""),
    "target_already_on_ticket": ("yes: it stays there once", "no"),
}

#: a facade call a rule message advises -> the button of the forms that does it
BUTTONS = {
    "deactivate": "Deactivate",
    "reactivate": "Activate",
    "delete": "Delete",
    "undo_delete": "Undo",
}
_CALL = re.compile(
    r"\b(?P<name>transfer_tickets|deactivate|reactivate|delete|undo_delete)(?:_\w+)?\((?P<args>[^()]*)\)"
)
_PASS = re.compile(r"\bpass (?P<field>\w+)=<(?P<what>[^>]*)>")


def _button(match: re.Match[str]) -> str:
    name, args = match["name"], match["args"]
    if name == "transfer_tickets":
        ticked = "unticked" if "only_open=False" in args else "ticked"
        return f"Transfer data... (with Only transfer open tickets {ticked})"
    return BUTTONS[name]


def form_message(message: str) -> str:
    """A library message as a form shows it: the calls it advises become the buttons that do them."""
    text = _CALL.sub(_button, message)
    return _PASS.sub(lambda m: f"choose the {m['field']} ({m['what']})", text)


def header(column: Any) -> str:
    """The header of `column` on a form."""
    name = str(column)
    return HEADERS.get(name, name.replace("_", " "))


def local_time(value: pd.Timestamp | dt.datetime) -> str:
    """A stored time (UTC; a time without zone is taken as UTC) in the local time of this machine."""
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
    return ts.tz_convert(dt.datetime.now().astimezone().tzinfo).strftime("%Y-%m-%d %H:%M")


def cell(column: Any, value: Any) -> Any:
    """A cell's value as a form shows it: yes/no for flags (or the column's own words), local times."""
    if isinstance(value, bool | np.bool_):
        yes, no = FLAGS.get(str(column), ("yes", "no"))
        return yes if value else no
    if isinstance(value, pd.Timestamp | dt.datetime) and not pd.isna(value):
        return local_time(value)
    return value
