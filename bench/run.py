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
from cmkit.db import checkpoints
from cmkit.db.engine import engine_for

RESULTS = Path(__file__).with_name("results")
#: the PostgreSQL database `make bench` times too, when it answers (`--url` names others instead)
POSTGRES_URL = os.environ.get(
    "CMKIT_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1/cmkit_bench"
)
#: p95 targets (ms) per database, 1M customers / 3M tickets on the 2-core build machine
TARGETS = {
    "sqlite": {
        "autocomplete": 0.5,
        "quick search, one word": 2.0,
        "detail search": 3.0,
        "transfer 100k tickets": 1000.0,
        "deactivate company, 10k contacts": 100.0,
        "frame() of all customers": 2000.0,
        "find_duplicates": 60_000.0,
    },
    "postgresql": {
        "autocomplete": 2.0,
        "quick search, one word": 5.0,
        "detail search": 5.0,
        "transfer 100k tickets": 1500.0,
        "deactivate company, 10k contacts": 150.0,
        "frame() of all customers": 2000.0,
        "find_duplicates": 60_000.0,
    },
}
#: every cmkit figure should be within this factor of its raw bound (p50 and p95)
MAX_RATIO = 1.5


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
            # SQLite: cmkit checkpoints the log after its commit, in the background; it is done before the
            # next item is timed, so that neither that item nor the raw bound pays for it
            checkpoints.settle()
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
    fresh: bool = False,
) -> dict[str, Any]:
    """Time every operation (or those whose name starts with one of `only`); each line is printed as
    soon as it is measured. With `login` (PostgreSQL), cmkit and the raw bound act as that login, which
    holds every permission but does not own the schema: row-level security and the guard triggers apply.
    `fresh`: the database is built anew first (see main's --fresh)."""
    if fresh:
        setup.drop(url)
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
        checkpoints.settle()  # see _pair
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
        print(duplicates_line(dups, dialect), flush=True)
    raw.close()
    return results


def _unit(ms: float) -> str:
    return f"{ms:8.2f}ms" if ms < 1000 else f"{ms / 1000:8.2f} s"


def _target(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"<= {ms:g} ms" if ms < 1000 else f"<= {ms / 1000:g} s"


def table(results: dict[str, Any], dialect: str) -> str:
    """The table of one database's results; marks each line `ok` (within MAX_RATIO of its raw bound and
    at most its target) and adds the ratios and the verdict to `results`."""
    head = (
        f"{'operation':36s} {'n':>5s} {'cmkit p50':>10s} {'cmkit p95':>10s} {'raw p50':>9s} {'raw p95':>9s} "
        f"{'ratio p50':>9s} {'ratio p95':>9s}  {'target p95':>10s}  ok"
    )
    lines = [head, "-" * len(head)]
    targets = TARGETS.get(dialect, {})
    for name, r in results.items():
        if "raw" not in r:  # find_duplicates: a line of its own
            continue
        c, w = r["cmkit"], r["raw"]
        r50, r95 = c["p50"] / w["p50"], c["p95"] / w["p95"]
        target = targets.get(name)
        ok = max(r50, r95) <= MAX_RATIO and (target is None or c["p95"] <= target)
        r.update(ratio_p50=r50, ratio_p95=r95, target_p95_ms=target, ok=ok)
        lines.append(
            f"{name:36s} {c['n']:5d} {_unit(c['p50']):>10s} {_unit(c['p95']):>10s} {_unit(w['p50']):>9s} "
            f"{_unit(w['p95']):>9s} {r50:8.2f}x {r95:8.2f}x  {_target(target):>10s}  {'yes' if ok else 'NO'}"
        )
    return "\n".join(lines)


def duplicates_line(r: dict[str, Any], dialect: str) -> str:
    """find_duplicates' line, marked against its targets (time, and at most 2 GB peak memory)."""
    target = TARGETS.get(dialect, {}).get("find_duplicates")
    ok = (target is None or r["seconds"] * 1000 <= target) and r["peak_rss_gb"] <= duplicates.MAX_GB
    r.update(target_seconds=target and target / 1000, ok=ok)
    return f"{duplicates.line(r)}  ok: {'yes' if ok else 'NO'}"


def comparison(reports: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """Each operation's cmkit p95 on every database timed, side by side, with PostgreSQL's over SQLite's."""
    names: list[str] = []
    for report in reports.values():
        names += [n for n in report["results"] if n not in names]
    dbs = list(reports)
    head = f"{'operation (cmkit p95)':36s} " + " ".join(f"{d:>11s}" for d in dbs)
    both = "sqlite" in reports and "postgresql" in reports
    head += f" {'pg / sqlite':>11s}" if both else ""
    lines, out = [head, "-" * len(head)], {}
    for name in names:
        p95 = {}
        for d in dbs:
            r = reports[d]["results"].get(name)
            if r is not None:
                p95[d] = r["seconds"] * 1000 if name == "find_duplicates" else r["cmkit"]["p95"]
        cells = " ".join(f"{_unit(p95[d]) if d in p95 else '-':>11s}" for d in dbs)
        entry: dict[str, Any] = {"p95_ms": p95}
        if both and "sqlite" in p95 and "postgresql" in p95:
            entry["postgresql_over_sqlite"] = p95["postgresql"] / p95["sqlite"]
            cells += f" {entry['postgresql_over_sqlite']:10.2f}x"
        lines.append(f"{name:36s} {cells}")
        out[name] = entry
    return "\n".join(lines), out


def _answers(url: str) -> bool:
    """Whether the PostgreSQL server of `url` takes connections (its `postgres` database)."""
    admin = sa.create_engine(make_url(url).set(database="postgres"), connect_args={"connect_timeout": 3})
    try:
        with admin.connect():
            return True
    except Exception:  # noqa: BLE001 - any failure means: not there, time SQLite alone
        return False
    finally:
        admin.dispose()


def _urls(args: argparse.Namespace) -> list[str]:
    if args.url:
        return list(args.url)
    urls = [setup.default_url(args.customers, args.tickets)]
    if args.postgres and _answers(POSTGRES_URL):
        urls.append(POSTGRES_URL)
    elif args.postgres:
        print(f"PostgreSQL does not answer at {POSTGRES_URL}: timing SQLite alone")
    return urls


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--tickets", type=int, default=3_000_000)
    p.add_argument(
        "--url",
        action="append",
        help="database URL, may be repeated (default: a cached SQLite file under bench/data/ and, when it "
        "answers, PostgreSQL at $CMKIT_BENCH_POSTGRES_URL or " + POSTGRES_URL + ")",
    )
    p.add_argument(
        "--no-postgres", dest="postgres", action="store_false", help="without --url: time SQLite alone"
    )
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
    p.add_argument(
        "--fresh",
        action="store_true",
        help="build the benchmark databases anew before timing: every run adds 10 transfers of 100,000 "
        "tickets and 10 deactivations to their protocol and audit log, which slows the next runs' bulk "
        "operations (cmkit's and the raw bound's alike)",
    )
    p.add_argument("--out", help="JSON file to write (default bench/results/bench-<time>.json)")
    args = p.parse_args(argv)
    reports: dict[str, dict[str, Any]] = {}
    texts = []
    for url in _urls(args):
        dialect = make_url(url).get_backend_name()
        print(f"\n== {dialect}: {make_url(url).render_as_string(hide_password=True)}", flush=True)
        login = args.login if dialect == "postgresql" else None
        results = run(
            url,
            args.customers,
            args.tickets,
            args.queries,
            args.rounds,
            args.only,
            login=login,
            fresh=args.fresh,
        )
        text = table(results, dialect)
        if "find_duplicates" in results:
            text += "\n\n" + duplicates_line(results["find_duplicates"], dialect)
        load = os.getloadavg()
        texts.append(
            f"cmkit benchmark on {dialect} (load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}):\n{text}"
        )
        reports[dialect] = {
            "url": make_url(url).render_as_string(hide_password=True),
            "load_average": load,
            "results": results,
            "table": text,
        }
    compared, ratios = comparison(reports)
    print(
        f"\n{args.customers} customers, {args.tickets} tickets, {os.cpu_count()} cores; "
        f"targets are p95, ratios cmkit over raw (at most {MAX_RATIO:g}x)\n\n"
        + "\n\n".join(texts)
        + f"\n\n{compared}"
    )
    RESULTS.mkdir(exist_ok=True)
    out = Path(args.out) if args.out else RESULTS / f"bench-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    report = {
        "customers": args.customers,
        "tickets": args.tickets,
        "queries": args.queries,
        "rounds": args.rounds,
        "max_ratio": MAX_RATIO,
        "targets_p95_ms": {d: TARGETS.get(d, {}) for d in reports},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "databases": reports,
        "comparison": ratios,
        "comparison_table": compared,
    }
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwritten to {out}")
    return 0
