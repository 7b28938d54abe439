"""The `cmkit` command: init a database from a configuration file, build the demo database."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from cmkit import cli_trust
from cmkit.errors import CMError


def _init(args: argparse.Namespace) -> int:
    from cmkit.connection import init

    url = init(args.url, args.config)
    print(f"cmkit database ready: {make_url(url).render_as_string(hide_password=True)}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from cmkit import demo
    from cmkit.connection import init
    from cmkit.db.engine import dispose_engines, engine_for, resolve_url

    url = resolve_url(args.url)
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and Path(path).exists():
            if not args.replace:
                print(f"{path} exists already; keeping it (use --replace to build it anew)")
                return 0
            dispose_engines()
            for suffix in ("", "-wal", "-shm"):
                Path(path + suffix).unlink(missing_ok=True)
    init(url, demo.DEMO_CONFIG)
    plan = demo.Plan(customers=args.customers, tickets=args.tickets)
    counts = demo.populate(engine_for(url), plan, progress=not args.quiet)
    print(
        f"demo database ready: {make_url(url).render_as_string(hide_password=True)} "
        f"({counts['customers']} customers, {counts['tickets']} tickets)"
    )
    return 0


def _runbook_list(args: argparse.Namespace) -> int:
    from cmkit.runbooks import RESERVED, list_runbooks

    for book in list_runbooks(args.dir):
        params = " ".join(f"{k}={v!r}" for k, v in book.parameters.items() if k not in RESERVED)
        print(f"{book.name:<24} {book.title}\n{'':<24} parameters: {params}")
    return 0


def _runbook_run(args: argparse.Namespace) -> int:
    from cmkit.runbooks import parse_value, run_runbook

    params = {key: parse_value(value, key) for key, value in args.parameter or []}
    result = run_runbook(
        args.name,
        params,
        url=args.url,
        runs_dir=args.runs,
        directory=args.dir,
        progress=not args.quiet,
        plan_only=args.plan_only,
    )
    return _report(result, args.name)


def _report(result: Any, name: str) -> int:
    print(f"run {result.run_id}: record {result.output}")
    if not result.ok:
        print(f"cmkit: runbook {name} failed: {result.error} (see {result.output})", file=sys.stderr)
        return 1
    if result.dry_run:
        if result.plan is not None:
            print(f"plan kept in {result.plan}; after review: cmkit runbook apply {result.output}")
        else:
            print(
                f"dry run: nothing changed; read the plan in {result.output}, then run again with -p dry_run false"
            )
    else:
        print(f"applied; its changes: cm.history(run_id={result.run_id!r})")
    return 0


def _runbook_apply(args: argparse.Namespace) -> int:
    from cmkit.runbooks import apply_record

    result = apply_record(
        args.record, url=args.url, runs_dir=args.runs, directory=args.dir, progress=not args.quiet
    )
    code = _report(result, "apply-plan")
    if code == 0:
        from cmkit.runbooks import record_text

        outcomes = [line for line in record_text(result.output) if line.startswith("plan ")]
        refused = [line for line in outcomes if ": R34:" in line]
        if refused:
            print(
                f"cmkit: {len(refused)} of {len(outcomes)} plan(s) refused (R34), each changing nothing; "
                f"the other {len(outcomes) - len(refused)} applied. Refused:\n  " + "\n  ".join(refused),
                file=sys.stderr,
            )
            return 1
    return code


def _revert(args: argparse.Namespace) -> int:
    import pandas as pd

    from cmkit.connection import connect

    cm = connect(args.url)
    outcome = cm.revert(
        args.run_id or None, args.audit_id, dry_run=not args.apply, skip_conflicts=args.skip_conflicts
    )
    with pd.option_context("display.width", 160, "display.max_colwidth", 60, "display.max_rows", 200):
        print(
            outcome.changes.drop(columns=["conflict"]).to_string(index=False)
            if len(outcome.changes)
            else "nothing to revert"
        )
    for problem in [c for c in outcome.changes["conflict"] if c]:
        print(" conflict:", problem)
    if outcome.applied:
        print(f"reverted in run {outcome.run_id}; revert that with: cmkit revert {outcome.run_id} --apply")
    else:
        print(
            f"dry run: nothing changed ({len(outcome.changes)} step(s)); apply with --apply"
            + (" --skip-conflicts" if outcome.problems else "")
        )
    return 0


def _add_runbook_parser(sub: Any) -> None:
    p = sub.add_parser("runbook", help="list or run the cleanup runbooks (notebooks run with papermill)")
    rsub = p.add_subparsers(dest="runbook_command", required=True)
    q = rsub.add_parser("list", help="the runbooks and their parameters")
    q.add_argument("--dir", help="runbook folder (default: notebooks/runbooks)")
    q.set_defaults(func=_runbook_list)
    q = rsub.add_parser("run", help="run one; the executed notebook is kept under runs/ as the record")
    q.add_argument("name", help="the runbook, e.g. merge-duplicates (see `cmkit runbook list`)")
    q.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("KEY", "VALUE"),
        help="a parameter, e.g. -p dry_run false (repeatable); values: true/false, none, a number, a text, "
        "or a list [...] or dict {...} of those",
    )
    q.add_argument("--url", help="database URL (default: $CMKIT_URL, else sqlite:///data/cmkit.db)")
    q.add_argument("--runs", default="runs", help="folder for the executed notebooks (default: runs)")
    q.add_argument("--dir", help="runbook folder (default: notebooks/runbooks)")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.add_argument(
        "--plan-only",
        action="store_true",
        help="a dry run that keeps its plan next to the record, for `cmkit runbook apply RECORD` (R34)",
    )
    q.set_defaults(func=_runbook_run)
    q = rsub.add_parser("apply", help="apply exactly the plan kept with a dry run's record (R34)")
    q.add_argument(
        "record", help="the dry run's record, e.g. runs/20260301T101500Z-merge-duplicates-3f9a1c.ipynb"
    )
    q.add_argument("--url", help="database URL (default: $CMKIT_URL, else sqlite:///data/cmkit.db)")
    q.add_argument("--runs", help="folder for the apply's record (default: the dry run record's folder)")
    q.add_argument("--dir", help="runbook folder (default: notebooks/runbooks)")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.set_defaults(func=_runbook_apply)


def _backup(args: argparse.Namespace) -> int:
    from cmkit.backup import backup
    from cmkit.backup_check import checksum_path

    path = backup(args.url, args.path, replace=args.replace)
    print(f"backup written: {path} ({path.stat().st_size:,} bytes)")
    if checksum_path(path).is_file():
        print(f"keyed checksum: {checksum_path(path)} (restore checks it while CMKIT_BACKUP_KEY is set)")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from cmkit.backup import restore

    revision = restore(args.url, args.path, replace=args.replace)
    print(f"restored {args.path} (schema revision {revision})")
    return 0


def _add_backup_parsers(sub: Any) -> None:
    url_help = "database URL (default: $CMKIT_URL, else sqlite:///data/cmkit.db)"
    p = sub.add_parser("backup", help="write a backup of the database to a file, while others keep working")
    p.add_argument("path", help="the backup file (SQLite: a database file; PostgreSQL: a pg_dump archive)")
    p.add_argument("--url", help=url_help)
    p.add_argument("--replace", action="store_true", help="overwrite an existing backup file")
    p.set_defaults(func=_backup)
    p = sub.add_parser("restore", help="restore a backup into the database (refuses a non-empty one)")
    p.add_argument("path", help="a file written by `cmkit backup`")
    p.add_argument("--url", help=url_help)
    p.add_argument(
        "--replace", action="store_true", help="replace all content of a database that is not empty"
    )
    p.set_defaults(func=_restore)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cmkit", description="Keep a helpdesk's central customer database clean."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("init", help="create or upgrade the schema and store a configuration")
    p.add_argument("--config", help="TOML configuration file")
    p.add_argument("--url", help="database URL (default: $CMKIT_URL, else sqlite:///data/cmkit.db)")
    p.set_defaults(func=_init)
    p = sub.add_parser("demo", help="build the demo database (default data/cmkit.db)")
    p.add_argument("--url", help="database URL (default: $CMKIT_URL, else sqlite:///data/cmkit.db)")
    p.add_argument("--customers", type=int, default=3_000, help="about how many customers (default 3000)")
    p.add_argument("--tickets", type=int, default=6_000, help="how many tickets (default 6000)")
    p.add_argument("--replace", action="store_true", help="build anew even if the SQLite file exists")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_demo)
    _add_runbook_parser(sub)
    _add_backup_parsers(sub)
    cli_trust.add_parsers(sub)
    p = sub.add_parser("revert", help="undo a run's changes from the audit log, newest first (R35)")
    p.add_argument("run_id", nargs="?", default="", help="the run id to revert (see its record, or history)")
    p.add_argument(
        "--audit-id", type=int, help="instead: revert the one operation that wrote this audit entry"
    )
    p.add_argument("--apply", action="store_true", help="revert (default: show the plan and its conflicts)")
    p.add_argument("--skip-conflicts", action="store_true", help="revert what can be; leave conflicting rows")
    p.add_argument("--url", help="database URL (default: $CMKIT_URL, else sqlite:///data/cmkit.db)")
    p.set_defaults(func=_revert)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CMError as exc:
        print(f"cmkit: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
