"""Helpers for the widget tests: a file as FileUpload gives it, and tickets."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cmkit import CustomerManager, Ticket


def upload(name: str, data: bytes, mime: str = "application/octet-stream") -> dict[str, Any]:
    """One file in the shape ipywidgets' FileUpload.value holds it."""
    return {
        "name": name,
        "type": mime,
        "size": len(data),
        "content": memoryview(data),
        "last_modified": dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
    }


def ticket(
    cm: CustomerManager, main: Any, *additional: Any, closed: bool = False, subject: str = "Issue"
) -> Ticket:
    queue = "partnerdesk" if main.group == "partners" else "helpdesk"
    t = cm.create_ticket(main.id, queue, subject, additional=[a.id for a in additional])
    return cm.close_ticket(t.id) if closed else t


def shown(widget: Any) -> bool:
    """Whether a widget is displayed (layout.display not 'none')."""
    return widget.layout.display != "none"
