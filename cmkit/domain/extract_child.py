"""The child process that reads an attachment's structure and text (R9), run by cmkit.domain.extraction.

Run as a script (`python -I extract_child.py TYPE LIMITS_JSON`, the file's bytes on stdin), never
imported by cmkit: it imports only the standard library and the parsers, so it starts fast and holds
nothing of the caller. It first limits itself (address space, CPU seconds), then writes JSON lines to
stdout: {"checked": true} once the structure parsed, then {"text": ..., "cut": ...}; or {"problem": ...}
when the file does not parse as its type. Budgets: characters of text, decompressed XML bytes, pages, and
a soft deadline after which reading stops with the text so far. A file that breaks a hard limit kills
only this process.
"""

from __future__ import annotations

import io
import json
import os
import re
import resource
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from typing import IO, Any

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
OUT_OF_MEMORY = 3  # exit status (extraction.OUT_OF_MEMORY)


class Budget:
    """Characters still wanted and the soft deadline; `full` once either is spent."""

    def __init__(self, chars: int, seconds: float) -> None:
        self.left = chars
        self.deadline = time.monotonic() + seconds
        self.parts: list[str] = []
        self.cut = False  # a part was read only up to the byte budget

    @property
    def full(self) -> bool:
        return self.left <= 0 or time.monotonic() > self.deadline

    def add(self, text: str) -> None:
        if self.left > 0 and text:
            self.parts.append(text[: self.left])
            self.left -= len(text)


class Counted(io.RawIOBase):
    """A member of the archive read at most `limit` bytes far: beyond that it reads as ended."""

    def __init__(self, raw: IO[bytes], limit: int) -> None:
        self.raw, self.left = raw, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left <= 0:
            return 0
        data = self.raw.read(min(len(buffer), self.left, 65536))
        buffer[: len(data)] = data
        self.left -= len(data)
        return len(data)


def _xml_events(archive: zipfile.ZipFile, name: str, limits: dict[str, Any], budget: Budget) -> Iterator[Any]:
    """(event, element) of one XML member, streamed, no DTD, no entities, no network; a member cut at
    the byte budget ends the events quietly (the text so far is kept)."""
    from lxml import etree

    stream = Counted(archive.open(name), int(limits["xml_bytes"]))
    parser = etree.iterparse(
        stream, events=("end",), resolve_entities=False, no_network=True, load_dtd=False, recover=False
    )
    try:
        yield from parser
    except etree.XMLSyntaxError:
        if stream.left > 0:  # not cut by the budget: the member is broken
            raise
        budget.cut = True


def _docx(data: bytes, limits: dict[str, Any], budget: Budget) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        _emit({"checked": True})
        for _event, el in _xml_events(archive, "word/document.xml", limits, budget):
            if el.tag == W + "t":
                budget.add(el.text or "")
            elif el.tag == W + "tab":
                budget.add(" ")
            elif el.tag == W + "p":
                budget.add("\n")
                el.clear(keep_tail=False)
            if budget.full:
                break


def _xlsx(data: bytes, limits: dict[str, Any], budget: Budget) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        _emit({"checked": True})
        names = set(archive.namelist())
        shared: list[str] = []
        kept = 0
        if "xl/sharedStrings.xml" in names:
            for _event, el in _xml_events(archive, "xl/sharedStrings.xml", limits, budget):
                if el.tag == S + "si":
                    text = "".join(t.text or "" for t in el.iter(S + "t"))
                    shared.append(text if kept < budget.left else "")
                    kept += len(text)
                    el.clear(keep_tail=False)
        number = re.compile(r"xl/worksheets/sheet(\d+)\.xml$")
        sheets = sorted((int(m.group(1)), n) for n in names if (m := number.match(n)))
        for _number, name in sheets:
            row: list[str] = []
            for _event, el in _xml_events(archive, name, limits, budget):
                if el.tag == S + "c":
                    kind, value = el.get("t"), el.findtext(S + "v")
                    if kind == "s" and value is not None and value.isdigit() and int(value) < len(shared):
                        row.append(shared[int(value)])
                    elif kind == "inlineStr":
                        row.append("".join(t.text or "" for t in el.iter(S + "t")))
                    elif value is not None:
                        row.append(value)
                    el.clear(keep_tail=False)
                elif el.tag == S + "row":
                    budget.add(" ".join(v for v in row if v) + "\n")
                    row = []
                    el.clear(keep_tail=False)
                if budget.full:
                    return


def _pdf(data: bytes, limits: dict[str, Any], budget: Budget) -> None:
    import pypdf

    stream_bytes = int(limits["pdf_stream_bytes"])
    if hasattr(pypdf, "overwrite_configuration"):
        pypdf.overwrite_configuration(
            zlib_maximum_output_length=stream_bytes,
            lzw_maximum_output_length=stream_bytes,
            run_length_maximum_output_length=stream_bytes,
            maximum_declared_stream_length=stream_bytes,
            stream_decoding_work_maximum_length=stream_bytes * 2,
        )
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        pages = reader.pages
        count = len(pages)
    except Exception as exc:  # anything the parser refuses: the file is no PDF
        _emit({"problem": f"does not parse as a PDF ({type(exc).__name__}: {str(exc)[:120]})"})
        return
    if count < 1:
        _emit({"problem": "does not parse as a PDF (it has no pages)"})
        return
    _emit({"checked": True})
    for index in range(min(count, int(limits["pdf_pages"]))):
        try:
            budget.add((pages[index].extract_text() or "") + "\n")
        except pypdf.errors.LimitReachedError as exc:  # a decompression bomb inside the page
            _emit({"problem": f"a stream of page {index + 1} expands beyond the limit ({str(exc)[:120]})"})
            return
        if budget.full:
            break


READERS: dict[str, Callable[[bytes, dict[str, Any], Budget], None]] = {
    "docx": _docx,
    "xlsx": _xlsx,
    "pdf": _pdf,
}


def _peak_kb() -> int:
    """This process's peak resident memory (VmHWM: since exec, unlike ru_maxrss, which keeps the
    parent's at the fork)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            line = next((x for x in status if x.startswith("VmHWM:")), "VmHWM: 0 kB")
    except OSError:
        return 0
    return int(line.split()[1])


def _emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps({**message, "peak_kb": _peak_kb()}) + "\n")
    sys.stdout.flush()


def main() -> None:
    kind, limits = sys.argv[1], json.loads(sys.argv[2])
    memory = int(limits["memory_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(limits["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    data = sys.stdin.buffer.read()
    budget = Budget(int(limits["chars"]), float(limits["soft_seconds"]))
    try:
        READERS[kind](data, limits, budget)
    except MemoryError:
        os._exit(OUT_OF_MEMORY)  # the caller names the limit by this status
    except Exception as exc:  # the structure was checked: the text alone cannot be read
        _emit({"error": f"{type(exc).__name__}: {str(exc)[:200]}"})
        return
    _emit({"text": "".join(budget.parts), "cut": budget.full or budget.cut})


if __name__ == "__main__":
    main()
