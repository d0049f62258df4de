"""The score calculator's state for one partition: each user's invoice replies, as the user was told of them.

The invoice replies and the score requests are both keyed and partitioned by user, and one worker
owns partition p of both: so a user's history and score requests meet in one store. A reply stored
twice (the same request answered again) is one fact, keyed by (user_id, request_id).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from contracts import records
from messaging.state import PartitionState
from services.score.scoring import InvoiceOutcome

__all__ = ["History"]


class History(PartitionState[records.ScoreStateKey, records.InvoiceFact]):
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS facts (
        user_id         TEXT NOT NULL,
        request_id      TEXT NOT NULL,
        status          TEXT NOT NULL,
        number          INTEGER,           -- NULL when rejected
        processed_at    INTEGER NOT NULL,  -- epoch milliseconds, UTC
        total           TEXT,              -- Decimal as text; NULL when rejected
        customer_tax_id TEXT,
        reply_offset    INTEGER NOT NULL,  -- where the reply is in its partition: the order the user saw
        PRIMARY KEY (user_id, request_id)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS facts_by_user ON facts (user_id, reply_offset);
    """

    def __init__(self, path: Path, partition: int) -> None:
        super().__init__(path, partition)
        self._pending: dict[tuple[str, str], records.InvoiceFact] = {}  # this batch's facts, not in the file yet

    def apply(self, key: records.ScoreStateKey, value: records.InvoiceFact) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO facts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (str(key["user_id"]), str(key["request_id"]), value["status"], value["number"],
             _millis(value["processed_at"]), None if value["total"] is None else str(value["total"]),
             value["customer_tax_id"], value["offset"]),
        )

    def remove(self, key: records.ScoreStateKey) -> None:
        self.db.execute("DELETE FROM facts WHERE user_id = ? AND request_id = ?",
                        (str(key["user_id"]), str(key["request_id"])))

    def on_put(self, key: records.ScoreStateKey, value: records.InvoiceFact) -> None:
        self._pending[(str(key["user_id"]), str(key["request_id"]))] = value

    def on_dropped(self, dropped: list[tuple[records.ScoreStateKey, records.InvoiceFact]]) -> None:
        for key, _ in dropped:
            self._pending.pop((str(key["user_id"]), str(key["request_id"])), None)

    def on_written(self) -> None:
        self._pending.clear()

    def remember(self, reply: records.InvoiceReply, offset: int) -> None:
        """Keep the first reply to a request: a later one is the same answer again, or a refusal of a
        reused request_id, which must not replace the invoice the user was told of."""
        user, request = str(reply["user_id"]), str(reply["request_id"])
        if (user, request) in self._pending or self.db.execute(
                "SELECT 1 FROM facts WHERE user_id = ? AND request_id = ?", (user, request)).fetchone():
            return
        invoice = reply.get("invoice")
        self.put(
            records.ScoreStateKey(user_id=reply["user_id"], request_id=reply["request_id"]),
            records.InvoiceFact(status=str(reply["status"]), number=invoice["number"] if invoice else None,
                                processed_at=reply["processed_at"], total=invoice["total"] if invoice else None,
                                customer_tax_id=invoice["customer"]["tax_id"] if invoice else None, offset=offset),
        )

    def of(self, user_id: records.Uuid) -> list[tuple[InvoiceOutcome, int | None]]:
        """The user's facts with their invoice numbers, in the order the user was told of them."""
        user = str(user_id)
        rows = [(offset, request_id, status, _time(processed_at), None if total is None else Decimal(total), tax_id, number)
                for request_id, status, processed_at, total, tax_id, number, offset in self.db.execute(
                    "SELECT request_id, status, processed_at, total, customer_tax_id, number, reply_offset FROM facts"
                    " WHERE user_id = ? ORDER BY reply_offset", (user,))]
        pending = [(v["offset"], request_id, v["status"], v["processed_at"], v["total"], v["customer_tax_id"], v["number"])
                   for (owner, request_id), v in self._pending.items() if owner == user]
        if pending:
            rows = sorted(rows + pending, key=lambda row: row[0])
        return [(InvoiceOutcome(request_id, status, at, total, tax_id), number)
                for _, request_id, status, at, total, tax_id, number in rows]


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _time(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, UTC)
