"""The `cmkit` command: init a database from a configuration file, build the demo database."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import make_url

from cmkit.errors import CMError


def _init(args: argparse.Namespace) -> int:
    from cmkit.facade import init

    url = init(args.url, args.config)
    print(f"cmkit database ready: {make_url(url).render_as_string(hide_password=True)}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from cmkit import demo
    from cmkit.db.engine import resolve_url
    from cmkit.facade import dispose_engines, engine_for, init

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
    print(f"demo database ready: {make_url(url).render_as_string(hide_password=True)} "
          f"({counts['customers']} customers, {counts['tickets']} tickets)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cmkit", description="Keep a helpdesk's central customer database clean.")
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
