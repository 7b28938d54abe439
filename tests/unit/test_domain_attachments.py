"""cmkit.domain.attachments (R9): a file's type is the one its name claims, and its content must agree; the
names are for display only; every refused file of an upload is named; text is extracted for search."""

from __future__ import annotations

import pytest
from detail_samples import docx_bytes, jpeg_bytes, pdf_bytes, png_bytes, xlsx_bytes

from cmkit import ValidationError
from cmkit.domain.attachments import (
    AttachmentRefused,
    CheckedFile,
    canonical_type,
    check_files,
    clean_name,
    decode_text,
    fold,
    judge,
    read_texts,
)
from cmkit.domain.config import AttachmentPolicy
from cmkit.domain.extraction import read_file

POLICY = AttachmentPolicy()  # pdf, png, jpg, txt, csv, docx, xlsx


def _id(value: object) -> str | None:
    """Test ids show the file names and types, not the bytes."""
    return "bytes" if isinstance(value, bytes) else None


@pytest.mark.parametrize(
    ("name", "data", "type_"),
    [
        ("Vertrag.pdf", pdf_bytes("Vertrag"), "pdf"),
        ("SCAN.PDF", pdf_bytes("Scan"), "pdf"),
        ("logo.png", png_bytes(), "png"),
        ("photo.jpeg", jpeg_bytes(), "jpg"),
        ("brief.docx", docx_bytes("Hallo"), "docx"),
        ("liste.xlsx", xlsx_bytes(("a", 1)), "xlsx"),
        ("notiz.txt", "Grüße".encode(), "txt"),
        ("alt.txt", "Grüße".encode("cp1252"), "txt"),
        ("bom.txt", "Grüße".encode("utf-16"), "txt"),
        ("bitmap.csv", b"BM,1,2\n", "csv"),  # looks like a bitmap's signature, but it is text
    ],
    ids=_id,
)
def test_r9_real_files_of_allowed_types_are_accepted(name: str, data: bytes, type_: str) -> None:
    ok, problem = judge(name, data, POLICY)
    assert problem is None and ok is not None
    assert (ok.name, ok.type, ok.data, ok.size) == (name, type_, data, len(data))


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("a.exe", b"MZ", "type 'exe' is not allowed (allowed: csv, docx, jpg, pdf, png, txt, xlsx)"),
        ("README", b"text", "has no file type in its name"),
        ("fake.pdf", png_bytes(), "is named as pdf but holds png content"),
        ("fake.png", b"just text", "is named as png but holds content that is not a known file format"),
        ("fake.txt", png_bytes(), "is named as txt but holds png content"),
        ("fake.txt", pdf_bytes("x"), "is named as txt but holds pdf content"),
        ("fake.csv", b"a,b\x00c", "holds binary content that does not read as text"),
        ("empty.txt", b"", "is empty"),
    ],
    ids=_id,
)
def test_r9_refused_files_say_why(name: str, data: bytes, says: str) -> None:
    ok, problem = judge(name, data, POLICY)
    assert ok is None and problem is not None
    assert problem.startswith(f"R9: {name!r}") and says in problem


def test_r9_size_and_types_come_from_the_policy() -> None:
    small = AttachmentPolicy(max_bytes=10)
    assert judge("a.txt", b"x" * 10, small)[0] is not None  # the limit is inclusive
    assert "has 11 bytes, more than the 10 allowed" in str(judge("a.txt", b"x" * 11, small)[1])
    only_md = AttachmentPolicy(allowed_types=(".MD",))
    assert judge("read.md", b"# Title", only_md)[0] is not None
    assert "(allowed: md)" in str(judge("a.txt", b"x", only_md)[1])
    unknown = AttachmentPolicy(allowed_types=("foo",))
    assert "cmkit cannot check the content of 'foo' files" in str(judge("a.foo", b"x" * 64, unknown)[1])


def test_r9_every_refused_file_of_an_upload_is_named() -> None:
    upload = {"a.exe": b"x", "b.pdf": png_bytes(), "c.txt": b"fine", "d.txt": "not bytes"}
    with pytest.raises(AttachmentRefused) as info:
        check_files(upload, POLICY)
    assert [p.split("'")[1] for p in info.value.problems] == ["a.exe", "b.pdf", "d.txt"]
    assert info.value.field == "files" and str(info.value).endswith("Nothing of this upload was stored.")
    checked = check_files({"c.txt": b"fine", "d.png": bytearray(png_bytes())}, POLICY)
    assert [(f.name, f.type, type(f.data)) for f in checked] == [
        ("c.txt", "txt", bytes),
        ("d.png", "png", bytes),
    ]


@pytest.mark.parametrize("files", [{}, [], None, "a.txt"])
def test_r9_an_upload_is_a_non_empty_dict(files: object) -> None:
    with pytest.raises(ValidationError, match="non-empty dict") as info:
        check_files(files, POLICY)
    assert info.value.field == "files"


def test_r9_file_names_are_for_display_only() -> None:
    assert clean_name("C:\\Users\\x\\..\\Vertrag.pdf") == "Vertrag.pdf"
    assert clean_name("../../etc/passwd") == "passwd"
    assert clean_name("  Cafe\u0301.pdf ") == "Café.pdf"  # NFC
    for bad, says in [
        ("", "is not a file name"),
        ("..", "is not a file name"),
        ("dir/", "is not a file name"),
        ("a\x00.pdf", "control or invalid characters"),
        ("a\n.pdf", "control or invalid characters"),
        ("x" * 256, "longer than 255 characters"),
        (5, "file names must be text"),
    ]:
        with pytest.raises(ValidationError, match=says):
            clean_name(bad)


def test_r9_text_is_decoded_from_the_usual_encodings_or_not_at_all() -> None:
    assert decode_text("Grüße".encode()) == decode_text(b"\xef\xbb\xbfGr\xc3\xbc\xc3\x9fe") == "Grüße"
    assert decode_text("Grüße".encode("cp1252")) == "Grüße"
    assert decode_text("Grüße".encode("utf-16")) == "Grüße"
    assert decode_text(b"tab\tline\r\nfeed\f") == "tab\tline\r\nfeed\f"
    assert decode_text(b"a\x00b") is None and decode_text(b"a\x1bb") is None


def test_r9_types_are_named_one_way() -> None:
    assert [canonical_type(t) for t in (".JPEG", "jpe", "PDF", "text", "tiff")] == [
        "jpg",
        "jpg",
        "pdf",
        "txt",
        "tif",
    ]


def test_r9_text_for_content_search_is_folded() -> None:
    def text(name: str, type_: str, data: bytes) -> str | None:
        return read_texts([CheckedFile(name, type_, "x", data)], searchable=True)[0].text

    assert text("a.txt", "txt", "Grüße  aus\nKÖLN".encode()) == "grüsse aus köln"  # casefolded: ß is ss
    assert text("a.pdf", "pdf", pdf_bytes("Hello World", "Zweite Zeile")) == "hello world zweite zeile"
    assert text("a.docx", "docx", docx_bytes("Hallo Welt")) == "hallo welt"
    assert text("a.xlsx", "xlsx", xlsx_bytes(("Rechnung", 42))) == "rechnung 42"
    assert text("a.png", "png", png_bytes()) is None  # no text in a picture
    with pytest.raises(AttachmentRefused, match=r"'a.pdf' does not parse as a PDF"):
        text("a.pdf", "pdf", b"%PDF-1.4 broken")  # a PDF must parse (polyglots)


def test_r9_text_is_cut_at_the_character_and_byte_budgets(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long document is read up to the budget and says it was cut; a short one is read whole."""
    from cmkit.domain import extraction

    long_docx = docx_bytes(*(f"Absatz {i} über Wartung" for i in range(5_000)))
    whole = read_file("docx", long_docx)
    assert (whole.problem, whole.note) == (None, "") and "absatz 4999" in fold(str(whole.text))
    monkeypatch.setitem(extraction.LIMITS, "chars", 100)
    cut = read_file("docx", long_docx)
    assert (len(str(cut.text)), cut.note) == (100, "text cut at the reading budget")
    monkeypatch.setitem(extraction.LIMITS, "chars", 1_000_000)
    monkeypatch.setitem(extraction.LIMITS, "xml_bytes", 20_000)
    cut = read_file("docx", long_docx)
    assert cut.note == "text cut at the reading budget" and 0 < len(str(cut.text)) < 20_000
    assert 0 < whole.peak_kb < 384 * 1024
