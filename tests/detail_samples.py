"""Small, real sample files for attachment tests (PNG, JPEG, PDF, DOCX, XLSX made here, no fixtures on disk)
and a helper to run a test against a changed configuration."""

from __future__ import annotations

import io
import struct
import tomllib
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cmkit

CONFIG = Path(__file__).with_name("config_test.toml")


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A valid RGB PNG, chunk CRCs and all."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + b"\xff\x80\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def jpeg_bytes() -> bytes:
    """The start of a JFIF file (signature and APP0 segment), enough to be recognised as JPEG."""
    return (
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 32 + b"\xff\xd9"
    )


def pdf_of(objects: list[bytes]) -> bytes:
    """A PDF 1.4 of `objects` (object 1 is the catalog) with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def stream(data: bytes, *, deflated: bool = False) -> bytes:
    """A PDF stream object's body holding `data` (already deflated when `deflated`)."""
    filters = b" /Filter /FlateDecode" if deflated else b""
    return b"<< /Length " + str(len(data)).encode() + filters + b" >>\nstream\n" + data + b"\nendstream"


FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"


def pdf_bytes(*lines: str) -> bytes:
    """A one-page PDF 1.4 with `lines` of Helvetica text."""
    text = "".join(
        f"BT /F1 12 Tf 72 {720 - 16 * i} Td ({line.replace(chr(92), '').replace('(', '').replace(')', '')}) Tj ET\n"
        for i, line in enumerate(lines)
    ).encode("latin-1")
    pages = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
    return pdf_of([b"<< /Type /Catalog /Pages 2 0 R >>", pages, PAGE, stream(text), FONT])


def docx_bytes(*paragraphs: str) -> bytes:
    import docx

    document = docx.Document()
    for p in paragraphs:
        document.add_paragraph(p)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def xlsx_bytes(*rows: tuple[Any, ...]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(list(row))  # type: ignore[union-attr]
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def reconfigure(db_url: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Store the test configuration as changed by `change(config_dict)` (the next test gets the original)."""
    config = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    change(config)
    cmkit.init(db_url, config)
