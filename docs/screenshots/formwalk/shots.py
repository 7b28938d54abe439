"""Screenshots of the forms' states that issue 17 (section 5) names, in JupyterLab in headless Chromium.

    python docs/screenshots/formwalk/shots.py SOURCE PREFIX [--lab-root notebooks|project]

SOURCE is a checkout of cmkit whose code the kernel imports (PYTHONPATH), PREFIX the screenshots' name
prefix (`before`, `after`). One JupyterLab over a scratch project (a fresh demo database, notebook 00 run
twice, the state notebook below), one browser, one run: every shot is a cell's output.
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
import tempfile
import time
import urllib.request
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
MAX_WIDTH = 900

SETUP = """
import datetime as dt
import cmkit
from cmkit.ui import *
cm = cmkit.connect()
def up(name, data):
    return {"name": name, "type": "application/octet-stream", "size": len(data), "content": memoryview(data),
            "last_modified": dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)}
shop = cm.create_company("retail", name="Blumen Berger GmbH", city="Köln")
anna = cm.create_contact("retail", company=shop.id, first_name="Anna", last_name="Berger", city="Köln")
bert = cm.create_contact("retail", company=shop.id, first_name="Bert", last_name="Berger")
carla = cm.create_contact("retail", company=shop.id, first_name="Carla", last_name="Berger")
dana = cm.create_contact("retail", company=shop.id, first_name="Dana", last_name="Berger")
emil = cm.create_contact("retail", company=shop.id, first_name="Emil", last_name="Berger")
gerd = cm.create_contact("retail", company=shop.id, first_name="Gerd", last_name="Berger")
t1 = cm.create_ticket(anna.id, "helpdesk", "Kasse geht nicht")
t2 = cm.create_ticket(bert.id, "helpdesk", "Rechnung fehlt", additional=[anna.id])
cm.deactivate(dana.id)
"""

#: name -> the cell that shows the state (its last line is displayed)
CELLS: dict[str, str] = {
    "1-upload-refused": """
p = CustomerPage(cm, anna.id)
p.details.selected_index = 1
p.details.attachments.upload.value = (up("werkzeug.exe", b"MZ\\x90\\x00\\x03"),)
p.details.attachments.add_button.click()
p""",
    "2-detail-fields-offered": """
s = SearchForm(cm)
s.detail.selected_index = 0
s.group.value, s.kind.value = "business", "contact"
s""",
    "2-detail-error-keeps-results": """
s2 = SearchForm(cm)
s2.detail.selected_index = 0
s2.group.value, s2.kind.value = "business", "company"
s2.fields[0].value, s2.values[0].value = "city", "Köln"
s2.detail_button.click()
s2.fields[1].value, s2.values[1].value = "employees", "viele"
s2.detail_button.click()
s2""",
    "3-detail-results-fields": """
s3 = SearchForm(cm)
s3.detail.selected_index = 0
s3.group.value, s3.kind.value = "retail", "contact"
s3.fields[0].value, s3.values[0].value = "city", "Köln"
s3.fields[1].value, s3.values[1].value = "last_name", "Berg*"
s3.detail_button.click()
s3""",
    "4-labels-change-company": """
ChangeCompanyForm(cm, anna.id)""",
    "4-labels-comments-dates": """
CommentsPanel(cm, anna.id)""",
    "4-labels-open-contact": """
p4 = CustomerPage(cm, shop.id)
p4.relation_box""",
    "5-names-transfer-preview": """
tf = TransferForm(cm, bert.id)
tf.target.pick(anna.id)
tf""",
    "5-names-deactivate-company": """
LifecycleForm(cm, shop.id, "deactivate")""",
    "5-names-comment-pending": """
cp = CommentsPanel(cm, carla.id)
for text in ("Rückruf erbeten", "Vertrag verlängert"):
    cp.new_text.value = text
    cp.add_button.click()
cp.choose.value = cp.choose.options[-1][1]
cp.delete_button.click()
cp""",
    "6-colours-activate-confirm": """
LifecycleForm(cm, dana.id, "reactivate")""",
    "6-colours-disabled-delete": """
CommentsPanel(cm, anna.id)""",
    "7-stale-after-delete": """
lf = LifecycleForm(cm, emil.id, "delete")
lf.confirm.yes.click()
lf""",
    "7-stale-edit-cancelled": """
p7 = CustomerPage(cm, carla.id)
p7.buttons["edit"].click()
p7.cancel_button.click()
p7.buttons["create_ticket"].click()
import ipywidgets as w
w.VBox([p7.header, p7.actions, p7.status, p7.action_area])""",
    "7-stale-page-after-delete": """
pg = CustomerPage(cm, gerd.id)
pg.buttons["delete"].click()
pg.form.confirm.yes.click()
pg""",
    "7-stale-print-links": """
p8 = CustomerPage(cm, carla.id)
p8.buttons["print"].click()
p8.buttons["edit"].click()
p8.inputs.inputs["city"].value = "Bonn"
p8.save_button.click()
import ipywidgets as w
w.VBox([p8.header, p8.status, p8.print_area, p8.body.children[0]])""",
    "8-activity-parameters": """
p9 = CustomerPage(cm, bert.id)
p9.activities.choose.value = "create_followup_ticket"
p9.activities""",
    "8-activity-run": """
before = len(cm.tickets(bert.id))
p9.activities.run_button.click()
print("tickets of Bert before Run:", before, "after Run:", len(cm.tickets(bert.id)))
p9.activities""",
    "11-pandas-protocol": """
cm.transfer_tickets(bert.id, carla.id)
cm.protocol(t2.id)""",
    "11-pandas-history": """
cm.history(customer_id=carla.id).tail(3)""",
    "11-pandas-tickets": """
cm.tickets(carla.id)""",
    "10-notebook-00-twice": """
cm.detail_search(name="Getting Started*", include_deactivated=True)""",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _notebook(path: Path) -> None:
    cells = [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": SETUP}]
    for name, src in CELLS.items():
        cells.append({"cell_type": "markdown", "metadata": {}, "source": f"shot {name}"})
        cells.append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": src})
    nb = {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))


def _small(path: Path) -> None:
    img = Image.open(path)
    if img.width > MAX_WIDTH:
        img = img.resize((MAX_WIDTH, round(img.height * MAX_WIDTH / img.width)), Image.LANCZOS)
    img.convert("RGB").quantize(colors=128).save(path, optimize=True)


def main() -> None:
    source, prefix = Path(sys.argv[1]).resolve(), sys.argv[2]
    lab_root = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--lab-root" else "notebooks"
    run = Path(tempfile.mkdtemp(prefix="cmkit-shots-"))
    project = run / "project"
    shutil.copytree(source / "notebooks", project / "notebooks")
    (project / "runs").mkdir()
    (project / "runs" / "20260101-merge-duplicates.ipynb").write_text(
        (source / "notebooks" / "runbooks" / "merge-duplicates.ipynb").read_text()
    )
    _notebook(project / "notebooks" / "formwalk-shots.ipynb")
    db = run / "cmkit.db"
    env = dict(os.environ, CMKIT_URL=f"sqlite:///{db}", PYTHONPATH=str(source), PYTHONDONTWRITEBYTECODE="1")
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")):
        env[var] = str(run / sub)
        (run / sub).mkdir()
    (run / "config" / "labconfig").mkdir()
    (run / "config" / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    py = sys.executable
    subprocess.run([py, "-m", "cmkit.cli", "demo", "--url", env["CMKIT_URL"], "--quiet"], env=env, check=True)
    for i in range(2):  # notebook 00 as a new user runs it: twice
        subprocess.run(
            [py, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--output", str(run / f"00-run{i}.ipynb"),
             str(project / "notebooks" / "00-getting-started.ipynb")],
            env=env, check=True, cwd=project / "notebooks", capture_output=True,
        )
    port, token = _free_port(), secrets.token_hex(8)
    root = project if lab_root == "project" else project / "notebooks"
    cmd = [py, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"]
    if lab_root == "project":
        cmd.append("--LabApp.default_url=/lab/tree/notebooks/00-getting-started.ipynb")
    log = (run / "lab.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    out = HERE
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
            )
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.set_default_timeout(60_000)
            # what `make lab` opens
            page.goto(f"{base}/?token={token}")  # the address `make lab` prints
            page.locator(".jp-DirListing-content").wait_for()
            time.sleep(4)
            page.screenshot(path=str(out / f"{prefix}-9-make-lab.png"))
            _small(out / f"{prefix}-9-make-lab.png")
            page.locator(".jp-BreadCrumbs-home").first.click()  # the root of Lab's file browser
            time.sleep(2)
            page.screenshot(path=str(out / f"{prefix}-9-make-lab-root.png"))
            _small(out / f"{prefix}-9-make-lab-root.png")
            # the states
            rel = "formwalk-shots.ipynb" if lab_root != "project" else "notebooks/formwalk-shots.ipynb"
            page.set_viewport_size({"width": 1300, "height": 2600})
            page.goto(f"{base}/lab/tree/{rel}?token={token}&reset")
            panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
            panel.locator(".jp-Notebook .jp-Cell").first.wait_for()
            page.locator(".jp-StatusBar-TextItem:has-text('Idle')").first.wait_for()
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            cells = panel.locator(".jp-Notebook .jp-CodeCell")
            last = cells.nth(len(CELLS))
            last.locator(".jp-OutputArea-output").first.wait_for(timeout=180_000)
            page.locator(".jp-StatusBar-TextItem:has-text('Idle')").first.wait_for(timeout=180_000)
            time.sleep(3)
            for i, name in enumerate(CELLS, start=1):
                area = cells.nth(i).locator(".jp-Cell-outputArea")
                area.scroll_into_view_if_needed()
                if name == "2-detail-fields-offered":  # show the field list as an open list box
                    sel = area.locator(".widget-dropdown select").nth(2)
                    sel.evaluate(
                        "s => { s.size = Math.min(s.options.length, 16); s.style.height = (s.size * 18 + 6) + 'px';"
                        " s.closest('.widget-dropdown').style.height = 'auto'; }"
                    )
                time.sleep(0.5)
                target = out / f"{prefix}-{name}.png"
                area.screenshot(path=str(target))
                _small(target)
                print("shot", target.name)
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(run, ignore_errors=True)


if __name__ == "__main__":
    main()
