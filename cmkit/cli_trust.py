"""`cmkit user add|remove|list` and `cmkit verify` (R31-R33). Passwords come from a prompt, never argv."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from cmkit.errors import CMError

URL_HELP = "database URL (default: $CMKIT_URL, else sqlite:///data/cmkit.db)"


def _connect(args: argparse.Namespace) -> Any:
    from cmkit.connection import connect

    return connect(args.url)


def _password() -> str:
    first = getpass.getpass("password: ")
    if first != getpass.getpass("password again: "):
        raise CMError("the two passwords differ; nothing was changed")
    return first


def _user_add(args: argparse.Namespace) -> int:
    password = _password() if args.password_prompt else None
    table = _connect(args).add_user(args.name, args.role, password=password)
    print(table.to_string(index=False))
    return 0


def _user_remove(args: argparse.Namespace) -> int:
    print(_connect(args).remove_user(args.name).to_string(index=False))
    return 0


def _user_list(args: argparse.Namespace) -> int:
    print(_connect(args).users().to_string(index=False))
    return 0


def _verify(args: argparse.Namespace) -> int:
    check = _connect(args).verify_audit(anchor=args.anchor)
    if check.ok:
        print(f"audit chain holds: {check.entries} entries, head {check.head}")
        return 0
    print(f"audit chain broken at entry #{check.first_bad}: {check.reason}", file=sys.stderr)
    print(f"checked {check.entries} entries; the last that held has hash {check.head}", file=sys.stderr)
    return 1


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("user", help="the users of the database and their logins (owner only)")
    usub = p.add_subparsers(dest="user_command", required=True)
    q = usub.add_parser("add", help="add a user (a PostgreSQL login with its roles), or change its roles")
    q.add_argument("name", help="the login name")
    q.add_argument("--role", action="append", required=True, help="a role of the configuration (repeatable)")
    q.add_argument("--password-prompt", action="store_true", help="set the login's password (asked for)")
    q.add_argument("--url", help=URL_HELP)
    q.set_defaults(func=_user_add)
    q = usub.add_parser("remove", help="remove a user and its login; its audit entries stay")
    q.add_argument("name")
    q.add_argument("--url", help=URL_HELP)
    q.set_defaults(func=_user_remove)
    q = usub.add_parser("list", help="the users, their roles and whether each is a login")
    q.add_argument("--url", help=URL_HELP)
    q.set_defaults(func=_user_list)
    p = sub.add_parser(
        "verify", help="recompute the audit chain; exit 1 when an entry was changed or removed"
    )
    p.add_argument(
        "--anchor", help="a head recorded earlier (by a runbook run) that must still be on the chain"
    )
    p.add_argument("--url", help=URL_HELP)
    p.set_defaults(func=_verify)
