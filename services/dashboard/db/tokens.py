"""The one-use links mailed to an account's address: to verify it, or to reset its password. Only a hash of each
token is kept, and a newer link of the same purpose replaces the older one."""

from __future__ import annotations

from services.dashboard.db.engine import Sql, now_ms, statement

__all__ = ["TokenRepository"]


class TokenRepository:
    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    def issue(self, token_hash: str, user_id: str, purpose: str, expires_at_ms: int) -> None:
        """A new link of `purpose` for `user_id`; any earlier one of that purpose stops working."""
        with self._sql.transaction() as connection:
            connection.execute(statement("DELETE FROM account_tokens WHERE user_id = :user_id AND purpose = :purpose"),
                               {"user_id": user_id, "purpose": purpose})
            connection.execute(statement(
                "INSERT INTO account_tokens (token_hash, user_id, purpose, expires_at)"
                " VALUES (:hash, :user_id, :purpose, :expires)"),
                {"hash": token_hash, "user_id": user_id, "purpose": purpose, "expires": expires_at_ms})

    def holder(self, token_hash: str, purpose: str) -> str | None:
        """The user a live link of `purpose` was sent to, leaving it unused; None for an unknown, used or expired one."""
        row = self._sql.row("SELECT user_id FROM account_tokens WHERE token_hash = :hash AND purpose = :purpose"
                            " AND expires_at > :now", hash=token_hash, purpose=purpose, now=now_ms())
        return str(row[0]) if row else None

    def use(self, token_hash: str, purpose: str) -> str | None:
        """The user a live link of `purpose` was sent to, the link used up at once (two clicks: one wins); None for
        an unknown, used or expired one."""
        row = self._sql.row("DELETE FROM account_tokens WHERE token_hash = :hash AND purpose = :purpose"
                            " AND expires_at > :now RETURNING user_id", hash=token_hash, purpose=purpose, now=now_ms())
        return str(row[0]) if row else None

    def forget_expired(self) -> None:
        self._sql.change("DELETE FROM account_tokens WHERE expires_at <= :now", now=now_ms())
