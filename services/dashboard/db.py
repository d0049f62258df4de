"""The dashboard's state: users, their sessions and their requests (pending, then answered or timed out), in SQLite
or PostgreSQL (DATABASE_URL), through SQLAlchemy Core and SQL that means the same on both."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url, text

from services.dashboard.migrations import upgrade

__all__ = ["Claim", "Database", "Request", "Session", "State", "User", "engine"]


class State(StrEnum):
    """A request's life: pending until its answer (generated or rejected, calculated) or its time-out. Said once
    here; the first migration's CHECK is a snapshot of it, as migrations are."""

    PENDING = "pending"
    GENERATED = "generated"
    REJECTED = "rejected"
    CALCULATED = "calculated"
    TIMED_OUT = "timed_out"

# The columns of a request, in the order _request reads them.
REQUEST = "request_id, kind, user_id, status, created_at, updated_at, request, reply"


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


def _url(url: str) -> URL:
    """DATABASE_URL as SQLAlchemy names it: postgresql:// through psycopg (version 3), sqlite:/// as it is."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg") if parsed.drivername == "postgresql" else parsed


def _sqlite_settings(connection: Any, _: Any) -> None:
    connection.execute("PRAGMA journal_mode=WAL")  # readers go on while one connection writes
    # The request itself is durable in Kafka before the 202; this database is the dashboard's view of it, so
    # it syncs at checkpoints (survives a process crash, not a power cut) to keep writes cheap.
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")


def engine(url: str, connections: int = 1) -> Engine:
    """An engine for DATABASE_URL (sqlite:///<path>, or postgresql://<user>:<password>@<host>:<port>/<database>)
    holding at most `connections` connections: a thread that finds them all in use waits for one."""
    parsed = _url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_size=connections, max_overflow=0)
    if parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # A writer waits up to 30 s for another connection's write to end.
    made = create_engine(parsed, pool_size=connections, max_overflow=0, connect_args={"timeout": 30})
    event.listen(made, "connect", _sqlite_settings)
    return made


class Database:
    """The dashboard's tables, one short transaction per method; any thread may call any method at any time.

    Opening it applies the migrations the database lacks (migrations.upgrade).
    """

    def __init__(self, url: str, connections: int = 1) -> None:
        self._engine = engine(url, connections)
        upgrade(self._engine)

    def _rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self._engine.begin() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]

    def _row(self, sql: str, **params: Any) -> tuple[Any, ...] | None:
        with self._engine.begin() as connection:
            row = connection.execute(text(sql), params).first()
        return tuple(row) if row else None

    def _change(self, sql: str, **params: Any) -> int:
        """Run a statement that returns no rows; how many rows it changed."""
        with self._engine.begin() as connection:
            return connection.execute(text(sql), params).rowcount

    def create_user(self, user_id: str, email: str, password_hash: str) -> User | None:
        """The new user; None when the email is taken."""
        inserted = self._change(
            "INSERT INTO users (id, email, password_hash, created_at) VALUES (:id, :email, :hash, :now)"
            " ON CONFLICT DO NOTHING",
            id=user_id, email=email, hash=password_hash, now=_now(),
        )
        return User(user_id, email, password_hash) if inserted else None

    def user_by_email(self, email: str) -> User | None:
        row = self._row("SELECT id, email, password_hash FROM users WHERE email = :email", email=email)
        return User(*row) if row else None

    def user(self, user_id: str) -> User | None:
        row = self._row("SELECT id, email, password_hash FROM users WHERE id = :id", id=user_id)
        return User(*row) if row else None

    def add_session(self, token_hash: str, user_id: str, csrf: str, expires_at_ms: int) -> None:
        self._change(
            "INSERT INTO sessions (token_hash, user_id, csrf, expires_at) VALUES (:token_hash, :user_id, :csrf, :expires)",
            token_hash=token_hash, user_id=user_id, csrf=csrf, expires=expires_at_ms,
        )

    def session(self, token_hash: str) -> Session | None:
        """The session and its user; None when there is none, or it has expired."""
        row = self._row(
            "SELECT users.id, users.email, users.password_hash, sessions.csrf FROM sessions"
            " JOIN users ON users.id = sessions.user_id WHERE sessions.token_hash = :token_hash AND sessions.expires_at > :now",
            token_hash=token_hash, now=_now(),
        )
        return Session(User(*row[:3]), row[3]) if row else None

    def end_session(self, token_hash: str) -> None:
        self._change("DELETE FROM sessions WHERE token_hash = :token_hash", token_hash=token_hash)

    def forget_sessions(self) -> None:
        """Drop the expired sessions (they already sign no one in)."""
        self._change("DELETE FROM sessions WHERE expires_at <= :now", now=_now())

    def add_request(self, request_id: str, kind: str, user_id: str, request: dict[str, Any]) -> None:
        now = _now()
        self._change(
            f"INSERT INTO requests ({REQUEST}) VALUES (:request_id, :kind, :user_id, :pending, :now, :now, :request, NULL)",
            request_id=request_id, kind=kind, user_id=user_id, pending=State.PENDING, now=now, request=json.dumps(request),
        )

    def forget_request(self, request_id: str) -> None:
        """Drop a request that never reached Kafka (the client was told 503), and free its idempotency key."""
        with self._engine.begin() as connection:
            connection.execute(text("DELETE FROM idempotency_keys WHERE request_id = :id"), {"id": request_id})
            connection.execute(text("DELETE FROM requests WHERE request_id = :id AND status = :pending"),
                               {"id": request_id, "pending": State.PENDING})

    def claim_key(self, user_id: str, key: str, fingerprint: str, request_id: str, expired_before_ms: int) -> Claim | None:
        """Take `key` for `request_id` (state 'sending'); the earlier claim instead when the key is in use.

        A claim made before `expired_before_ms` no longer counts. The insert is the lock: of two dashboards
        claiming one key at once, one inserts and the other, once the first has committed, reads that claim.
        """
        key_params = {"user_id": user_id, "key": key}
        with self._engine.begin() as connection:
            connection.execute(text("DELETE FROM idempotency_keys WHERE user_id = :user_id AND key = :key"
                                    " AND created_at < :expired"), {**key_params, "expired": expired_before_ms})
            inserted = connection.execute(text(
                "INSERT INTO idempotency_keys (user_id, key, fingerprint, request_id, state, created_at)"
                " VALUES (:user_id, :key, :fingerprint, :request_id, 'sending', :now) ON CONFLICT DO NOTHING"),
                {**key_params, "fingerprint": fingerprint, "request_id": request_id, "now": _now()}).rowcount
            if inserted:
                return None
            row = connection.execute(text("SELECT fingerprint, request_id, state, created_at FROM idempotency_keys"
                                          " WHERE user_id = :user_id AND key = :key"), key_params).first()
        # Gone between the insert and the select (given up by a failed send): try again.
        return Claim(*row) if row else self.claim_key(user_id, key, fingerprint, request_id, expired_before_ms)

    def key_accepted(self, request_id: str) -> None:
        self._change("UPDATE idempotency_keys SET state = 'accepted' WHERE request_id = :id", id=request_id)

    def forget_keys(self, older_than_ms: int) -> None:
        self._change("DELETE FROM idempotency_keys WHERE created_at < :before", before=older_than_ms)

    def answer(self, request_id: str, status: str, reply: dict[str, Any]) -> Request | None:
        """Store a reply (also after a time-out: a late answer is still the answer); None for unknown requests."""
        row = self._row(
            f"UPDATE requests SET status = :status, reply = :reply, updated_at = :now WHERE request_id = :id RETURNING {REQUEST}",
            status=status, reply=json.dumps(reply), now=_now(), id=request_id,
        )
        return _request(row) if row else None

    def expire(self, older_than_ms: int) -> list[Request]:
        """Mark requests pending since before `older_than_ms` as timed out; returns them."""
        rows = self._rows(
            "UPDATE requests SET status = :timed_out, updated_at = :now WHERE status = :pending AND created_at < :before"
            f" RETURNING {REQUEST}",
            timed_out=State.TIMED_OUT, pending=State.PENDING, now=_now(), before=older_than_ms,
        )
        return [_request(row) for row in rows]

    def request(self, user_id: str, request_id: str, kind: str) -> Request | None:
        """One request of this user's; None when it does not exist or belongs to someone else."""
        row = self._row(
            f"SELECT {REQUEST} FROM requests WHERE request_id = :id AND user_id = :user_id AND kind = :kind",
            id=request_id, user_id=user_id, kind=kind,
        )
        return _request(row) if row else None

    def requests(self, user_id: str, kind: str, limit: int = 50, offset: int = 0) -> list[Request]:
        rows = self._rows(
            f"SELECT {REQUEST} FROM requests WHERE user_id = :user_id AND kind = :kind"
            " ORDER BY created_at DESC, request_id LIMIT :limit OFFSET :offset",
            user_id=user_id, kind=kind, limit=limit, offset=offset,
        )
        return [_request(row) for row in rows]

    def latest_score(self, user_id: str) -> Request | None:
        row = self._row(
            f"SELECT {REQUEST} FROM requests WHERE user_id = :user_id AND kind = 'score' AND status = 'calculated'"
            " ORDER BY created_at DESC, request_id LIMIT 1",
            user_id=user_id,
        )
        return _request(row) if row else None

    def generated_invoices(self, user_id: str, answered_since_ms: int) -> list[Request]:
        """This user's generated invoices answered since then, oldest first: what the overview's chart counts (an
        invoice issued since then was answered since then too; charts.py groups them by the month of issue)."""
        rows = self._rows(
            f"SELECT {REQUEST} FROM requests WHERE user_id = :user_id AND kind = 'invoice' AND status = 'generated'"
            " AND updated_at >= :since ORDER BY created_at, request_id",
            user_id=user_id, since=answered_since_ms,
        )
        return [_request(row) for row in rows]

    def calculated_scores(self, user_id: str, limit: int = 50) -> list[Request]:
        """This user's newest `limit` calculated scores, newest first."""
        rows = self._rows(
            f"SELECT {REQUEST} FROM requests WHERE user_id = :user_id AND kind = 'score' AND status = 'calculated'"
            " ORDER BY created_at DESC, request_id LIMIT :limit",
            user_id=user_id, limit=limit,
        )
        return [_request(row) for row in rows]

    def close(self) -> None:
        self._engine.dispose()


def _request(row: tuple[Any, ...]) -> Request:
    request_id, kind, user_id, status, created_at, updated_at, request, reply = row
    return Request(
        request_id, kind, user_id, status, created_at, updated_at, json.loads(request),
        json.loads(reply) if reply else None,
    )
