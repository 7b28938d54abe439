"""Data fields (R4): validate values against a group's field definitions; derive display names."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from cmkit.domain.config import FieldDef
from cmkit.errors import ValidationError

EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]{2,}$")
PHONE = re.compile(r"^\+?[0-9][0-9 ()/.\-]{2,30}$")
DEFAULT_MAX_TEXT = 10_000
# Tab and newline are text; every other control character (NUL included) is refused.
_CONTROL = {chr(c) for c in range(32) if chr(c) not in "\t\n\r"} | {"\x7f"}


def lone_surrogate(value: str) -> str | None:
    """The first lone surrogate in `value` (text decoded wrongly, which no database can store), or None."""
    return next((c for c in value if "\ud800" <= c <= "\udfff"), None)


def _text(fd: FieldDef, value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError(fd.name, f"must be text, got {type(value).__name__}")
    value = unicodedata.normalize("NFC", value.strip())
    bad = next((c for c in value if c in _CONTROL), None)
    if bad is not None:
        raise ValidationError(fd.name, f"contains the control character U+{ord(bad):04X}; remove it")
    bad = lone_surrogate(value)
    if bad is not None:
        raise ValidationError(
            fd.name, f"contains the invalid character U+{ord(bad):04X}; re-read the text as UTF-8"
        )
    limit = fd.max_length or DEFAULT_MAX_TEXT
    if len(value) > limit:
        raise ValidationError(fd.name, f"is {len(value)} characters long; at most {limit} are allowed")
    return str(value)


def validate_value(fd: FieldDef, value: Any) -> Any:
    """The stored form of `value` for field `fd`, or ValidationError naming the field. None means empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    t = fd.type
    if t == "text":
        return _text(fd, value)
    if t == "email":
        text = _text(fd, value)
        if not EMAIL.match(text):
            raise ValidationError(fd.name, f"{text!r} is not an e-mail address (expected name@example.org)")
        return text
    if t == "phone":
        text = _text(fd, value)
        if not PHONE.match(text):
            raise ValidationError(
                fd.name, f"{text!r} is not a phone number (digits, spaces, + ( ) / . - allowed)"
            )
        return text
    if t == "choice":
        if value not in fd.choices:
            raise ValidationError(fd.name, f"{value!r} is not one of the choices {', '.join(fd.choices)}")
        return value
    if t == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.strip().lower() in ("true", "yes", "1")
        raise ValidationError(fd.name, f"must be true or false, got {value!r}")
    if t == "number":
        if isinstance(value, bool):
            raise ValidationError(fd.name, "must be a number, got a bool")
        if isinstance(value, int | float):
            number: int | float = value
        else:
            try:
                number = float(str(value).replace(",", "."))
            except ValueError:
                raise ValidationError(fd.name, f"must be a number, got {value!r}") from None
        if isinstance(number, float):
            if number != number or number in (float("inf"), float("-inf")):
                raise ValidationError(fd.name, "must be a finite number")
            if number.is_integer():
                number = int(number)
        return number
    if t == "date":
        if isinstance(value, dt.datetime):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        try:
            return dt.date.fromisoformat(str(value).strip()).isoformat()
        except ValueError:
            raise ValidationError(fd.name, f"must be a date as YYYY-MM-DD, got {value!r}") from None
    raise ValidationError(fd.name, f"has unknown type {t!r}")  # pragma: no cover - config refuses it


def validate_fields(
    defs: Mapping[str, FieldDef], values: Mapping[str, Any], *, current: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Merge `values` into `current` (None clears a field) and validate the result against `defs`.

    Refuses unknown fields and a required field left empty, naming the field; returns the new data.
    """
    for name in values:
        if name not in defs:
            known = ", ".join(defs) or "none"
            raise ValidationError(name, f"is not a field of this customer kind (fields: {known})")
    data = {k: v for k, v in (current or {}).items() if k in defs}
    for name, value in values.items():
        clean = validate_value(defs[name], value)
        if clean is None:
            data.pop(name, None)
        else:
            data[name] = clean
    for fd in defs.values():
        if fd.required and data.get(fd.name) is None:
            raise ValidationError(fd.name, "is required; give it a value")
    return data


def display_name(kind: str, data: Mapping[str, Any]) -> str:
    """A company's name; a contact's 'first_name last_name' (or last_name, or name)."""
    if kind == "company":
        return str(data.get("name") or "").strip()
    parts = [str(data[k]).strip() for k in ("first_name", "last_name") if data.get(k)]
    return " ".join(parts) or str(data.get("name") or "").strip()
