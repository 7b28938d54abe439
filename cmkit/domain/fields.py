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


#: Bidirectional controls reorder what is shown: "report\u202egnp.txt" shows as "reporttxt.png".
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Invisible characters that make two names look alike: zero-width space, word joiner, invisible
#: operators, byte order mark (zero-width no-break space), Mongolian vowel separator, soft hyphen.
INVISIBLE = frozenset("\u200b\u2060\u2061\u2062\u2063\u2064\ufeff\u180e\u00ad")
#: Zero-width (non-)joiners: part of Persian and Indic spelling and of emoji sequences, so kept between
#: two such letters or symbols, refused anywhere else (next to ASCII, a space, the start or the end).
JOINERS = frozenset("\u200c\u200d")
#: Line breaks, which a one-line value (a name, a field, a subject, a file name) does not have.
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def _joins(before: str, after: str) -> bool:
    return all(c and not c.isascii() and not c.isspace() and c not in JOINERS for c in (before, after))


def deceptive(value: str) -> str | None:
    """The first character of `value` that makes it show other than it is (a bidirectional control, an
    invisible character, a joiner outside a joining script), or None."""
    for i, c in enumerate(value):
        if c in BIDI_CONTROLS or c in INVISIBLE:
            return c
        if c in JOINERS and not _joins(value[i - 1] if i else "", value[i + 1 : i + 2]):
            return c
    return None


def check_one_line(value: str, field: str) -> str:
    """`value` in NFC, or ValidationError naming `field`: a line break, or a character that changes how
    the value is shown (see `deceptive`). For names, one-line fields, subjects and file names."""
    value = unicodedata.normalize("NFC", value)
    bad = next((c for c in value if c in LINE_BREAKS), None)
    if bad is not None:
        raise ValidationError(
            field, f"must be one line; it contains a line break (U+{ord(bad):04X}): remove it"
        )
    bad = deceptive(value)
    if bad is not None:
        what = unicodedata.name(bad, "a control character").lower()
        raise ValidationError(
            field,
            f"contains U+{ord(bad):04X} ({what}), which changes how the text is shown (a right-to-left "
            "override shows what follows it reversed, an invisible character makes two names look alike); "
            "remove it",
        )
    return value


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
    value = check_one_line(value, fd.name)
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
