"""The sessions' rows: a token's hash names each, with its user, its forms' token and when it expires.

A session found is kept in memory for FOUND_SECONDS: every request looks its session up, and the lookup was a tenth of
a busy dashboard's time. Whatever this process changes ends what it kept at once (a session ended, every session of a
user ended, a user verified, given a password, made or unmade an operator: `forget`); a change made by another process
(another dashboard, `make operator`) is seen within FOUND_SECONDS.
"""

from __future__ import annotations

import time

from services.dashboard.db.engine import Sql, now_ms
from services.dashboard.db.model import Session
from services.dashboard.db.users import USER_COLUMNS, user

__all__ = ["FOUND_SECONDS", "SessionRepository"]

FOUND_SECONDS = 1.0
KEPT = 10_000  # sessions kept at most; past it, the stale ones are dropped


class SessionRepository:
    def __init__(self, sql: Sql) -> None:
        self._sql = sql
        self._found: dict[str, tuple[Session, float, int]] = {}  # token hash -> the session, when read, its expiry
        self._forgets = 0  # how many times something was forgotten: a lookup that raced one keeps nothing

    def add(self, token_hash: str, user_id: str, csrf: str, expires_at_ms: int) -> None:
        self._sql.change(
            "INSERT INTO sessions (token_hash, user_id, csrf, expires_at) VALUES (:token_hash, :user_id, :csrf, :expires)",
            token_hash=token_hash, user_id=user_id, csrf=csrf, expires=expires_at_ms,
        )

    def kept(self, token_hash: str) -> Session | None:
        """The session as kept in memory, if it was found less than FOUND_SECONDS ago and has not expired; None
        otherwise (not known: `find` it). Reads no database."""
        kept = self._found.get(token_hash)
        if kept is not None and time.monotonic() - kept[1] < FOUND_SECONDS and now_ms() < kept[2]:
            return kept[0]
        return None

    def find(self, token_hash: str) -> Session | None:
        """The session and its user; None when there is none, or it has expired."""
        now, forgets = time.monotonic(), self._forgets
        if (kept := self.kept(token_hash)) is not None:
            return kept
        row = self._sql.row(
            f"SELECT sessions.expires_at, sessions.csrf, {USER_COLUMNS} FROM sessions"
            " JOIN users ON users.id = sessions.user_id WHERE sessions.token_hash = :token_hash AND sessions.expires_at > :now",
            token_hash=token_hash, now=now_ms(),
        )
        if row is None:
            self._found.pop(token_hash, None)
            return None
        session = Session(user(row[2:]), row[1])
        if len(self._found) >= KEPT:
            self._found = {key: entry for key, entry in list(self._found.items()) if now - entry[1] < FOUND_SECONDS}
        if forgets == self._forgets:
            self._found[token_hash] = (session, now, row[0])
        return session

    def forget(self, user_id: str) -> None:
        """Drop what is kept of `user_id`'s sessions: the user or their sessions changed."""
        self._forgets += 1
        for key, (session, *_) in list(self._found.items()):
            if session.user.id == user_id:
                self._found.pop(key, None)

    def end(self, token_hash: str) -> None:
        self._sql.change("DELETE FROM sessions WHERE token_hash = :token_hash", token_hash=token_hash)
        self._forgets += 1
        self._found.pop(token_hash, None)

    def end_all(self, user_id: str, keep: str | None = None) -> None:
        """End every session of `user_id`'s but the one whose hash is `keep`."""
        self._sql.change("DELETE FROM sessions WHERE user_id = :user_id AND token_hash <> :keep",
                         user_id=user_id, keep=keep or "")
        self.forget(user_id)

    def forget_expired(self) -> None:
        """Drop the expired sessions (they already sign no one in)."""
        self._sql.change("DELETE FROM sessions WHERE expires_at <= :now", now=now_ms())
