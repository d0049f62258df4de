"""Who may use the operator view: verified accounts granted the right by a command (or bootstrapped from
OPERATOR_EMAILS), each grant and revocation kept in operator_audit with who made it and when."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection

from services.dashboard.db.engine import Sql, now_ms, statement

__all__ = ["AuditEntry", "OperatorRepository"]


@dataclass(frozen=True)
class AuditEntry:
    at: int  # epoch milliseconds, UTC
    email: str
    action: str  # "grant" or "revoke"
    actor: str  # who ran the command, or OPERATOR_EMAILS


def _audit(connection: Connection, at: int, email: str, action: str, actor: str) -> None:
    """The line operator_audit keeps of a change, in the change's own transaction."""
    connection.execute(statement("INSERT INTO operator_audit (at, email, action, actor) VALUES (:at, :email, :action, :actor)"),
                       {"at": at, "email": email, "action": action, "actor": actor})


class OperatorRepository:
    def __init__(self, sql: Sql, changed: Callable[[str], None]) -> None:
        self._sql = sql
        self._changed = changed  # told each user granted or revoked (sessions keep users: SessionRepository.forget)

    def grant(self, user_id: str, email: str, by: str) -> bool:
        """Make the verified account `user_id` an operator, audited; False when it was one already, or is not
        verified (nobody becomes an operator by signing up with someone else's address)."""
        now = now_ms()
        with self._sql.transaction() as connection:
            granted = connection.execute(statement(
                "INSERT INTO operators (user_id, granted_at, granted_by) SELECT id, :now, :by FROM users"
                " WHERE id = :user_id AND verified_at IS NOT NULL ON CONFLICT DO NOTHING"),
                {"user_id": user_id, "now": now, "by": by}).rowcount
            if granted:
                _audit(connection, now, email, "grant", by)
        self._changed(user_id)
        return bool(granted)

    def revoke(self, user_id: str, email: str, by: str) -> bool:
        """Take the operator's right from `user_id`, audited; False when it had none."""
        now = now_ms()
        with self._sql.transaction() as connection:
            revoked = connection.execute(statement("DELETE FROM operators WHERE user_id = :user_id"),
                                         {"user_id": user_id}).rowcount
            if revoked:
                _audit(connection, now, email, "revoke", by)
        self._changed(user_id)
        return bool(revoked)

    def audit(self) -> list[AuditEntry]:
        """Every grant and revocation, oldest first."""
        return [AuditEntry(*row) for row in self._sql.rows("SELECT at, email, action, actor FROM operator_audit ORDER BY at")]
