"""How every dashboard on one database learns that a submission changed, so that whichever holds its user's open
page pushes it: PostgreSQL's NOTIFY, sent by the transaction that made the change (delivered if and only if it
commits, so a dashboard that dies between storing and telling cannot lose one). SQLite has no such thing: its
dashboards find changes by asking the table (see live.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from services.dashboard.db.engine import statement
from services.dashboard.db.model import Change, Submission

__all__ = ["CHANNEL", "announce", "parse"]

CHANNEL = "dashboard_changes"


def announce(connection: Connection, changed: Sequence[Submission]) -> None:
    """Within the transaction that changed them: one notification per submission, "<user id> <request id> <updated
    at>", so a dashboard that pushed that change already (it made it) need not read it again."""
    if connection.dialect.name != "postgresql" or not changed:
        return
    connection.execute(statement("SELECT pg_notify(:channel, payload) FROM unnest(CAST(:payloads AS text[])) AS payload"),
                       {"channel": CHANNEL, "payloads": [f"{s.user_id} {s.request_id} {s.updated_at}"
                                                            for s in changed]})


def parse(payload: str) -> Change:
    """The change a notification's payload names (an older dashboard's has no time: None, read it to be sure)."""
    user_id, request_id, *updated_at = payload.split(" ")
    return Change(user_id, request_id, int(updated_at[0]) if updated_at else None)
