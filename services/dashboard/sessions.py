"""Sessions kept on the server: a random token names one, and signing out or expiry ends it at once."""

from __future__ import annotations

import hashlib
import secrets
import time

from services.dashboard.db import Database, OffLoop, Session, User

__all__ = ["Sessions", "token_hash"]


def token_hash(token: str) -> str:
    """What the database keeps of a random token (a session's, a mailed link's): its SHA-256, so that a copy of the
    table signs no one in."""
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    """Starts, finds and ends sessions; each lasts `lifetime_seconds` from its start, however busy it is.

    The database keeps only a hash of each token, so a copy of it signs no one in. Every dashboard sharing
    the database sees a session end the moment one of them ends it.
    """

    def __init__(self, db: OffLoop[Database], lifetime_seconds: int) -> None:
        self._db = db
        self.lifetime_seconds = lifetime_seconds

    async def start(self, user: User) -> str:
        """A new session for `user`: the token for its cookie."""
        token = secrets.token_urlsafe(32)
        expires_at_ms = int((time.time() + self.lifetime_seconds) * 1000)
        hashed, csrf = token_hash(token), secrets.token_urlsafe(24)
        await self._db.run(lambda database: database.sessions.add(hashed, user.id, csrf, expires_at_ms))
        return token

    async def find(self, token: str) -> Session | None:
        """The live session `token` names; None when it never existed, was ended or has expired."""
        hashed = token_hash(token)
        kept = self._db.at_once(lambda database: database.sessions.kept(hashed))  # most requests: no thread, no query
        return kept if kept is not None else await self._db.run(lambda database: database.sessions.find(hashed))

    async def end(self, token: str) -> None:
        await self._db.run(lambda database: database.sessions.end(token_hash(token)))

    async def forget_expired(self) -> None:
        await self._db.run(lambda database: database.sessions.forget_expired())
