"""The attachment policy (R9): which files may be attached, judged by name and by content, and their text.

A file's type is the one its name claims (the extension), and its content must agree: binary formats
are recognised by their signature (the `filetype` library), text formats (txt, csv, ...) have none and
must decode as text. Names are kept for display only and are never used as paths.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import filetype

from cmkit.domain.archives import archive_problem
from cmkit.domain.config import AttachmentPolicy
from cmkit.domain.extraction import read_file
from cmkit.domain.fields import _CONTROL, check_one_line, lone_surrogate
from cmkit.errors import ValidationError

NAME_MAX = 255
DESCRIPTION_MAX = 2_000
TEXT_MAX = 1_000_000  # characters of extracted text kept for content search
#: other spellings of a type, as names and configurations write them
ALIASES = {"jpeg": "jpg", "jpe": "jpg", "tiff": "tif", "apng": "png", "text": "txt", "markdown": "md"}
#: formats without a signature: the content must be text
TEXT_TYPES = {
    "txt": "text/plain",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "md": "text/markdown",
    "log": "text/plain",
}
#: zip-based office formats and the entry that proves what they are
OFFICE_ENTRIES = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml", "pptx": "ppt/presentation.xml"}
TEXT_ALLOWED_CONTROL = set("\t\n\r\f")
#: formats that can be written in plain ASCII but are not plain text. Other signatures found in text
#: (a CSV line starting with "BM" looks like a bitmap to a signature check) do not count: binary formats
#: do not decode as text anyway.
TEXT_ENCODED_FORMATS = {"pdf", "ps", "rtf"}
#: text a browser sniffs as HTML: a tag at the start (the WHATWG sniffing rules) or a page's tags in the
#: first kilobyte (as older browsers looked)
HTML_START = re.compile(
    r"[\t\n\f\r ]*(<!doctype html|<!--|<\?xml|"
    r"<(html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p|svg|object|embed)[\t\n\f\r />])",
    re.I,
)
HTML_INSIDE = re.compile(
    r"<(!doctype html|html|head|body|script|iframe|svg|object|embed|meta)[\t\n\f\r />]", re.I
)


class AttachmentRefused(ValidationError):
    """An upload refused by the attachment policy (R9); `.problems` names every refused file and why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("files", "; ".join(problems) + ". Nothing of this upload was stored.")
        self.problems = problems


@dataclass(frozen=True)
class CheckedFile:
    """A file the policy accepts: display name, canonical type, media type and its bytes."""

    name: str
    type: str
    media_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def canonical_type(name: str) -> str:
    """'PDF', '.jpeg' -> 'pdf', 'jpg'."""
    t = name.strip().lower().lstrip(".")
    return ALIASES.get(t, t)


def fold(text: str) -> str:
    """The form filters compare: NFKC, casefolded, whitespace runs as one space."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def clean_name(name: Any) -> str:
    """The display name of an uploaded file: its last path component, NFC, without control characters."""
    if not isinstance(name, str):
        raise ValidationError("files", f"file names must be text, got {type(name).__name__}")
    base = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1].strip())
    if not base or base in (".", ".."):
        raise ValidationError(
            "files", f"{name!r} is not a file name; give each file a name like 'contract.pdf'"
        )
    if any(c in _CONTROL or c in "\t\n\r" for c in base) or lone_surrogate(base):
        raise ValidationError(
            "files", f"the file name {name!r} contains control or invalid characters; rename the file"
        )
    if len(base) > NAME_MAX:
        raise ValidationError("files", f"the file name {base[:40]!r}... is longer than {NAME_MAX} characters")
    try:
        return check_one_line(base, "files")
    except ValidationError as exc:
        raise ValidationError(
            "files", f"the file name {ascii(base)} {exc.message.split(': ', 1)[1]}"
        ) from None


def clean_text(value: Any, field: str, limit: int, *, required: bool) -> str:
    """Free text (a comment, a description): trimmed, NFC, no control characters except tab and newlines."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(field, f"must be text, got {type(value).__name__}")
    value = unicodedata.normalize("NFC", value.strip())
    if required and not value:
        raise ValidationError(field, "is empty; write some text")
    bad = next((c for c in value if c in _CONTROL), None)
    if bad is not None:
        raise ValidationError(field, f"contains the control character U+{ord(bad):04X}; remove it")
    bad = lone_surrogate(value)
    if bad is not None:
        raise ValidationError(
            field, f"contains the invalid character U+{ord(bad):04X}; re-read the text as UTF-8"
        )
    if len(value) > limit:
        raise ValidationError(field, f"is {len(value)} characters long; at most {limit} are allowed")
    return str(value)


def decode_text(data: bytes) -> str | None:
    """The text of `data` (UTF-8 with or without BOM, UTF-16 with BOM, else Windows-1252), or None if it is
    not text: undecodable, or containing control characters a text file does not have."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8-sig", "cp1252"]
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if any(c in _CONTROL and c not in TEXT_ALLOWED_CONTROL for c in text):
            return None
        return text
    return None


def _office_kind(data: bytes) -> str | None:
    """docx / xlsx / pptx when `data` is a zip archive holding that format's main part."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return None
    return next((kind for kind, entry in OFFICE_ENTRIES.items() if entry in names), None)


def detect(data: bytes) -> tuple[str, str] | None:
    """(type, media type) that the content's signature shows, or None when it has no known signature."""
    kind = filetype.guess(data)
    if kind is None:
        return None
    ext = canonical_type(kind.extension)
    if ext == "zip":  # office files whose first entries do not show what they are
        office = _office_kind(data)
        if office:
            return office, filetype.get_type(ext=office).mime
    return ext, kind.mime


def judge(name: str, data: bytes, policy: AttachmentPolicy) -> tuple[CheckedFile | None, str | None]:
    """The checked file, or the reason (starting with 'R9') why the policy refuses it."""
    allowed = {canonical_type(t) for t in policy.allowed_types}
    shown = ", ".join(sorted(allowed)) or "none"
    claimed = canonical_type(name.rsplit(".", 1)[1]) if "." in name.strip(".") else ""
    if not claimed:
        return None, f"R9: {name!r} has no file type in its name (allowed: {shown}); name it like 'file.pdf'"
    if claimed not in allowed:
        return (
            None,
            f"R9: {name!r}: type {claimed!r} is not allowed (allowed: {shown}); an admin can change [attachments] allowed_types",
        )
    if len(data) > policy.max_bytes:
        return (
            None,
            f"R9: {name!r} has {len(data):,} bytes, more than the {policy.max_bytes:,} allowed; attach a smaller file",
        )
    if not data:
        return None, f"R9: {name!r} is empty; attach the file with its content"
    found = detect(data)
    if claimed in TEXT_TYPES:
        text = decode_text(data)
        if (found is not None and found[0] in TEXT_ENCODED_FORMATS) or text is None:
            what = f"{found[0]} content" if found else "binary content that does not read as text"
            return None, f"R9: {name!r} is named as {claimed} but holds {what}; attach a real {claimed} file"
        markup = HTML_START.match(text) or HTML_INSIDE.search(text[:1024])
        if markup:
            return None, (
                f"R9: {name!r} is named as {claimed} but holds a web page or markup ({markup.group().strip()!r}), "
                "which a browser would run; attach it as PDF or as plain text"
            )
        return CheckedFile(name, claimed, TEXT_TYPES[claimed], data), None
    if filetype.get_type(ext=claimed) is None:
        return None, (
            f"R9: {name!r}: cmkit cannot check the content of {claimed!r} files, so they are refused; "
            "an admin can remove the type from [attachments] allowed_types"
        )
    if found is None or found[0] != claimed:
        what = f"{found[0]} content" if found else "content that is not a known file format"
        return None, f"R9: {name!r} is named as {claimed} but holds {what}; attach a real {claimed} file"
    if claimed in OFFICE_ENTRIES:
        problem = archive_problem(data, claimed)
        if problem:
            return None, f"R9: {name!r} {problem}; save it again from its program, or attach it as PDF"
    return CheckedFile(name, claimed, found[1], data), None


def check_files(files: Any, policy: AttachmentPolicy) -> list[CheckedFile]:
    """Every file of an upload ({name: bytes}), checked; AttachmentRefused lists all refused files."""
    if not isinstance(files, Mapping) or not files:
        raise ValidationError("files", "give the files as a non-empty dict {file name: bytes}")
    checked: list[CheckedFile] = []
    problems: list[str] = []
    for raw_name, data in files.items():
        name = clean_name(raw_name)
        if not isinstance(data, bytes | bytearray | memoryview):
            problems.append(f"R9: {name!r}: the content must be bytes, got {type(data).__name__}")
            continue
        ok, problem = judge(name, bytes(data), policy)
        if ok is not None:
            checked.append(ok)
        else:
            problems.append(str(problem))
    if problems:
        raise AttachmentRefused(problems)
    return checked


# -- structure and text for content search --------------------------------------------------------------
#: types whose structure and text a limited child process reads (cmkit.domain.extraction)
READ_IN_CHILD = {"pdf", "docx", "xlsx"}


@dataclass(frozen=True)
class FileText:
    """A file's text for content search, folded and at most TEXT_MAX characters (None: none was read),
    and a note saying why there is none or why it was cut ('' when complete)."""

    text: str | None
    note: str = ""


def read_texts(files: list[CheckedFile], *, searchable: bool) -> list[FileText]:
    """The text of each file (txt, csv and other text, pdf, docx, xlsx; None for pictures or when
    `searchable` is off). A PDF must parse, also when its text is not wanted: AttachmentRefused names every
    file that does not, or whose reading could not even check it within the limits. A file that parses
    but whose text cannot be read within the limits is stored without text; its note says so."""
    out: list[FileText] = []
    problems: list[str] = []
    for f in files:
        if f.type in TEXT_TYPES:
            text = decode_text(f.data) if searchable else None
            out.append(FileText(None if text is None else fold(text)[:TEXT_MAX]))
        elif f.type == "pdf" or (searchable and f.type in READ_IN_CHILD):
            reading = read_file(f.type, f.data)
            if reading.problem:
                problems.append(f"R9: {f.name!r} {reading.problem}; attach a real {f.type} file")
            wanted = searchable and reading.text is not None
            out.append(FileText(fold(str(reading.text))[:TEXT_MAX] if wanted else None, reading.note))
        else:
            out.append(FileText(None))
    if problems:
        raise AttachmentRefused(problems)
    return out
