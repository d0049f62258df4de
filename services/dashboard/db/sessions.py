"""The sessions' rows: a token's hash names each, with its user, its forms' token and when it expires."""

from __future__ import annotations

from services.dashboard.db.engine import Sql, now_ms
from services.dashboard.db.model import Session
from services.dashboard.db.users import USER_COLUMNS, user

__all__ = ["SessionRepository"]


class SessionRepository:
    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    def add(self, token_hash: str, user_id: str, csrf: str, expires_at_ms: int) -> None:
        self._sql.change(
            "INSERT INTO sessions (token_hash, user_id, csrf, expires_at) VALUES (:token_hash, :user_id, :csrf, :expires)",
            token_hash=token_hash, user_id=user_id, csrf=csrf, expires=expires_at_ms,
        )

    def find(self, token_hash: str) -> Session | None:
        """The session and its user; None when there is none, or it has expired."""
        row = self._sql.row(
            f"SELECT sessions.csrf, {USER_COLUMNS} FROM sessions"
            " JOIN users ON users.id = sessions.user_id WHERE sessions.token_hash = :token_hash AND sessions.expires_at > :now",
            token_hash=token_hash, now=now_ms(),
        )
        return Session(user(row[1:]), row[0]) if row else None

    def end(self, token_hash: str) -> None:
        self._sql.change("DELETE FROM sessions WHERE token_hash = :token_hash", token_hash=token_hash)

    def end_all(self, user_id: str, keep: str | None = None) -> None:
        """End every session of `user_id`'s but the one whose hash is `keep`."""
        self._sql.change("DELETE FROM sessions WHERE user_id = :user_id AND token_hash <> :keep",
                         user_id=user_id, keep=keep or "")

    def forget_expired(self) -> None:
        """Drop the expired sessions (they already sign no one in)."""
        self._sql.change("DELETE FROM sessions WHERE expires_at <= :now", now=now_ms())
