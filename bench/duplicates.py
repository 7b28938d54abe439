"""find_duplicates over every customer of the benchmark database, in a child process so that its time and
peak memory (VmHWM) are its own; recall on planted duplicates.

Planted duplicates: copies of random active customers made through cmkit, each with one change a
customer entered twice shows (a typo in the last name, "ue" for "ü", first and last name swapped, the
e-mail address in capitals, another legal form), the rest of the data as the original's. They are planted
once per database; their pairs are kept in bench/results/planted-<database>.json.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

import cmkit
from cmkit.db.engine import engine_for
from cmkit.demo_words import FORMS

RESULTS = Path(__file__).with_name("results")
PER_KIND = 50
CHILD = """
import json, resource, sys, time
import cmkit
url, planted = sys.argv[1], json.load(open(sys.argv[2]))
cm = cmkit.connect(url)
start = time.perf_counter()
pairs = cm.find_duplicates()
seconds = time.perf_counter() - start
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
found = set(zip(pairs["id_a"].tolist(), pairs["id_b"].tolist()))
kinds = {}
for a, b, kind in planted:
    k = kinds.setdefault(kind, [0, 0])
    k[0] += (min(a, b), max(a, b)) in found
    k[1] += 1
print(json.dumps({
    "seconds": seconds,
    "peak_rss_gb": int(status["VmHWM"].split()[0]) / 1e6,
    "pairs": len(pairs),
    "clusters": int(pairs["cluster"].nunique()),
    "flagged_pairs": int((pairs["note"] != "").sum()),
    "recall": {k: f"{v[0]}/{v[1]}" for k, v in kinds.items()},
    "found_planted": sum(v[0] for v in kinds.values()),
    "planted": len(planted),
    "top_reasons": pairs["reason"].value_counts().head(8).to_dict(),
    "by_group_kind": {f"{g}/{k}": int(n) for (g, k), n in pairs.groupby(["group", "kind"]).size().items()},
}))
"""


#: find_duplicates over all customers should stay within this peak memory (GB)
MAX_GB = 2.0


def _typo(text: str) -> str:
    return text[:2] + text[3] + text[2] + text[4:] if len(text) > 4 else text + "e"


def _other_form(name: str) -> str:
    """The company's name with another legal form (GmbH for one without)."""
    for form in sorted(FORMS, key=len, reverse=True):
        if name.endswith(" " + form):
            return name[: -len(form)] + ("GmbH" if form == "AG" else "AG")
    return name + " GmbH"


CHANGES: dict[str, tuple[Callable[[dict[str, Any]], bool], Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "typo": (lambda d: len(d.get("last_name", "")) > 4, lambda d: {"last_name": _typo(d["last_name"])}),
    "ü/ue": (
        lambda d: "ü" in d.get("last_name", ""),
        lambda d: {"last_name": d["last_name"].replace("ü", "ue")},
    ),
    "swapped names": (
        lambda d: bool(d.get("first_name")),
        lambda d: {"first_name": d["last_name"], "last_name": d["first_name"]},
    ),
    "e-mail case": (lambda d: "@" in str(d.get("email")), lambda d: {"email": d["email"].upper()}),
    "legal form": (lambda d: bool(d.get("name")), lambda d: {"name": _other_form(d["name"])}),
}


def _planted_file(url: str) -> Path:
    parsed = make_url(url)
    return RESULTS / f"planted-{parsed.get_backend_name()}-{Path(parsed.database or 'db').stem}.json"


def plant(url: str, per_kind: int = PER_KIND, seed: int = 11) -> list[tuple[int, int, str]]:
    """(original id, copy id, kind of change) of the planted duplicates: planted now unless they are."""
    path = _planted_file(url)
    engine = engine_for(url)
    if path.exists():
        planted = [tuple(p) for p in json.loads(path.read_text())]
        with engine.connect() as conn:
            have = conn.execute(
                sa.text("SELECT count(*) FROM customers WHERE id IN :ids").bindparams(
                    sa.bindparam("ids", expanding=True)
                ),
                {"ids": [p[1] for p in planted]},
            ).scalar_one()
        if have == len(planted):
            return planted  # type: ignore[return-value]
    rnd = random.Random(seed)
    with engine.connect() as conn:
        top = conn.execute(sa.text("SELECT max(id) FROM customers")).scalar_one()
        ids = sorted({rnd.randint(1, top) for _ in range(40_000)})
        rows = conn.execute(
            sa.text(
                "SELECT c.id, c.kind, g.name, c.company_id, c.data FROM customers c "
                "JOIN customer_groups g ON g.id = c.group_id WHERE c.active AND c.id IN :ids"
            ).bindparams(sa.bindparam("ids", expanding=True)),
            {"ids": ids},
        ).all()
    cm = cmkit.connect(url)
    planted: list[tuple[int, int, str]] = []
    rnd.shuffle(rows)
    for kind, (fits, change) in CHANGES.items():
        chosen = [
            r
            for r in rows
            if r[1] == ("company" if kind == "legal form" else "contact")
            and fits(json.loads(r[4]) if isinstance(r[4], str) else r[4])
            and not str((json.loads(r[4]) if isinstance(r[4], str) else r[4]).get("name", "")).startswith(
                "Bench"
            )
        ][:per_kind]
        for cid, ckind, group, company, raw in chosen:
            data = json.loads(raw) if isinstance(raw, str) else dict(raw)
            data.update(change(data))
            copy = (
                cm.create_company(group, **data)
                if ckind == "company"
                else cm.create_contact(group, company=company, **data)
            )
            planted.append((int(cid), int(copy.id), kind))
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(planted))
    return planted


def measure(url: str) -> dict[str, Any]:
    """Plant (once), then run find_duplicates over every customer in a child process: its figures."""
    plant(url)
    path = _planted_file(url)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(path)], capture_output=True, text=True, check=True
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def line(r: dict[str, Any]) -> str:
    recall = ", ".join(f"{k} {v}" for k, v in r["recall"].items())
    return (
        f"find_duplicates, all customers: {r['seconds']:.1f} s, peak {r['peak_rss_gb']:.2f} GB, "
        f"{r['pairs']} pairs in {r['clusters']} clusters ({r['flagged_pairs']} pairs flagged), "
        f"planted found {r['found_planted']}/{r['planted']} ({recall})"
    )
