"""Deceptive Unicode: bidirectional controls and invisible characters are refused in names, data fields,
ticket subjects and file names; line breaks in one-line values; each with a ValidationError naming the
field and nothing stored. Text is kept in NFC. Right-to-left letters, Persian and Indic joiners between
letters and emoji sequences are ordinary text and stay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cmkit import CustomerManager, ValidationError

DECEPTIVE = {
    "rlo": "report\u202egnp",
    "lro": "a\u202db",
    "rlm": "a\u200fb",
    "zwsp": "Ann\u200ba",
    "bom": "\ufeffAnna",
    "soft-hyphen": "An\u00adna",
    "zwj-in-latin": "Anna\u200dMüller",
}
LINE_BREAKS = {"lf": "a\nb", "crlf": "a\r\nb", "nel": "a\x85b", "line-sep": "a\u2028b"}

#: where a value goes -> (call, the field the refusal names)
PLACES: dict[str, tuple[Callable[[CustomerManager, dict[str, Any], str], object], str]] = {
    "contact-last-name": (lambda cm, w, v: cm.create_contact("private", last_name=v), "last_name"),
    "company-name": (lambda cm, w, v: cm.create_company("retail", name=v), "name"),
    "edit-first-name": (lambda cm, w, v: cm.edit(w["anna"].id, first_name=v), "first_name"),
    "edit-city": (lambda cm, w, v: cm.edit(w["acme"].id, city=v), "city"),
    "ticket-subject": (lambda cm, w, v: cm.create_ticket(w["anna"].id, "helpdesk", v), "subject"),
    "file-name": (lambda cm, w, v: cm.add_attachments(w["anna"].id, {f"{v}.txt": b"text"}), "files"),
}


@pytest.mark.parametrize("value", DECEPTIVE.values(), ids=DECEPTIVE.keys())
@pytest.mark.parametrize("place", PLACES)
def test_hostile_unicode_deceptive_characters_are_refused_naming_the_field(
    world: dict[str, Any], cm: CustomerManager, refused: Callable[..., Exception], place: str, value: str
) -> None:
    call, field = PLACES[place]
    error = refused(ValidationError, call, cm, world, value)
    assert isinstance(error, ValidationError) and error.field == field
    assert "changes how the text is shown" in str(error) and "U+" in str(error)


@pytest.mark.parametrize("value", LINE_BREAKS.values(), ids=LINE_BREAKS.keys())
@pytest.mark.parametrize("place", PLACES)
def test_hostile_unicode_line_breaks_in_one_line_values_are_refused(
    world: dict[str, Any], cm: CustomerManager, refused: Callable[..., Exception], place: str, value: str
) -> None:
    call, field = PLACES[place]
    error = refused(ValidationError, call, cm, world, value)
    assert isinstance(error, ValidationError) and error.field == field


def test_hostile_unicode_the_reversed_file_name_is_refused_and_named_readably(
    world: dict[str, Any], cm: CustomerManager
) -> None:
    with pytest.raises(ValidationError, match=r"report\\u202egnp\.txt.*U\+202E \(right-to-left override\)"):
        cm.add_attachments(world["anna"].id, {"report\u202egnp.txt": b"not a picture"})
    assert cm.attachments(world["anna"].id).empty


OK_TEXT = {
    "hebrew": "שלום",
    "arabic": "مرحبا",
    "persian-zwnj": "می\u200cخواهم",
    "emoji-zwj": "Anna 👩\u200d👩\u200d👧",
    "tab": "a\tb",
}


@pytest.mark.parametrize("value", OK_TEXT.values(), ids=OK_TEXT.keys())
def test_hostile_unicode_ordinary_scripts_and_emoji_stay(cm: CustomerManager, value: str) -> None:
    c = cm.create_contact("private", last_name=value)
    assert cm.customer(c.id).fields["last_name"] == value


def test_hostile_unicode_text_is_kept_in_nfc(world: dict[str, Any], cm: CustomerManager) -> None:
    decomposed = "Mu\u0308ller"  # u + combining diaeresis
    c = cm.create_contact("private", last_name=decomposed, first_name="Jo\u0301zef")
    assert cm.customer(c.id).fields == {"last_name": "Müller", "first_name": "Józef"}
    assert c.id in set(cm.autocomplete("Müller")["id"])
    t = cm.create_ticket(c.id, "helpdesk", "Re\u0301sume\u0301")
    assert cm.ticket(t.id).subject == "Résumé"
    (file_id,) = cm.add_attachments(world["anna"].id, {"Gru\u0308sse.txt": b"hallo"})
    assert cm.attachments(world["anna"].id).set_index("id").loc[file_id, "name"] == "Grüsse.txt"
