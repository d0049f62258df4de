"""The submissions: each request a user made (the `requests` table), pending until answered or timed out."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from services.dashboard.db.changes import announce
from services.dashboard.db.engine import Sql, now_ms, statement
from services.dashboard.db.model import Change, State, Submission

__all__ = ["Answer", "SubmissionRepository"]

# The columns of a submission, in the order _submission reads them.
COLUMNS = "request_id, kind, user_id, status, created_at, updated_at, request, reply"


def _submission(row: tuple[Any, ...]) -> Submission:
    request_id, kind, user_id, status, created_at, updated_at, request, reply = row
    return Submission(request_id, kind, user_id, status, created_at, updated_at, json.loads(request),
                      json.loads(reply) if reply else None)


@dataclass(frozen=True)
class Answer:
    """A reply to store: it answers only the submission of that id, kind and user that is still unanswered."""

    request_id: str
    kind: str
    user_id: str
    status: str  # a State
    reply: dict[str, Any]


def _pieces(rows: Sequence[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
    """`rows` in pieces of power-of-two sizes, the largest first (13 rows: 8, 4, 1), each as its size and its values
    numbered for one statement (`name{i}` for row i): a handful of statements, each compiled once, serve any count
    (SQLAlchemy compiles one anew for every new size), one round trip each."""
    done = 0
    for bit in reversed(range(len(rows).bit_length())):
        if len(rows) >> bit & 1:
            size = 1 << bit
            yield size, {f"{name}{i}": value for i, row in enumerate(rows[done:done + size]) for name, value in row.items()}
            done += size


@lru_cache(maxsize=16)
def _inserting(size: int) -> str:
    """The statement adding `size` pending submissions (see SubmissionRepository.add_all)."""
    rows = ", ".join(f"(:id{i}, :kind{i}, :user{i}, :pending, :now, :now, :request{i}, NULL)" for i in range(size))
    return f"INSERT INTO requests ({COLUMNS}) VALUES {rows}"


@lru_cache(maxsize=16)
def _selecting(size: int) -> str:
    """The statement reading `size` submissions by id (see SubmissionRepository.many)."""
    return f"SELECT {COLUMNS} FROM requests WHERE request_id IN ({', '.join(f':id{i}' for i in range(size))})"


@lru_cache(maxsize=16)
def _answering(size: int) -> str:
    """The statement storing `size` answers (see SubmissionRepository.answer)."""
    rows = ", ".join(f"(:id{i}, :kind{i}, :user{i}, :status{i}, :reply{i})" for i in range(size))
    returned = ", ".join(f"requests.{column.strip()}" for column in COLUMNS.split(","))
    return (f"WITH answers (request_id, kind, user_id, status, reply) AS (VALUES {rows})"
            " UPDATE requests SET status = answers.status, reply = answers.reply, updated_at = :now FROM answers"
            " WHERE requests.request_id = answers.request_id AND requests.kind = answers.kind"
            " AND requests.user_id = answers.user_id AND requests.status IN (:pending, :timed_out)"
            f" RETURNING {returned}")


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
        self.add_all([(request_id, kind, user_id, request)])

    def add_all(self, submissions: Sequence[tuple[str, str, str, dict[str, Any]]]) -> None:
        """New submissions, pending, in one transaction: (request id, kind, user id, what was asked) each, written in
        many-row statements (`_pieces`) rather than row by row."""
        rows = [{"id": request_id, "kind": kind, "user": user_id, "request": json.dumps(request)}
                for request_id, kind, user_id, request in submissions]
        now = now_ms()
        with self._sql.transaction() as connection:
            for size, values in _pieces(rows):
                connection.execute(statement(_inserting(size)), {"now": now, "pending": State.PENDING, **values})

    def forget(self, request_id: str) -> None:
        """Drop a submission that never reached Kafka (the client was told 503) and, in the same transaction, free
        the idempotency key that made it, so that a retry with that key makes it again."""
        with self._sql.transaction() as connection:
            connection.execute(statement("DELETE FROM idempotency_keys WHERE request_id = :id"), {"id": request_id})
            connection.execute(statement("DELETE FROM requests WHERE request_id = :id AND status = :pending"),
                               {"id": request_id, "pending": State.PENDING})

    def answer(self, answers: Sequence[Answer]) -> list[Submission]:
        """Store replies, in one transaction that tells every dashboard (db.changes); the submissions they answered.
        A reply answers only a submission of its id, kind and user that is still unanswered (pending, or timed out:
        a late answer is still the answer), so a reply for another dashboard's database, another kind or another
        user changes nothing, and a repeated one changes nothing more."""
        if not answers:
            return []
        # The answers as a table of values, joined to the rows they answer (each request once: a repeated reply in one
        # batch is the same answer), in many-row statements (`_pieces`).
        unique = {a.request_id: a for a in answers}.values()
        rows = [{"id": a.request_id, "kind": a.kind, "user": a.user_id, "status": a.status, "reply": json.dumps(a.reply)}
                for a in unique]
        fixed = {"now": now_ms(), "pending": State.PENDING, "timed_out": State.TIMED_OUT}
        with self._sql.transaction() as connection:
            answered = [_submission(tuple(row)) for size, values in _pieces(rows)
                        for row in connection.execute(statement(_answering(size)), {**fixed, **values})]
            announce(connection, answered)
        return answered

    def expire(self, older_than_ms: int) -> list[Submission]:
        """Mark submissions pending since before `older_than_ms` as timed out, telling every dashboard; returns them."""
        with self._sql.transaction() as connection:
            expired = [_submission(tuple(row)) for row in connection.execute(statement(
                "UPDATE requests SET status = :timed_out, updated_at = :now WHERE status = :pending AND created_at < :before"
                f" RETURNING {COLUMNS}"),
                {"timed_out": State.TIMED_OUT, "pending": State.PENDING, "now": now_ms(), "before": older_than_ms})]
            announce(connection, expired)
        return expired

    def changed_since(self, user_ids: Sequence[str], after_ms: int) -> list[Submission]:
        """These users' submissions changed after `after_ms`, oldest change first."""
        if not user_ids:
            return []
        marks = ", ".join(f":u{i}" for i in range(len(user_ids)))
        return self._all(
            f"SELECT {COLUMNS} FROM requests WHERE user_id IN ({marks}) AND updated_at > :after ORDER BY updated_at",
            after=after_ms, **{f"u{i}": user for i, user in enumerate(user_ids)},
        )

    def changes_since(self, user_ids: Sequence[str], after_ms: int) -> list[Change]:
        """That these users' submissions changed after `after_ms`, without reading them (see `many`)."""
        if not user_ids:
            return []
        marks = ", ".join(f":u{i}" for i in range(len(user_ids)))
        rows = self._sql.rows(
            f"SELECT user_id, request_id, updated_at FROM requests WHERE user_id IN ({marks}) AND updated_at > :after",
            after=after_ms, **{f"u{i}": user for i, user in enumerate(user_ids)},
        )
        return [Change(*row) for row in rows]

    def many(self, request_ids: Sequence[str]) -> list[Submission]:
        """The submissions of these ids that exist, oldest change first."""
        found = [_submission(tuple(row)) for size, values in _pieces([{"id": r} for r in request_ids])
                 for row in self._sql.rows(_selecting(size), **values)]
        return sorted(found, key=lambda submission: submission.updated_at)

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

    def generated_invoices(self, user_id: str, answered_since_ms: int) -> list[dict[str, Any]]:
        """The invoices of this user's requests generated and answered since then, oldest first: what the overview's
        chart counts (an invoice issued since then was answered since then too; charts.py groups them by the month of
        issue). Only the reply column is read and decoded: the chart reads it for every invoice of the year."""
        rows = self._sql.rows(
            "SELECT reply FROM requests WHERE user_id = :user_id AND kind = 'invoice' AND status = 'generated'"
            " AND updated_at >= :since ORDER BY created_at, request_id",
            user_id=user_id, since=answered_since_ms,
        )
        return [invoice for (reply,) in rows if (invoice := json.loads(reply).get("invoice"))]

    def calculated_scores(self, user_id: str, limit: int = 50) -> list[Submission]:
        """This user's newest `limit` calculated scores, newest first."""
        return self._all(
            f"SELECT {COLUMNS} FROM requests WHERE user_id = :user_id AND kind = 'score' AND status = 'calculated'"
            " ORDER BY created_at DESC, request_id LIMIT :limit",
            user_id=user_id, limit=limit,
        )
