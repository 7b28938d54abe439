"""Helpers for the widget tests: a file as FileUpload gives it, and whether a widget is shown."""

from __future__ import annotations

import datetime as dt
from typing import Any


def upload(name: str, data: bytes, mime: str = "application/octet-stream") -> dict[str, Any]:
    """One file in the shape ipywidgets' FileUpload.value holds it."""
    return {
        "name": name,
        "type": mime,
        "size": len(data),
        "content": memoryview(data),
        "last_modified": dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
    }


def shown(widget: Any) -> bool:
    """Whether a widget is displayed (layout.display not 'none')."""
    return widget.layout.display != "none"
