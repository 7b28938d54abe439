"""Reading a PDF, docx or xlsx attachment in a child process with hard limits (R9).

The parsers run in `extract_child.py`, a separate Python process that limits its own address space and
CPU time before it reads a byte; the caller kills it after a wall-clock limit as well. Inside it the
reading is budgeted (characters, decompressed bytes, pages, a soft deadline), so an ordinary file ends
well within the limits and a hostile one costs at most LIMITS (measured: tests/test_hostile_files.py).
Why a process: only the operating system can stop a parser that allocates in C or loops without
returning, and only a process it can end gives all its memory back.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHILD = Path(__file__).with_name("extract_child.py")
MB = 1_000_000
#: the hard limits of one file's child process, and the budgets of its reading
LIMITS: dict[str, Any] = {
    "memory_bytes": 384 * 2**20,  # address space of the child (RLIMIT_AS)
    "cpu_seconds": 2,  # CPU time of the child (RLIMIT_CPU)
    "soft_seconds": 1.0,  # reading stops here and keeps the text so far
    "chars": 1_000_000,  # characters of text kept (attachments.TEXT_MAX)
    "xml_bytes": 50 * MB,  # decompressed bytes read of one XML part
    "pdf_pages": 2_000,  # pages read of a PDF
    "pdf_stream_bytes": 20 * MB,  # decompressed bytes of one PDF stream; more is a bomb
}
WALL_SECONDS = 10.0  # the caller kills the child after this (a hang that uses no CPU)
OUT_OF_MEMORY = 3  # the child's exit status when it ran out of its address space


@dataclass(frozen=True)
class Reading:
    """What the child found: a `problem` (the file is refused), or `text` (None: stored without text,
    `note` says why), with the child's peak memory and the time it took."""

    problem: str | None
    text: str | None
    note: str
    peak_kb: int
    seconds: float


def _limits_text() -> str:
    return f"{LIMITS['cpu_seconds']} s and {LIMITS['memory_bytes'] // 2**20} MB"


def read_file(file_type: str, data: bytes) -> Reading:
    """Check the structure of `data` (a PDF must parse) and read its text, in a limited child process."""
    started = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603 - our own script, run by this interpreter
        [sys.executable, "-I", str(CHILD), file_type, json.dumps(LIMITS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    timer = threading.Timer(WALL_SECONDS, proc.kill)
    timer.start()
    try:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(data)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the child ended early: its status says why
        out = proc.stdout.read()
        proc.stdout.close()
        proc.wait()
    finally:
        timer.cancel()
        if proc.returncode is None:
            proc.kill()
            proc.wait()
    return _verdict(out, proc.returncode, time.monotonic() - started)


def _verdict(out: bytes, code: int, seconds: float) -> Reading:
    messages: list[dict[str, Any]] = []
    for line in out.splitlines():
        try:
            messages.append(json.loads(line))
        except ValueError:
            continue
    peak_kb = max((int(m.get("peak_kb", 0)) for m in messages), default=0)
    problem = next((str(m["problem"]) for m in messages if "problem" in m), None)
    if problem:
        return Reading(problem, None, "", peak_kb, seconds)
    text = next((m for m in messages if "text" in m), None)
    if text is not None:
        note = "text cut at the reading budget" if text.get("cut") else ""
        return Reading(None, str(text["text"]), note, peak_kb, seconds)
    if code == OUT_OF_MEMORY:
        why = f"reading it needs more than {LIMITS['memory_bytes'] // 2**20} MB"
    elif code in (-signal.SIGXCPU, -signal.SIGKILL):
        why = f"reading it takes longer than {LIMITS['cpu_seconds']} s"
    else:
        why = next((str(m["error"]) for m in messages if "error" in m), f"the reader stopped ({code})")
    if any(m.get("checked") for m in messages):
        return Reading(None, None, f"its text could not be read: {why}", peak_kb, seconds)
    return Reading(
        f"could not be checked within {_limits_text()} ({why}); cmkit refuses files it cannot check",
        None,
        "",
        peak_kb,
        seconds,
    )
