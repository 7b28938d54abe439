"""Cells a spreadsheet would run as a formula (CSV or formula injection, OWASP): text that starts with
= + - or @, also after leading tabs, line breaks or spaces (a tab or carriage return first is a known way
past naive checks).

The decision for imports (`import_customers`): such a cell in a text, e-mail or phone field is refused,
as a problem naming its row and field, because nothing a helpdesk keeps in a name, street or note starts
like a formula, and a stored formula would run on the desk of whoever opens a later export in a
spreadsheet. Two kinds of cell are data and are stored: a signed number or a phone number ("+49 30
1234567", "-5"), which a spreadsheet shows as a number and does not run, and a lone sign ("-" for
"none"). A cell that merely starts with a tab or line break (then harmless text) is stored trimmed, and
the plan's note says so.
"""

from __future__ import annotations

import re

TRIGGERS = "=+-@"
LEADING = " \t\r\n"
#: a signed number or a phone number: digits, spaces, ( ) / . , - after one sign
NUMBER = re.compile(r"[+-]?[0-9][0-9 ()/.,\-]*")


def leading_control(value: str) -> str:
    """'a tab' or 'a line break' when `value` starts with one (after spaces), else ''."""
    lead = value[: len(value) - len(value.lstrip(LEADING))]
    return "a tab" if "\t" in lead else "a line break" if ("\r" in lead or "\n" in lead) else ""


def formula_problem(value: str) -> str | None:
    """Why a spreadsheet would run `value` as a formula (the reason a cell is refused), or None."""
    rest = value.lstrip(LEADING)
    if len(rest) < 2 or rest[0] not in TRIGGERS or (rest[0] in "+-" and NUMBER.fullmatch(rest)):
        return None
    after = f" after {leading_control(value)}" if leading_control(value) else ""
    shown = rest if len(rest) <= 40 else rest[:37] + "..."
    return (
        f"{shown!r} starts with {rest[0]!r}{after}, so a spreadsheet would run it as a formula; cmkit does "
        f"not import formulas: remove the leading {rest[0]!r} or reword the cell"
    )
