"""The score calculator's copy of each user's invoicing history, built from the invoice replies.

Each reply is stored once, keyed by request_id, so a reply delivered twice (after a crash or a
rebalance) is never counted twice. The file survives restarts; several calculator processes on one
host share it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from messaging.sqlite import write_transaction
from services.score.scoring import InvoiceFact

__all__ = ["History"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS facts (
    request_id      TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    status          TEXT NOT NULL,
    processed_at    INTEGER NOT NULL,  -- epoch milliseconds, UTC
    total           TEXT,              -- Decimal as text; NULL when rejected
    customer_tax_id TEXT
);
CREATE INDEX IF NOT EXISTS facts_by_user ON facts (user_id, processed_at);
"""


class History:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._local = threading.local()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    @property
    def _db(self) -> sqlite3.Connection:
        # One connection per thread: the history writer's batch transaction never mixes with a reader's queries.
        if not hasattr(self._local, "db"):
            self._local.db = sqlite3.connect(self._path, isolation_level=None, timeout=30)
        return self._local.db

    def batch(self) -> AbstractContextManager[None]:
        """One transaction per batch of replies: one disk sync instead of one per reply."""
        return write_transaction(self._db)

    def each(self) -> AbstractContextManager[object]:
        return nullcontext()  # adding a fact is one statement: it happens whole or not at all

    def add(self, user_id: str, fact: InvoiceFact) -> bool:
        """Record a fact; False when it was already recorded."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO facts VALUES (?, ?, ?, ?, ?, ?)",
            (fact.request_id, user_id, fact.status, _millis(fact.processed_at),
             None if fact.total is None else str(fact.total), fact.customer_tax_id),
        )
        return cursor.rowcount == 1

    def of(self, user_id: str, since: datetime) -> list[InvoiceFact]:
        rows = self._db.execute(
            "SELECT request_id, status, processed_at, total, customer_tax_id FROM facts"
            " WHERE user_id = ? AND processed_at > ? ORDER BY processed_at, request_id",
            (user_id, _millis(since)),
        )
        return [_fact(row) for row in rows]

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM facts").fetchone()[0])

    def close(self) -> None:
        self._db.close()


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _fact(row: Iterable[object]) -> InvoiceFact:
    request_id, status, processed_at, total, tax_id = row
    return InvoiceFact(
        request_id=str(request_id),
        status=str(status),
        processed_at=datetime.fromtimestamp(int(processed_at) / 1000, timezone.utc),  # type: ignore[arg-type]
        total=None if total is None else Decimal(str(total)),
        customer_tax_id=None if tax_id is None else str(tax_id),
    )
