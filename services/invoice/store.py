"""The invoice generator's idempotency store: which requests were answered, and each user's last number.

A request's outcome (its invoice number, or that it was rejected, with the time and the tax rate) is
decided once, keyed by request_id, in the transaction of the batch it came in (committed before any
reply of that batch is sent). A redelivered or repeated request finds
its decision and gets the same reply again: it never yields a second invoice or consumes a number.
Several generator processes on one host share the file; SQLite's write lock serialises decisions.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from messaging.sqlite import savepoint, write_transaction

__all__ = ["Decision", "InvoiceStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    request_id TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    number     INTEGER,             -- NULL when the request was rejected
    decided_at INTEGER NOT NULL,    -- epoch milliseconds, UTC
    iss_rate   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    user_id     TEXT PRIMARY KEY,
    last_number INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Decision:
    number: int | None
    decided_at: datetime
    iss_rate: Decimal
    repeated: bool  # True when the request had been decided before


class InvoiceStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a decision must survive a power cut, like the broker's data
        self._db.executescript(SCHEMA)

    def batch(self) -> AbstractContextManager[None]:
        """One write transaction for a whole batch: one disk sync instead of one per request."""
        return write_transaction(self._db)

    def each(self) -> AbstractContextManager[None]:
        """A savepoint for one request, so a request that fails after numbering gives its number back."""
        return savepoint(self._db)

    def decide(self, request_id: str, user_id: str, accepted: bool, iss_rate: Decimal) -> Decision:
        """The request's decision, made now (numbering it when accepted) unless it was made before."""
        if not self._db.in_transaction:
            with self.batch():
                return self.decide(request_id, user_id, accepted, iss_rate)
        row = self._db.execute(
            "SELECT number, decided_at, iss_rate FROM decisions WHERE request_id = ?", (request_id,)
        ).fetchone()
        if row is not None:
            return Decision(row[0], _time(row[1]), Decimal(row[2]), repeated=True)
        number = self._next_number(user_id) if accepted else None
        decided_at = int(datetime.now(timezone.utc).timestamp() * 1000)
        self._db.execute(
            "INSERT INTO decisions VALUES (?, ?, ?, ?, ?)", (request_id, user_id, number, decided_at, str(iss_rate))
        )
        return Decision(number, _time(decided_at), iss_rate, repeated=False)

    def _next_number(self, user_id: str) -> int:
        row = self._db.execute(
            "INSERT INTO counters VALUES (?, 1) ON CONFLICT(user_id) DO UPDATE SET last_number = last_number + 1"
            " RETURNING last_number",
            (user_id,),
        ).fetchone()
        return int(row[0])

    def close(self) -> None:
        self._db.close()


def _time(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, timezone.utc)
