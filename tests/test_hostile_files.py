"""Hostile attachments (R9): archive bombs, PDF bombs and polyglots cost a bounded time and memory, and are
refused (or stored with their text cut) as docs/RULES.md says.

The bomb tests upload in a fresh Python process (`upload_measured`) with its address space limited to
3 GB, so that a regression fails by running out of it rather than by taking the machine's memory. That
process reports its own peak memory (VmHWM) before and after the upload and the peak of every child
process that read a file. Bounds asserted: the uploading process grows by at most 64 MB, a reading
child peaks below its 384 MB limit, and the upload ends within 30 s (a hang guard, not a speed test).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from detail_samples import docx_bytes, pdf_bytes, reconfigure
from hostile_samples import (
    HTML_PDF,
    HTML_TEXT,
    docx_bomb,
    pdf_many_pages,
    pdf_page_tree,
    pdf_stream_bomb,
    understated,
    with_member,
    xlsx_bomb,
)

from cmkit import CustomerManager
from cmkit.domain import extraction
from cmkit.domain.attachments import AttachmentRefused

PARENT_GROWTH_KB = 64 * 1024
CHILD_PEAK_KB = 384 * 1024  # the child's address space limit (cmkit.domain.extraction.LIMITS)
HANG_SECONDS = 30.0

UPLOAD = r"""
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
import cmkit
from cmkit.domain import attachments

peaks = []
if hasattr(attachments, "read_file"):
    read_file = attachments.read_file
    def spy(*args):
        reading = read_file(*args)
        peaks.append(reading.peak_kb)
        return reading
    attachments.read_file = spy

def hwm():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

url, customer, name, path = sys.argv[1:5]
cm = cmkit.connect(url)
data = open(path, "rb").read()
cm.add_attachments(int(customer), {"warm-up.pdf": open(path + ".warm", "rb").read()})
peaks.clear()
before, started = hwm(), time.monotonic()
try:
    ids, error = cm.add_attachments(int(customer), {name: data}), None
except cmkit.CMError as exc:
    ids, error = [], str(exc)
seconds = time.monotonic() - started
rows = cm.attachments(int(customer))
history = cm.history(customer_id=int(customer))
added = [e for e in history["after"] if isinstance(e, dict) and e.get("name") == name]
print(json.dumps({
    "ids": ids, "error": error, "seconds": seconds, "growth_kb": hwm() - before, "child_peaks_kb": peaks,
    "searchable": [bool(v) for v in rows.loc[rows["name"] == name, "searchable"]] if "searchable" in rows else None,
    "text_note": added[0].get("text") if added else None,
}))
"""


def upload_measured(db_url: str, customer_id: int, name: str, data: bytes, tmp_path: Path) -> dict[str, Any]:
    """Upload `data` as `name` in a fresh process and return what it measured (see the module's text)."""
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    Path(f"{path}.warm").write_bytes(pdf_bytes("warm up"))
    done = subprocess.run(
        [sys.executable, "-c", UPLOAD, db_url, str(customer_id), name, str(path)],
        capture_output=True,
        text=True,
        timeout=HANG_SECONDS + 30,  # the process's own start and imports come on top
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(name, {k: v for k, v in result.items() if k != "error"})  # the figures, for the note (-s)
    assert result["seconds"] < HANG_SECONDS
    assert result["growth_kb"] <= PARENT_GROWTH_KB, f"the uploading process grew by {result['growth_kb']} kB"
    assert all(0 < p < CHILD_PEAK_KB for p in result["child_peaks_kb"]), result["child_peaks_kb"]
    return result


# -- archive bombs ------------------------------------------------------------------------------------------
def test_r9_docx_bomb_is_refused_before_it_is_parsed(cm: CustomerManager, world, db_url, tmp_path) -> None:
    """The issue's file: 200 paragraphs of 1 MB (200 MB of XML in 230 KB). Refused by the ratio its zip
    directory declares, before any parser or child process sees it."""
    result = upload_measured(db_url, world["anna"].id, "bomb.docx", docx_bomb(200), tmp_path)
    assert result["ids"] == [] and result["child_peaks_kb"] == []
    assert "R9: 'bomb.docx' holds 'word/document.xml', compressed 1,0" in result["error"]
    assert "an archive bomb" in result["error"] and "Nothing of this upload was stored" in result["error"]


def test_r9_docx_bomb_that_understates_its_size_is_refused(cm: CustomerManager, world, snapshot) -> None:
    """A member that declares 2,000 bytes (with the checksum of those) but inflates to 20 MB: the real size
    is counted from the member's own bytes, so the lie is found before parsing."""
    bomb = understated(docx_bomb(20), "word/document.xml", 2_000)
    before = snapshot()
    with pytest.raises(AttachmentRefused, match=r"declares 2,000 bytes but has more: an archive bomb"):
        cm.add_attachments(world["anna"].id, {"small.docx": bomb})
    assert snapshot() == before


def test_r9_xlsx_bomb_is_refused_before_it_is_parsed(cm: CustomerManager, world, db_url, tmp_path) -> None:
    """300,000 rows of ten cells: 138 MB of sheet XML from 0.8 MB."""
    result = upload_measured(db_url, world["anna"].id, "bomb.xlsx", xlsx_bomb(), tmp_path)
    assert result["ids"] == [] and result["child_peaks_kb"] == []
    assert "R9: 'bomb.xlsx' holds 'xl/worksheets/sheet1.xml', compressed 175 to 1" in result["error"]


def test_r9_docx_bomb_with_a_program_inside_is_refused(cm: CustomerManager, world, snapshot) -> None:
    """A member named like a document part but holding a Windows program, and macros, are refused."""
    before = snapshot()
    hidden = with_member(docx_bytes("hi"), "word/media/image1.png", [b"MZ\x90\x00" + b"\x00" * 500])
    macros = with_member(docx_bytes("hi"), "word/vbaProject.bin", [b"\xd0\xcf\x11\xe0" + b"\x00" * 500])
    with pytest.raises(AttachmentRefused) as info:
        cm.add_attachments(world["anna"].id, {"hidden.docx": hidden, "macros.docx": macros})
    assert info.value.problems == [
        "R9: 'hidden.docx' holds 'word/media/image1.png', a program, which a docx file may not carry; "
        "save it again from its program, or attach it as PDF",
        "R9: 'macros.docx' holds 'word/vbaProject.bin', a program or macros, which a docx file may not carry; "
        "save it again from its program, or attach it as PDF",
    ]
    assert snapshot() == before


# -- PDFs: a stream budget and a page budget --------------------------------------------------------------
def test_r9_pdf_stream_bomb_is_refused_within_bounds(cm: CustomerManager, world, db_url, tmp_path) -> None:
    """One page whose content inflates to 300 MB (290 KB on disk): the child stops at 20 MB."""
    result = upload_measured(db_url, world["anna"].id, "bomb.pdf", pdf_stream_bomb(300), tmp_path)
    assert result["ids"] == [] and len(result["child_peaks_kb"]) == 1
    assert "R9: 'bomb.pdf' a stream of page 1 expands beyond the limit" in result["error"]


def test_r9_pdf_with_many_pages_is_stored_with_its_text_cut(
    cm: CustomerManager, world, db_url, tmp_path
) -> None:
    """20,000 pages (120 KB): stored, searchable by what was read within the budget, and the audit entry says
    the text was cut."""
    result = upload_measured(db_url, world["anna"].id, "long.pdf", pdf_many_pages(20_000), tmp_path)
    assert len(result["ids"]) == 1 and result["searchable"] == [True]
    assert result["text_note"] == "text cut at the reading budget"
    found = cm.attachments(world["anna"].id, content="maintenance contract")
    assert found["name"].tolist() == ["long.pdf"]


def test_r9_pdf_over_the_memory_limit_is_stored_without_text_saying_so(
    cm: CustomerManager, world, monkeypatch
) -> None:
    """With the child's address space at 100 MB and no stream budget, the 300 MB stream runs the reader out
    of memory after the PDF parsed: the file is stored, not searchable, and the audit and form say why."""
    monkeypatch.setitem(extraction.LIMITS, "memory_bytes", 100 * 2**20)
    monkeypatch.setitem(extraction.LIMITS, "pdf_stream_bytes", 2_000_000_000)
    anna = world["anna"].id
    [stored] = cm.add_attachments(anna, {"heavy.pdf": pdf_stream_bomb(300)})
    row = cm.attachments(anna).set_index("id").loc[stored]
    assert (row["name"], bool(row["searchable"])) == ("heavy.pdf", False)
    after = cm.history(customer_id=anna).query("action == 'add_attachment'").iloc[-1]["after"]
    assert after["text"] == "its text could not be read: reading it needs more than 100 MB"
    assert cm.attachments(anna, content="bomb").empty


def test_r9_pdf_that_cannot_be_checked_within_the_cpu_limit_is_refused(
    cm: CustomerManager, world, monkeypatch, snapshot
) -> None:
    """80,000 distinct pages under 267 tree nodes (8 MB, under the 10 MB allowed and pypdf's own limit of
    100,000 pages): parsing the page tree alone takes about 9 s of CPU here, nine times the limit, so the
    child is killed before the PDF was shown to parse, and the file is refused."""
    monkeypatch.setitem(extraction.LIMITS, "cpu_seconds", 1)
    before = snapshot()
    with pytest.raises(
        AttachmentRefused, match=r"'pages.pdf' could not be checked within 1 s and 384 MB \(reading"
    ):
        cm.add_attachments(world["anna"].id, {"pages.pdf": pdf_page_tree(80_000)})
    assert snapshot() == before


# -- polyglots: the structure, not only the first bytes ------------------------------------------------------
def test_hostile_polyglot_pdf_that_is_html_is_refused(cm: CustomerManager, world, snapshot) -> None:
    before = snapshot()
    with pytest.raises(
        AttachmentRefused, match=r"R9: 'invoice.pdf' does not parse as a PDF \(PdfStreamError"
    ):
        cm.add_attachments(world["anna"].id, {"invoice.pdf": HTML_PDF})
    assert snapshot() == before


def test_hostile_polyglot_pdf_must_parse_also_when_contents_are_not_searchable(
    cm: CustomerManager, world, db_url, snapshot
) -> None:
    reconfigure(db_url, lambda c: c.setdefault("attachments", {}).update(searchable=False))
    before = snapshot()
    with pytest.raises(AttachmentRefused, match=r"'invoice.pdf' does not parse as a PDF"):
        cm.add_attachments(world["anna"].id, {"invoice.pdf": HTML_PDF})
    assert snapshot() == before
    cm.add_attachments(world["anna"].id, {"real.pdf": pdf_bytes("fine")})


def test_hostile_polyglot_docx_with_a_program_and_no_content_types_is_refused(
    cm: CustomerManager, world, snapshot
) -> None:
    """The issue's zip: word/document.xml and an .exe, no [Content_Types].xml."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
        archive.writestr("setup.exe", b"MZ" + b"\x00" * 100)
    exe = with_member(docx_bytes("hi"), "tools/setup.exe", [b"MZ" + b"\x00" * 100])
    macro_type = with_member(
        docx_bytes("hi"),
        "[Content_Types].xml",
        [
            zipfile.ZipFile(io.BytesIO(docx_bytes("hi")))
            .read("[Content_Types].xml")
            .replace(b"wordprocessingml.document.main+xml", b"wordprocessingml.template.main+xml")
        ],
    )
    before = snapshot()
    with pytest.raises(AttachmentRefused) as info:
        cm.add_attachments(
            world["anna"].id, {"letter.docx": out.getvalue(), "exe.docx": exe, "template.docx": macro_type}
        )
    assert [p.split(";")[0] for p in info.value.problems] == [
        "R9: 'letter.docx' holds 'setup.exe', a program or macros, which a docx file may not carry",
        "R9: 'exe.docx' holds 'tools/setup.exe', a program or macros, which a docx file may not carry",
        "R9: 'template.docx' declares its main part as "
        "'application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml', "
        "not as a docx document (macro-enabled or a template?)",
    ]
    assert snapshot() == before


def test_hostile_polyglot_zip_without_content_types_is_refused(cm: CustomerManager, world, snapshot) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    before = snapshot()
    with pytest.raises(
        AttachmentRefused, match=r"'book.xlsx' has no \[Content_Types\].xml, so it is not a real xlsx"
    ):
        cm.add_attachments(world["anna"].id, {"book.xlsx": out.getvalue()})
    assert snapshot() == before


HTML_LIKE = {
    "page.txt": HTML_TEXT,
    "doctype.txt": b"  \r\n<!DOCTYPE html><p>hi</p>",
    "svg.txt": b"<svg onload=alert(1)>",
    "list.csv": b"name;note\nAnna;<script>alert(1)</script>\n",
    "bom.csv": b"\xef\xbb\xbf<HTML>",
}
#: text that mentions markup later on, or compares with < and >: plain text
TEXT_WITH_BRACKETS = {
    "a.txt": b"price < 10 and > 5\n",
    "b.csv": b"a;b\n1;<b>bold</b>\n",
    "c.txt": b"x" * 2000 + b"<html>",
}


def test_hostile_polyglot_text_that_sniffs_as_html_is_refused(cm: CustomerManager, world, snapshot) -> None:
    """Text a browser would sniff as HTML is refused, each file named; plain text with brackets is not."""
    before = snapshot()
    with pytest.raises(AttachmentRefused) as info:
        cm.add_attachments(world["anna"].id, HTML_LIKE | TEXT_WITH_BRACKETS)
    assert [p.split("'")[1] for p in info.value.problems] == list(HTML_LIKE)
    assert all("but holds a web page or markup" in p for p in info.value.problems)
    assert snapshot() == before
    assert len(cm.add_attachments(world["anna"].id, TEXT_WITH_BRACKETS)) == 3
