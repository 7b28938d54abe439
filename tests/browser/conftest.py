"""JupyterLab in headless Chromium: one Lab server per test module on a free 127.0.0.1 port, over a
temporary copy of notebooks/ and a fresh demo database; Debian's chromium when present, else Playwright's.

Without a browser the tests are skipped with the reason, unless CMKIT_REQUIRE_BROWSER=1 (CI): then they fail.
Screenshots go to test-artifacts/browser/ at the repository root.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import cmkit
from cmkit.db.engine import dispose_engines

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT = 90


def _no_browser(reason: str) -> None:
    if os.environ.get("CMKIT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"CMKIT_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    url: str
    token: str
    db_url: str
    notebooks: Path
    log: Path

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={self.token}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Lab]:
    """JupyterLab serving a copy of notebooks/ with CMKIT_URL on a fresh demo database; stopped (with its
    kernels) when the module's tests are done, not at the end of a long test session. A test module may
    ask for a bigger demo data set with DEMO_SIZE = ["--customers", "N", "--tickets", "M"], or name a demo
    database built before (an SQLite file, copied) with DEMO_DB."""
    run = tmp_path_factory.mktemp("lab")
    notebooks = run / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    db_url = f"sqlite:///{run / 'cmkit.db'}"
    size = list(getattr(request.module, "DEMO_SIZE", []))
    prebuilt = getattr(request.module, "DEMO_DB", None)  # a demo database built before (a big one)
    if prebuilt:
        shutil.copy(prebuilt, run / "cmkit.db")
    else:
        subprocess.run(
            [sys.executable, "-m", "cmkit.cli", "demo", "--url", db_url, "--quiet", *size],
            check=True,
            capture_output=True,
            timeout=600,
        )
    env = dict(os.environ, CMKIT_URL=db_url)
    for var, sub in (
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("IPYTHONDIR", "ipython"),
    ):
        env[var] = str(run / sub)
        (run / sub).mkdir()
    (run / "config" / "labconfig").mkdir()
    (run / "config" / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    port, token = _free_port(), secrets.token_hex(16)
    log = run / "lab.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={notebooks}",
        "--ServerApp.port_retries=0",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=notebooks, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"JupyterLab did not answer within {START_TIMEOUT}s:\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.3)
        yield Lab(base, token, db_url, notebooks, log)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        try:  # kernels the server started are in its process group
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium driven by Playwright (Debian's build when installed)."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        _no_browser("Playwright for Python is not installed (pip install playwright)")
    pw = sync_playwright().start()
    try:
        kw: dict[str, Any] = {"headless": True, "args": CHROMIUM_ARGS}
        if DEBIAN_CHROMIUM.exists():
            kw["executable_path"] = str(DEBIAN_CHROMIUM)
        try:
            chromium = pw.chromium.launch(**kw)
        except Error as exc:
            _no_browser(
                f"no Chromium could be started (apt-get install chromium, or playwright install chromium): "
                f"{str(exc).splitlines()[0]}"
            )
        yield chromium
        chromium.close()
    finally:
        pw.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture
def page(browser: Any, lab: Lab, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser tab; on failure its screenshot is kept as FAILED-<test>.png."""
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    context.set_default_timeout(20_000)
    p = context.new_page()
    yield p
    if request.node.stash.get(FAILED, False):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        p.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}.png"), full_page=True)
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def cm(lab: Lab) -> Iterator[Any]:
    """The test's own connection to the Lab's demo database, to pick customers and check what was stored."""
    conn = cmkit.connect(lab.db_url)
    yield conn
    dispose_engines()
