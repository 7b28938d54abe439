"""The structure of zip-based office files (docx, xlsx, pptx), checked before anything parses them (R9).

A zip bomb is refused by what its directory declares (how much it expands, and by how much each member
is compressed) and then by what its members really hold (every member is decompressed in small chunks,
counted, and its checksum verified; nothing is kept). An office file must also be one: its
`[Content_Types].xml` declares the main part as the format's own content type (not a macro-enabled or
template variant), and no member is a program (by name or by content) or a macro project.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from xml.etree import ElementTree

MB = 1_000_000
MAX_MEMBERS = 10_000
MAX_TOTAL = 250 * MB  # declared uncompressed size of all members together
MAX_RATIO = 100  # uncompressed : compressed of one member, as Apache POI allows
RATIO_FROM = 1 * MB  # members smaller than this are not judged by their ratio
CONTENT_TYPES_MAX = 1 * MB
CHUNK = 1 << 20  # bytes of output per step
INPUT_CHUNK = 1 << 16  # bytes of compressed input per step
#: the main part of each format and its content type
MAIN_PARTS = {
    "docx": (
        "/word/document.xml",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    ),
    "xlsx": (
        "/xl/workbook.xml",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    ),
    "pptx": (
        "/ppt/presentation.xml",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
    ),
}
EXECUTABLE_NAMES = re.compile(
    r"\.(exe|dll|com|scr|msi|bat|cmd|ps1|vbs|vbe|js|jse|wsf|hta|jar|sh|lnk|cpl|pif|app|elf|so|dylib)$|"
    r"(^|/)vbaProject\.bin$",
    re.I,
)
#: first bytes of programs: Windows PE, ELF, Mach-O (both byte orders, fat), Java class, a script's #!
EXECUTABLE_STARTS = (
    b"MZ",
    b"\x7fELF",
    b"\xfe\xed\xfa",
    b"\xcf\xfa\xed\xfe",
    b"\xce\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
    b"#!",
)


def archive_problem(data: bytes, kind: str) -> str | None:
    """Why the office file `data` (of type `kind`) is refused, or None when its structure is sound."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            return _declared(members, kind) or _content_types(archive, kind) or _actual(data, members, kind)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        OSError,
        ValueError,
        NotImplementedError,
    ) as exc:
        return f"is a damaged {kind} archive ({exc}); save it again from its program"


def _declared(members: list[zipfile.ZipInfo], kind: str) -> str | None:
    if len(members) > MAX_MEMBERS:
        return f"holds {len(members):,} parts, more than the {MAX_MEMBERS:,} an office file needs"
    total = sum(m.file_size for m in members)
    if total > MAX_TOTAL:
        return (
            f"would expand to {total / MB:,.0f} MB, more than the {MAX_TOTAL // MB} MB cmkit reads "
            "(an archive bomb, or a file too large to check)"
        )
    for m in members:
        if m.flag_bits & 0x1:
            return f"holds the encrypted part {m.filename!r}, which cannot be checked"
        if m.file_size >= RATIO_FROM and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            return (
                f"holds {m.filename!r}, compressed {m.file_size / max(m.compress_size, 1):,.0f} to 1 "
                f"({m.file_size / MB:,.0f} MB from {m.compress_size:,} bytes; at most {MAX_RATIO} to 1 "
                "is accepted): an archive bomb"
            )
        if EXECUTABLE_NAMES.search(m.filename):
            return f"holds {m.filename!r}, a program or macros, which a {kind} file may not carry"
    return None


def _content_types(archive: zipfile.ZipFile, kind: str) -> str | None:
    try:
        info = archive.getinfo("[Content_Types].xml")
    except KeyError:
        return f"has no [Content_Types].xml, so it is not a real {kind} file"
    if info.file_size > CONTENT_TYPES_MAX:
        return f"has a [Content_Types].xml of {info.file_size:,} bytes; a real {kind} file has a small one"
    raw = archive.read(info)
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        return "has a [Content_Types].xml with a document type declaration, which OOXML never has"
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError as exc:
        return f"has a [Content_Types].xml that does not parse ({exc})"
    part, wanted = MAIN_PARTS[kind]
    types = {
        (el.tag.rpartition("}")[2], str(el.get("PartName") or el.get("Extension") or "").lower()): str(
            el.get("ContentType", "")
        )
        for el in root
    }
    found = types.get(("Override", part), types.get(("Default", "xml")))  # else the Default for .xml
    if found is None:
        return (
            f"does not declare its main part {part} in [Content_Types].xml, so it is not a real {kind} file"
        )
    if found != wanted:
        return f"declares its main part as {found!r}, not as a {kind} document (macro-enabled or a template?)"
    return None


def _actual(data: bytes, members: list[zipfile.ZipInfo], kind: str) -> str | None:
    """Decompress every member from its own bytes, in chunks: its real size must be the declared one (a
    member that holds more than it declares is cut short by Python's reader, but not by every program)
    and its checksum right; its first bytes must not be a program's."""
    for m in members:
        if m.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            return f"holds {m.filename!r} compressed with method {m.compress_type}, which {kind} files do not use"
        header = data[m.header_offset : m.header_offset + 30]
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            return f"is a damaged {kind} archive (no local header for {m.filename!r})"
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        start = m.header_offset + 30 + name_length + extra_length
        raw = memoryview(data)[start : start + m.compress_size]
        if m.compress_type == zipfile.ZIP_STORED:
            size, crc, head = len(raw), zlib.crc32(raw), bytes(raw[:8])
        else:
            size, crc, head = _inflate(raw, m.file_size)
        if head.startswith(EXECUTABLE_STARTS):
            return f"holds {m.filename!r}, a program, which a {kind} file may not carry"
        if size != m.file_size:
            more = "more" if size > m.file_size else f"{size:,}"
            return f"holds {m.filename!r}, which declares {m.file_size:,} bytes but has {more}: an archive bomb or damage"
        if crc != m.CRC:
            return f"is a damaged {kind} archive (the checksum of {m.filename!r} is wrong)"
    return None


def _inflate(raw: memoryview, declared: int) -> tuple[int, int, bytes]:
    """(size, CRC-32, first bytes) of a deflated member, fed in small pieces and read in chunks (no copy
    of the whole input per step); stops once past `declared`; size -1 when the stream has no end."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    size, crc, head = 0, 0, b""

    def take(out: bytes) -> None:
        nonlocal size, crc, head
        size += len(out)
        crc = zlib.crc32(out, crc)
        head = head or out[:8]

    for pos in range(0, len(raw), INPUT_CHUNK):
        tail: bytes | memoryview = raw[pos : pos + INPUT_CHUNK]
        while tail and not inflater.eof and size <= declared:
            take(inflater.decompress(tail, CHUNK))
            tail = inflater.unconsumed_tail
        if inflater.eof or size > declared:
            return size, crc, head
    while not inflater.eof and size <= declared:  # output still held back by the chunk size
        out = inflater.decompress(b"", CHUNK)
        if not out:
            return -1, crc, head
        take(out)
    return size, crc, head
