"""The dashboard's state: users, their sessions and their requests (pending, then answered or timed out), in SQLite."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Claim", "Database", "Request", "Session", "User"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('invoice', 'score')),
    user_id    TEXT NOT NULL REFERENCES users (id),
    status     TEXT NOT NULL CHECK (status IN ('pending', 'generated', 'rejected', 'calculated', 'timed_out')),
    created_at INTEGER NOT NULL,   -- epoch milliseconds, UTC
    updated_at INTEGER NOT NULL,
    request    TEXT NOT NULL,      -- what was asked, as JSON
    reply      TEXT                -- the answer, as JSON, once it came
);
CREATE INDEX IF NOT EXISTS requests_by_user ON requests (user_id, kind, created_at);
CREATE INDEX IF NOT EXISTS requests_pending ON requests (status, created_at);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    user_id     TEXT NOT NULL REFERENCES users (id),
    key         TEXT NOT NULL,      -- as the client sent it: each user has their own keys
    fingerprint TEXT NOT NULL,      -- of what was asked, to tell a retry from another request
    request_id  TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('sending', 'accepted')),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_by_age ON idempotency_keys (created_at);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,    -- SHA-256 of the cookie's random token: this table alone signs no one in
    user_id    TEXT NOT NULL REFERENCES users (id),
    csrf       TEXT NOT NULL,       -- the token the session's forms carry
    expires_at INTEGER NOT NULL     -- epoch milliseconds
);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);
"""


@dataclass(frozen=True)
class User:
    id: str
    email: str
    password_hash: str


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str


@dataclass(frozen=True)
class Request:
    request_id: str
    kind: str
    user_id: str
    status: str
    created_at: int
    updated_at: int
    request: dict[str, Any]
    reply: dict[str, Any] | None


@dataclass(frozen=True)
class Claim:
    """An idempotency key already used: for what, which request it made, and whether Kafka has that request."""

    fingerprint: str
    request_id: str
    state: str
    created_at: int


def _now() -> int:
    return int(time.time() * 1000)


class Database:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # The request itself is durable in Kafka before the 202; this database is the dashboard's view of
        # it, so it syncs at checkpoints (survives a process crash, not a power cut) to keep writes cheap.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()  # the web loop and the reply consumer share the connection

    def _run(self, sql: str, *args: Any) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    def create_user(self, user_id: str, email: str, password_hash: str) -> User | None:
        """The new user; None when the email is taken."""
        try:
            self._run("INSERT INTO users VALUES (?, ?, ?, ?)", user_id, email, password_hash, _now())
        except sqlite3.IntegrityError:
            return None
        return User(user_id, email, password_hash)

    def user_by_email(self, email: str) -> User | None:
        row = self._run("SELECT id, email, password_hash FROM users WHERE email = ?", email).fetchone()
        return User(*row) if row else None

    def user(self, user_id: str) -> User | None:
        row = self._run("SELECT id, email, password_hash FROM users WHERE id = ?", user_id).fetchone()
        return User(*row) if row else None

    def add_session(self, token_hash: str, user_id: str, csrf: str, expires_at_ms: int) -> None:
        self._run("INSERT INTO sessions VALUES (?, ?, ?, ?)", token_hash, user_id, csrf, expires_at_ms)

    def session(self, token_hash: str) -> Session | None:
        """The session and its user; None when there is none, or it has expired."""
        row = self._run(
            "SELECT users.id, users.email, users.password_hash, sessions.csrf FROM sessions"
            " JOIN users ON users.id = sessions.user_id WHERE sessions.token_hash = ? AND sessions.expires_at > ?",
            token_hash, _now(),
        ).fetchone()
        return Session(User(*row[:3]), row[3]) if row else None

    def end_session(self, token_hash: str) -> None:
        self._run("DELETE FROM sessions WHERE token_hash = ?", token_hash)

    def forget_sessions(self) -> None:
        """Drop the expired sessions (they already sign no one in)."""
        self._run("DELETE FROM sessions WHERE expires_at <= ?", _now())

    def add_request(self, request_id: str, kind: str, user_id: str, request: dict[str, Any]) -> None:
        now = _now()
        self._run(
            "INSERT INTO requests VALUES (?, ?, ?, 'pending', ?, ?, ?, NULL)",
            request_id, kind, user_id, now, now, json.dumps(request),
        )

    def forget_request(self, request_id: str) -> None:
        """Drop a request that never reached Kafka (the client was told 503), and free its idempotency key."""
        self._run("DELETE FROM idempotency_keys WHERE request_id = ?", request_id)
        self._run("DELETE FROM requests WHERE request_id = ? AND status = 'pending'", request_id)

    def claim_key(self, user_id: str, key: str, fingerprint: str, request_id: str, expired_before_ms: int) -> Claim | None:
        """Take `key` for `request_id` (state 'sending'); the earlier claim instead when the key is in use.

        A claim made before `expired_before_ms` no longer counts. The insert is the lock: of two dashboards
        claiming one key at once, one inserts and the other reads that claim.
        """
        self._run("DELETE FROM idempotency_keys WHERE user_id = ? AND key = ? AND created_at < ?",
                  user_id, key, expired_before_ms)
        inserted = self._run(
            "INSERT INTO idempotency_keys VALUES (?, ?, ?, ?, 'sending', ?) ON CONFLICT DO NOTHING",
            user_id, key, fingerprint, request_id, _now(),
        ).rowcount
        if inserted:
            return None
        row = self._run("SELECT fingerprint, request_id, state, created_at FROM idempotency_keys"
                        " WHERE user_id = ? AND key = ?", user_id, key).fetchone()
        # Gone between the insert and the select (given up by a failed send): try again.
        return Claim(*row) if row else self.claim_key(user_id, key, fingerprint, request_id, expired_before_ms)

    def key_accepted(self, request_id: str) -> None:
        self._run("UPDATE idempotency_keys SET state = 'accepted' WHERE request_id = ?", request_id)

    def forget_keys(self, older_than_ms: int) -> None:
        self._run("DELETE FROM idempotency_keys WHERE created_at < ?", older_than_ms)

    def answer(self, request_id: str, status: str, reply: dict[str, Any]) -> Request | None:
        """Store a reply (also after a time-out: a late answer is still the answer); None for unknown requests."""
        cursor = self._run(
            "UPDATE requests SET status = ?, reply = ?, updated_at = ? WHERE request_id = ? RETURNING *",
            status, json.dumps(reply), _now(), request_id,
        )
        row = cursor.fetchone()
        return _request(row) if row else None

    def expire(self, older_than_ms: int) -> list[Request]:
        """Mark requests pending since before `older_than_ms` as timed out; returns them."""
        rows = self._run(
            "UPDATE requests SET status = 'timed_out', updated_at = ? WHERE status = 'pending' AND created_at < ?"
            " RETURNING *",
            _now(), older_than_ms,
        ).fetchall()
        return [_request(row) for row in rows]

    def request(self, user_id: str, request_id: str, kind: str) -> Request | None:
        """One request of this user's; None when it does not exist or belongs to someone else."""
        row = self._run(
            "SELECT * FROM requests WHERE request_id = ? AND user_id = ? AND kind = ?", request_id, user_id, kind
        ).fetchone()
        return _request(row) if row else None

    def requests(self, user_id: str, kind: str, limit: int = 50, offset: int = 0) -> list[Request]:
        rows = self._run(
            "SELECT * FROM requests WHERE user_id = ? AND kind = ? ORDER BY created_at DESC, request_id"
            " LIMIT ? OFFSET ?",
            user_id, kind, limit, offset,
        ).fetchall()
        return [_request(row) for row in rows]

    def latest_score(self, user_id: str) -> Request | None:
        row = self._run(
            "SELECT * FROM requests WHERE user_id = ? AND kind = 'score' AND status = 'calculated'"
            " ORDER BY created_at DESC LIMIT 1",
            user_id,
        ).fetchone()
        return _request(row) if row else None

    def generated_invoices(self, user_id: str, answered_since_ms: int) -> list[Request]:
        """This user's generated invoices answered since then, oldest first: what the overview's chart counts (an
        invoice issued since then was answered since then too; charts.py groups them by the month of issue)."""
        rows = self._run(
            "SELECT * FROM requests WHERE user_id = ? AND kind = 'invoice' AND status = 'generated' AND updated_at >= ?"
            " ORDER BY created_at, request_id",
            user_id, answered_since_ms,
        ).fetchall()
        return [_request(row) for row in rows]

    def calculated_scores(self, user_id: str, limit: int = 50) -> list[Request]:
        """This user's newest `limit` calculated scores, newest first."""
        rows = self._run(
            "SELECT * FROM requests WHERE user_id = ? AND kind = 'score' AND status = 'calculated'"
            " ORDER BY created_at DESC, request_id LIMIT ?",
            user_id, limit,
        ).fetchall()
        return [_request(row) for row in rows]

    def close(self) -> None:
        self._db.close()


def _request(row: tuple[Any, ...]) -> Request:
    request_id, kind, user_id, status, created_at, updated_at, request, reply = row
    return Request(
        request_id, kind, user_id, status, created_at, updated_at, json.loads(request),
        json.loads(reply) if reply else None,
    )
