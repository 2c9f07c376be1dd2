"""``python -m analytics users {add,list,disable,enable,unlock}``: local sign-in accounts.

``users add NAME --role ROLE`` asks for the password twice on the terminal, or reads one
line from stdin with ``--password-stdin`` (for scripts: ``printf '%s\\n' "$PW" | ...``).
``--oidc`` creates an account that signs in only through the identity provider. The
password is never echoed, logged or printed. ``users unlock NAME`` lifts every lock-out of
a name (the recovery path when someone has locked the admin out).

The audit log names the actor as the OS user running the command; ``--by NAME`` cannot
replace it (anyone at the terminal could claim anyone): it is recorded beside it, as
``os:ann (claims: root)``.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from analytics.cli import CommandError
from analytics.config import settings
from analytics.security import accounts
from analytics.security.roles import ROLES


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("add", "list", "disable", "enable", "unlock"), help="what to do")
    parser.add_argument("name", nargs="?", help="user name (the e-mail for OIDC accounts)")
    parser.add_argument("--role", choices=ROLES, help="role of a new account")
    parser.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    parser.add_argument("--oidc", action="store_true", help="no local password: sign-in through the identity provider")
    parser.add_argument(
        "--by", default=None, help="who you say you are: recorded next to the OS user, never instead of it"
    )


def actor(claimed: str | None) -> str:
    """The audit actor: the OS user, with the claimed name (``--by``) beside it."""
    os_user = f"os:{getpass.getuser()}"
    claimed = (claimed or "").strip()
    return f"{os_user} (claims: {claimed})" if claimed and claimed != os_user else os_user


def _password(args: argparse.Namespace) -> str | None:
    if args.oidc:
        return None
    if args.password_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask the password: use --password-stdin")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise CommandError("the two passwords differ")
    return first


def run(args: argparse.Namespace) -> dict[str, Any]:
    warehouse = args.warehouse or settings().warehouse_path
    by = actor(args.by)
    if args.action == "list":
        users = accounts.list_users(warehouse)
        return {"users": users.to_dicts()}
    if not args.name:
        raise CommandError(f"users {args.action} needs a NAME")
    try:
        if args.action == "add":
            if not args.role:
                raise CommandError(f"users add needs --role ({', '.join(ROLES)})")
            accounts.add_user(warehouse, args.name, role=args.role, password=_password(args), by=by)
            return {"added": args.name.strip(), "role": args.role, "sign_in": "oidc" if args.oidc else "password"}
        if args.action == "unlock":
            return {"unlocked": args.name, "rows_cleared": accounts.unlock(warehouse, args.name, by=by)}
        accounts.set_disabled(warehouse, args.name, disabled=args.action == "disable", by=by)
    except accounts.AccountError as exc:
        raise CommandError(str(exc)) from exc
    return {args.action + "d": args.name}
