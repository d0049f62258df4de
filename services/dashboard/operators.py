"""`make operator EMAIL=...` (and `REVOKE=1`): give a verified account the operator view, or take it back, in the
dashboard's database (DATABASE_URL), each change kept in operator_audit with who ran the command and when.

    python -m services.dashboard.operators grant|revoke EMAIL
    python -m services.dashboard.operators list

An account that has not confirmed its address cannot be granted: whoever signed up first with an operator's address
has not proven it theirs."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime

from services.dashboard.db import Database
from services.dashboard.settings import DashboardSettings

__all__ = ["main"]


def _change(database: Database, action: str, email: str) -> str:
    user = database.users.by_email(email.strip().lower())
    if user is None:
        raise SystemExit(f"error: no account has the email {email!r}: it signs up first, then confirms its address")
    actor = f"{getpass.getuser()} (make operator)"
    if action == "grant":
        if not user.verified:
            raise SystemExit(f"error: {user.email} has not confirmed its email address yet, so it cannot be an"
                             " operator: its owner opens the link mailed at sign-up (or asks the account page for"
                             " a new one), then run this again")
        changed = database.operators.grant(user.id, user.email, actor)
        return f"{user.email} is an operator now" if changed else f"{user.email} was an operator already"
    changed = database.operators.revoke(user.id, user.email, actor)
    return f"{user.email} is no longer an operator" if changed else f"{user.email} was not an operator"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.dashboard.operators", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("grant", "revoke", "list"))
    parser.add_argument("email", nargs="?")
    args = parser.parse_args(argv)
    if args.action != "list" and not args.email:
        parser.error(f"{args.action} needs the account's EMAIL")
    database = Database(DashboardSettings.from_env().database_url)
    try:
        if args.action == "list":
            for entry in database.operators.audit():
                at = datetime.fromtimestamp(entry.at / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                print(f"{at}  {entry.action:<6}  {entry.email}  by {entry.actor}")
            return 0
        print(_change(database, args.action, args.email))
        return 0
    finally:
        database.close()


if __name__ == "__main__":
    sys.exit(main())
