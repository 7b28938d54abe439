"""Data fields on a form: one input per configured field (R4), each with its own error line."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import ipywidgets as w

from cmkit.ui.common import esc

LABEL_WIDTH = "140px"


class FieldSpec(Protocol):
    """What a form needs of a configured field (`cm.group(name).fields_for(kind)` gives them)."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def required(self) -> bool: ...
    @property
    def choices(self) -> Sequence[str]: ...


def _label(fd: FieldSpec) -> str:
    return fd.name.replace("_", " ") + (" *" if fd.required else "")


def _input(fd: FieldSpec) -> w.ValueWidget:
    """The input for one field, labelled with the field's name (required ones marked with *)."""
    kw: dict[str, Any] = {
        "description": _label(fd),
        "style": {"description_width": LABEL_WIDTH},
        "layout": w.Layout(width="460px"),
    }
    if fd.type == "choice":
        return w.Dropdown(options=[("", None), *[(c, c) for c in fd.choices]], value=None, **kw)
    if fd.type == "bool":
        return w.Dropdown(options=[("", None), ("yes", True), ("no", False)], value=None, **kw)
    hint = {
        "email": "name@example.org",
        "phone": "+49 221 123456",
        "date": "YYYY-MM-DD",
        "number": "a number",
    }
    return w.Text(placeholder=hint.get(fd.type, ""), **kw)  # synced as typed: Save right after typing sees it


def _as_input(fd: FieldSpec, value: Any) -> Any:
    if fd.type in ("choice", "bool"):
        return value
    return "" if value is None else str(value)


def _from_input(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


class FieldInputs(w.VBox):
    """Inputs for the fields `defs`; `values()` gives what was entered, `show_error` marks one field."""

    def __init__(self, defs: Mapping[str, FieldSpec]) -> None:
        self.defs = dict(defs)
        self.inputs: dict[str, w.ValueWidget] = {name: _input(fd) for name, fd in self.defs.items()}
        self.errors: dict[str, w.HTML] = {name: w.HTML() for name in self.defs}
        self._loaded: dict[str, Any] = {}
        rows = [w.HBox([self.inputs[name], self.errors[name]]) for name in self.defs]
        super().__init__(rows)

    def load(self, values: Mapping[str, Any]) -> None:
        """Put the stored values into the inputs and clear the errors."""
        self.clear_errors()
        for name, fd in self.defs.items():
            self.inputs[name].value = _as_input(fd, values.get(name))
        self._loaded = {name: self.inputs[name].value for name in self.defs}

    def values(self) -> dict[str, Any]:
        """Every field's entered value (None for empty)."""
        return {name: _from_input(inp.value) for name, inp in self.inputs.items()}

    def changed(self) -> dict[str, Any]:
        """Only the fields whose input differs from what `load` put there (None clears a field)."""
        return {
            name: _from_input(inp.value)
            for name, inp in self.inputs.items()
            if inp.value != self._loaded.get(name)
        }

    def show_error(self, field: str, message: str) -> bool:
        """Show `message` next to `field`; False when the form has no such field."""
        if field not in self.errors:
            return False
        self.errors[field].value = f'<span class="cmkit-field-error">{html.escape(message)}</span>'
        return True

    def clear_errors(self) -> None:
        for e in self.errors.values():
            e.value = ""

    @property
    def error_fields(self) -> list[str]:
        return [name for name, e in self.errors.items() if e.value]


def fields_view(defs: Mapping[str, FieldSpec], values: Mapping[str, Any]) -> str:
    """The fields in view mode: a two-column escaped table of label and value."""
    rows = "".join(
        f"<tr><th>{esc(name.replace('_', ' '))}</th><td>{esc(_shown(values.get(name)))}</td></tr>"
        for name in defs
    )
    extra = [k for k in values if k not in defs]  # fields no longer configured stay visible
    rows += "".join(f"<tr><th><i>{esc(k)}</i></th><td>{esc(values[k])}</td></tr>" for k in extra)
    return f'<table class="cmkit-table cmkit-fields">{rows}</table>'


def _shown(value: Any) -> Any:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return value
