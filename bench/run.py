"""Run the benchmark: workloads drawn from the database (seeded), each item timed through cmkit and by
the raw lower bound in turn (alternating which goes first), then a table and a JSON file."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import make_url

import cmkit
from bench import duplicates, setup
from bench.raw import Raw
from cmkit.db.engine import engine_for

RESULTS = Path(__file__).with_name("results")
# p95 targets on SQLite (ms), from the issue; every cmkit figure should be within 2x of its raw bound
TARGETS = {
    "autocomplete": 1.0,
    "quick search, one word": 2.0,
    "detail search": 5.0,
    "transfer 100k tickets": 1000.0,
    "deactivate company, 10k contacts": 100.0,
    "frame() of all customers": 2000.0,
}  # frame(): "at most 2 s" (the item 4)
MAX_RATIO = 2.0


def _sample(url: str, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` random active customers: (id, kind, group, name, data)."""
    engine = engine_for(url)
    rnd = random.Random(seed)
    with engine.connect() as conn:
        top = conn.execute(sa.text("SELECT max(id) FROM customers")).scalar_one()
        ids = sorted({rnd.randint(1, top) for _ in range(n * 2)})
        sql = (
            "SELECT c.id, c.kind, g.name, c.name, c.data FROM customers c "  # noqa: S608 - ints only
            "JOIN customer_groups g ON g.id = c.group_id WHERE c.active AND c.id IN ("
            + ", ".join(map(str, ids))
            + ")"
        )
        rows = conn.execute(sa.text(sql)).all()
    out = [
        {
            "id": r[0],
            "kind": r[1],
            "group": r[2],
            "name": r[3],
            "data": json.loads(r[4]) if isinstance(r[4], str) else r[4],
        }
        for r in rows
    ]
    rnd.shuffle(out)
    return out[:n]


def workloads(url: str, n: int, seed: int = 20261127) -> dict[str, list[Any]]:
    """The query texts and criteria of each search workload, drawn from the data (deterministic)."""
    rnd = random.Random(seed)
    people = [p for p in _sample(url, n * 3, seed) if not p["name"].startswith(("Bench ", "Mitarbeiter "))]
    contacts = [p for p in people if p["kind"] == "contact" and p["data"].get("first_name")]
    auto, one, two, detail = [], [], [], []
    for p in people[:n]:
        word = rnd.choice(p["name"].split())
        auto.append(word[: rnd.choice([1, 2, 2, 3, 3, 3, 4, 4, 5, 6])])
        city = p["data"].get("city")
        one.append(city if city and rnd.random() < 0.15 else p["data"].get("last_name") or word)
    for p in (contacts * 3)[:n]:
        two.append(f"{p['data']['first_name']} {p['data']['last_name'][: rnd.choice([2, 3, 4])]}")
        detail.append(
            (p["group"], {"last_name": p["data"]["last_name"], "first_name": p["data"]["first_name"]})
        )
    return {
        "autocomplete": auto,
        "quick search, one word": one,
        "quick search, two words": two,
        "detail search": detail,
    }


def _stats(ms: list[float]) -> dict[str, float]:
    a = np.array(ms)
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "n": len(ms)}


def _pair(
    items: list[Any], cm_call: Callable[[Any], Any], raw_call: Callable[[Any], Any], warmup: int
) -> tuple[list[float], list[float]]:
    """Time every item through cmkit and through the raw bound, alternating which runs first."""
    for item in items[:warmup]:
        cm_call(item)
        raw_call(item)
    a, b = [], []
    for i, item in enumerate(items):
        order = ((cm_call, a), (raw_call, b)) if i % 2 == 0 else ((raw_call, b), (cm_call, a))
        for call, out in order:
            t = time.perf_counter()
            call(item)
            out.append((time.perf_counter() - t) * 1000)
    return a, b


def run(
    url: str,
    customers: int,
    tickets: int,
    queries: int,
    rounds: int,
    only: list[str] | None = None,
    *,
    login: str | None = None,
) -> dict[str, Any]:
    """Time every operation (or those whose name starts with one of `only`); each line is printed as
    soon as it is measured. With `login` (PostgreSQL), cmkit and the raw bound act as that login, which
    holds every permission but does not own the schema: row-level security and the guard triggers apply."""
    setup.build(url, customers, tickets)
    sc = setup.scenario(url)
    setup.settle(url)
    acting = setup.full_login(url, login) if login else url
    cm = cmkit.connect(acting)
    raw = Raw(acting)
    gids = [cm.group_id(g) for g in cm.readable_groups()]
    results: dict[str, Any] = {}
    dialect = make_url(url).get_backend_name()

    def wanted(name: str) -> bool:
        return not only or any(name.startswith(o) for o in only)

    def done(name: str, result: dict[str, Any]) -> None:
        results[name] = result
        print(table({name: result}, dialect).splitlines()[-1], flush=True)

    work = workloads(url, queries)
    print(f"timing {queries} queries per search and {rounds} rounds per bulk operation ...")
    print(table({}, dialect).splitlines()[0], flush=True)
    # the raw bound's statements are built before its clock starts
    searches: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
        "autocomplete": (cm.autocomplete, lambda t: raw.autocomplete(t, gids)),
        "quick search, one word": (cm.quick_search, lambda t: raw.quick(t, gids)),
        "quick search, two words": (cm.quick_search, lambda t: raw.quick(t, gids)),
        "detail search": (
            lambda d: cm.detail_search(group=d[0], **d[1]),
            lambda d: raw.detail(d[1], [cm.group_id(d[0])], None),
        ),
    }
    for name, (cm_call, build) in searches.items():
        if not wanted(name):
            continue
        items = list(enumerate(work[name]))
        stmts = {i: build(item) for i, item in items}
        a, b = _pair(
            items,
            lambda x, f=cm_call: f(x[1]),
            lambda x, s=stmts: raw.run(s[x[0]]),
            warmup=min(100, len(items)),
        )
        done(name, {"cmkit": _stats(a), "raw": _stats(b)})

    names = {sc.source: setup.SOURCE, sc.target: setup.TARGET}
    at = [sc.source]

    def transfer(by_cmkit: bool) -> None:
        src = at[0]
        dst = sc.target if src == sc.source else sc.source
        cm.transfer_tickets(src, dst, only_open=False) if by_cmkit else raw.transfer(src, dst, names)
        at[0] = dst

    if wanted("transfer"):
        a, b = _pair(list(range(rounds)), lambda _: transfer(True), lambda _: transfer(False), warmup=1)
        done("transfer 100k tickets", {"cmkit": _stats(a), "raw": _stats(b), "tickets": sc.transfer_tickets})

    def deactivate(by_cmkit: bool) -> float:
        t = time.perf_counter()
        cm.deactivate(sc.company) if by_cmkit else raw.deactivate(sc.company)
        ms = (time.perf_counter() - t) * 1000
        setup.restore_company(url, sc.company)  # not timed
        return ms

    if wanted("deactivate"):
        a, b = [], []
        for i in range(rounds + 1):  # the first round warms up
            for by_cmkit in (True, False) if i % 2 == 0 else (False, True):
                ms = deactivate(by_cmkit)
                if i:
                    (a if by_cmkit else b).append(ms)
        done(
            "deactivate company, 10k contacts",
            {"cmkit": _stats(a), "raw": _stats(b), "contacts": sc.contacts},
        )
    if wanted("frame() of all customers"):
        a, b = [], []
        for i in range(max(3, rounds // 2) + 1):  # the first round warms up
            t = time.perf_counter()
            cm.frame()
            ms = (time.perf_counter() - t) * 1000
            raw_ms = raw.frame()  # the bound times itself (on SQLite it runs in a child process)
            if i:
                a.append(ms)
                b.append(raw_ms)
        done("frame() of all customers", {"cmkit": _stats(a), "raw": _stats(b)})
    if wanted("find_duplicates"):  # no raw bound: its own line, time and peak memory of a child process
        dups = duplicates.measure(url)
        results["find_duplicates"] = dups
        print(duplicates.line(dups), flush=True)
    raw.close()
    return results


def table(results: dict[str, Any], dialect: str) -> str:
    head = (
        f"{'operation':36s} {'n':>5s} {'cmkit p50':>10s} {'cmkit p95':>10s} {'raw p50':>9s} {'raw p95':>9s} "
        f"{'ratio p50':>9s} {'ratio p95':>9s}  {'target p95':>10s}  ok"
    )
    lines = [head, "-" * len(head)]
    for name, r in results.items():
        if "raw" not in r:  # find_duplicates: a line of its own
            continue
        c, w = r["cmkit"], r["raw"]
        r50, r95 = c["p50"] / w["p50"], c["p95"] / w["p95"]
        target = TARGETS.get(name)
        ok = max(r50, r95) <= MAX_RATIO and (target is None or dialect != "sqlite" or c["p95"] <= target)
        r.update(ratio_p50=r50, ratio_p95=r95, target_p95_ms=target, ok=ok)
        unit = lambda v: f"{v:8.2f}ms" if v < 1000 else f"{v / 1000:8.2f} s"  # noqa: E731
        # the targets are SQLite's; elsewhere the column shows them for comparison, in brackets
        tgt = (f"<= {target:g} ms" if target < 1000 else f"<= {target / 1000:g} s") if target else "-"
        tgt = tgt if dialect == "sqlite" or not target else f"({tgt})"
        lines.append(
            f"{name:36s} {c['n']:5d} {unit(c['p50']):>10s} {unit(c['p95']):>10s} {unit(w['p50']):>9s} "
            f"{unit(w['p95']):>9s} {r50:8.2f}x {r95:8.2f}x  {tgt:>10s}  {'yes' if ok else 'NO'}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--tickets", type=int, default=3_000_000)
    p.add_argument("--url", help="database URL (default: a cached SQLite file under bench/data/)")
    p.add_argument("--queries", type=int, default=1000, help="timed queries per search (default 1000)")
    p.add_argument("--rounds", type=int, default=10, help="timed rounds of transfer and deactivation")
    p.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="time only the operations whose name starts with NAME (may be repeated)",
    )
    p.add_argument(
        "--login",
        metavar="NAME",
        help="PostgreSQL: act as login NAME holding every permission, not as the owner (row-level security applies)",
    )
    p.add_argument("--out", help="JSON file to write (default bench/results/<database>-<time>.json)")
    args = p.parse_args(argv)
    url = args.url or setup.default_url(args.customers, args.tickets)
    dialect = make_url(url).get_backend_name()
    results = run(url, args.customers, args.tickets, args.queries, args.rounds, args.only, login=args.login)
    text = table(results, dialect)
    if "find_duplicates" in results:
        text += "\n\n" + duplicates.line(results["find_duplicates"])
    print(
        f"\ncmkit benchmark on {dialect}: {args.customers} customers, {args.tickets} tickets "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)\n{text}"
    )
    RESULTS.mkdir(exist_ok=True)
    out = Path(args.out) if args.out else RESULTS / f"{dialect}-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    report = {
        "database": dialect,
        "url": make_url(url).render_as_string(hide_password=True),
        "customers": args.customers,
        "tickets": args.tickets,
        "queries": args.queries,
        "rounds": args.rounds,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "python": platform.python_version(),
        },
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "results": results,
        "table": text,
    }
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwritten to {out}")
    return 0
