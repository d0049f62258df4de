"""The invoice generator's state for one partition of its requests: every decision, and each user's last number.

A request is `(user_id, request_id)`. Its outcome (the invoice number, or that it was rejected; the
time; the tax rate; a fingerprint of its content) is decided once. The same request again finds its
decision and gets the identical reply; the same request_id with other content is refused; numbers
are given per user, gap-free, and only to accepted requests. The requests are partitioned by user,
so a user's decisions and counter live in exactly one partition's store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from contracts.records import InvoiceDecision, InvoiceStateKey, Uuid
from messaging.state import PartitionState

__all__ = ["Decision", "InvoiceState"]


@dataclass(frozen=True)
class Decision:
    number: int | None  # None when the request was rejected
    decided_at: datetime
    iss_rate: Decimal
    fingerprint: str
    repeated: bool  # True when the request had been decided before


class InvoiceState(PartitionState[InvoiceStateKey, InvoiceDecision]):
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS decisions (
        user_id     TEXT NOT NULL,
        request_id  TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        number      INTEGER,           -- NULL when the request was rejected
        decided_at  INTEGER NOT NULL,  -- epoch milliseconds, UTC
        iss_rate    TEXT NOT NULL,
        PRIMARY KEY (user_id, request_id)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS counters (
        user_id     TEXT PRIMARY KEY,
        last_number INTEGER NOT NULL
    ) WITHOUT ROWID;
    """

    def __init__(self, path: Path, partition: int) -> None:
        super().__init__(path, partition)
        self._pending: dict[tuple[str, str], InvoiceDecision] = {}  # this batch's decisions, not in the file yet
        self._last: dict[str, int] = {}  # each user's last number as far as known: the file's, then this batch's

    def apply(self, key: InvoiceStateKey, value: InvoiceDecision) -> None:
        user_id = str(key["user_id"])
        self.db.execute(
            "INSERT OR REPLACE INTO decisions VALUES (?, ?, ?, ?, ?, ?)",
            (user_id, str(key["request_id"]), value["fingerprint"], value["number"],
             _millis(value["decided_at"]), str(value["iss_rate"])),
        )
        if value["number"] is not None:
            self.db.execute(
                "INSERT INTO counters VALUES (?, ?) ON CONFLICT(user_id)"
                " DO UPDATE SET last_number = max(last_number, excluded.last_number)",
                (user_id, value["number"]),
            )

    def remove(self, key: InvoiceStateKey) -> None:
        user_id = str(key["user_id"])
        self.db.execute("DELETE FROM decisions WHERE user_id = ? AND request_id = ?", (user_id, str(key["request_id"])))
        self.db.execute("DELETE FROM counters WHERE user_id = ? AND NOT EXISTS"
                        " (SELECT 1 FROM decisions WHERE user_id = ? AND number IS NOT NULL)", (user_id, user_id))

    def on_put(self, key: InvoiceStateKey, value: InvoiceDecision) -> None:
        user_id = str(key["user_id"])
        self._pending[(user_id, str(key["request_id"]))] = value
        if value["number"] is not None:
            self._last[user_id] = max(self._last.get(user_id, 0), value["number"])

    def on_dropped(self, dropped: list[tuple[InvoiceStateKey, InvoiceDecision]]) -> None:
        for key, _ in dropped:
            user_id = str(key["user_id"])
            self._pending.pop((user_id, str(key["request_id"])), None)
            self._last.pop(user_id, None)  # known again from the file and what is still pending, at next use

    def on_written(self) -> None:
        self._pending.clear()

    def find(self, user_id: Uuid, request_id: Uuid) -> Decision | None:
        user, request = str(user_id), str(request_id)
        pending = self._pending.get((user, request))
        if pending is not None:
            return Decision(pending["number"], pending["decided_at"], pending["iss_rate"], pending["fingerprint"],
                            repeated=True)
        row = self.db.execute(
            "SELECT number, decided_at, iss_rate, fingerprint FROM decisions WHERE user_id = ? AND request_id = ?",
            (user, request),
        ).fetchone()
        return None if row is None else Decision(row[0], _time(row[1]), Decimal(row[2]), row[3], repeated=True)

    def decide(self, user_id: Uuid, request_id: Uuid, fingerprint: str, accepted: bool, iss_rate: Decimal,
               now: datetime) -> Decision:
        """Record a new request's decision at `now`, numbering it when accepted (the caller checked `find` first)."""
        number = self._last_number(str(user_id)) + 1 if accepted else None
        decided_at = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as the changelog keeps it
        self.put(InvoiceStateKey(user_id=user_id, request_id=request_id),
                 InvoiceDecision(fingerprint=fingerprint, number=number, decided_at=decided_at, iss_rate=iss_rate))
        return Decision(number, decided_at, iss_rate, fingerprint, repeated=False)

    def _last_number(self, user_id: str) -> int:
        known = self._last.get(user_id)
        if known is None:
            row = self.db.execute("SELECT last_number FROM counters WHERE user_id = ?", (user_id,)).fetchone()
            pending = [v["number"] for (user, _), v in self._pending.items() if user == user_id and v["number"]]
            known = self._last[user_id] = max([0 if row is None else int(row[0]), *pending])
        return known

    def last_numbers(self) -> dict[str, int]:
        """Every user's last invoice number in this partition's file (for tests and operators)."""
        return {str(u): int(n) for u, n in self.db.execute("SELECT user_id, last_number FROM counters")}


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _time(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, UTC)
