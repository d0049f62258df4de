"""The submissions: each request a user made (the `requests` table), pending until answered or timed out."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from services.dashboard.db.engine import Sql, now_ms
from services.dashboard.db.model import State, Submission

__all__ = ["SubmissionRepository"]

# The columns of a submission, in the order _submission reads them.
COLUMNS = "request_id, kind, user_id, status, created_at, updated_at, request, reply"


def _submission(row: tuple[Any, ...]) -> Submission:
    request_id, kind, user_id, status, created_at, updated_at, request, reply = row
    return Submission(request_id, kind, user_id, status, created_at, updated_at, json.loads(request),
                      json.loads(reply) if reply else None)


class SubmissionRepository:
    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    def _one(self, sql: str, **params: Any) -> Submission | None:
        row = self._sql.row(sql, **params)
        return _submission(row) if row else None

    def _all(self, sql: str, **params: Any) -> list[Submission]:
        return [_submission(row) for row in self._sql.rows(sql, **params)]

    def add(self, request_id: str, kind: str, user_id: str, request: dict[str, Any]) -> None:
        """A new submission, pending."""
        self._sql.change(
            f"INSERT INTO requests ({COLUMNS}) VALUES (:request_id, :kind, :user_id, :pending, :now, :now, :request, NULL)",
            request_id=request_id, kind=kind, user_id=user_id, pending=State.PENDING, now=now_ms(),
            request=json.dumps(request),
        )

    def forget(self, request_id: str) -> None:
        """Drop a submission that never reached Kafka (the client was told 503) and, in the same transaction, free
        the idempotency key that made it, so that a retry with that key makes it again."""
        with self._sql.transaction() as connection:
            connection.execute(text("DELETE FROM idempotency_keys WHERE request_id = :id"), {"id": request_id})
            connection.execute(text("DELETE FROM requests WHERE request_id = :id AND status = :pending"),
                               {"id": request_id, "pending": State.PENDING})

    def answer(self, request_id: str, status: str, reply: dict[str, Any]) -> Submission | None:
        """Store a reply (also after a time-out: a late answer is still the answer); None for unknown requests."""
        return self._one(
            f"UPDATE requests SET status = :status, reply = :reply, updated_at = :now WHERE request_id = :id RETURNING {COLUMNS}",
            status=status, reply=json.dumps(reply), now=now_ms(), id=request_id,
        )

    def expire(self, older_than_ms: int) -> list[Submission]:
        """Mark submissions pending since before `older_than_ms` as timed out; returns them."""
        return self._all(
            "UPDATE requests SET status = :timed_out, updated_at = :now WHERE status = :pending AND created_at < :before"
            f" RETURNING {COLUMNS}",
            timed_out=State.TIMED_OUT, pending=State.PENDING, now=now_ms(), before=older_than_ms,
        )

    def find(self, user_id: str, request_id: str, kind: str) -> Submission | None:
        """One submission of this user's; None when it does not exist or belongs to someone else."""
        return self._one(
            f"SELECT {COLUMNS} FROM requests WHERE request_id = :id AND user_id = :user_id AND kind = :kind",
            id=request_id, user_id=user_id, kind=kind,
        )

    def newest(self, user_id: str, kind: str, limit: int = 50, offset: int = 0) -> list[Submission]:
        """This user's submissions of one kind, newest first, a page at a time."""
        return self._all(
            f"SELECT {COLUMNS} FROM requests WHERE user_id = :user_id AND kind = :kind"
            " ORDER BY created_at DESC, request_id LIMIT :limit OFFSET :offset",
            user_id=user_id, kind=kind, limit=limit, offset=offset,
        )

    def latest_score(self, user_id: str) -> Submission | None:
        return self._one(
            f"SELECT {COLUMNS} FROM requests WHERE user_id = :user_id AND kind = 'score' AND status = 'calculated'"
            " ORDER BY created_at DESC, request_id LIMIT 1",
            user_id=user_id,
        )

    def generated_invoices(self, user_id: str, answered_since_ms: int) -> list[Submission]:
        """This user's generated invoices answered since then, oldest first: what the overview's chart counts (an
        invoice issued since then was answered since then too; charts.py groups them by the month of issue)."""
        return self._all(
            f"SELECT {COLUMNS} FROM requests WHERE user_id = :user_id AND kind = 'invoice' AND status = 'generated'"
            " AND updated_at >= :since ORDER BY created_at, request_id",
            user_id=user_id, since=answered_since_ms,
        )

    def calculated_scores(self, user_id: str, limit: int = 50) -> list[Submission]:
        """This user's newest `limit` calculated scores, newest first."""
        return self._all(
            f"SELECT {COLUMNS} FROM requests WHERE user_id = :user_id AND kind = 'score' AND status = 'calculated'"
            " ORDER BY created_at DESC, request_id LIMIT :limit",
            user_id=user_id, limit=limit,
        )
