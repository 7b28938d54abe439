"""A customer's folded search key: which of its fields are searched, and in which part of the key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cmkit.domain.config import FieldDef
from cmkit.domain.fields import display_name
from cmkit.domain.text import customer_key

#: the fields that make up the name part of the key (autocomplete looks only there)
NAME_FIELDS = ("name", "first_name", "last_name", "email")
#: the field types whose values are in the key (quick and detail search)
KEY_TYPES = ("text", "email")


def key_for(kind: str, data: Mapping[str, Any], fields: Mapping[str, FieldDef] | None = None) -> str:
    """The folded search key of a customer (see cmkit.domain.text): its name and e-mail, then its other
    text and e-mail fields (`fields`: the group's definitions for `kind`; without them, every text value)."""
    more = [
        v
        for k, v in data.items()
        if k not in NAME_FIELDS
        and isinstance(v, str)
        and (fields is None or (k in fields and fields[k].type in KEY_TYPES))
    ]
    return customer_key([display_name(kind, data), data.get("email")], more)


def in_key(field: str, type_: str, kind: str) -> bool:
    """Whether a field's words are in the customer's search key (see `key_for`)."""
    if field == "email":
        return True
    if field in NAME_FIELDS:
        return field == "name" if kind == "company" else field in ("first_name", "last_name")
    return type_ in KEY_TYPES
