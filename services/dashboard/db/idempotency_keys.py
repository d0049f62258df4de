"""The idempotency keys: per user, which request each one made, so that a retry makes no second one."""

from __future__ import annotations

from services.dashboard.db.engine import Sql, now_ms, statement
from services.dashboard.db.model import Claim

__all__ = ["IdempotencyKeyRepository"]


class IdempotencyKeyRepository:
    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    def claim(self, user_id: str, key: str, fingerprint: str, request_id: str, expired_before_ms: int) -> Claim | None:
        """Take `key` for `request_id` (state 'sending'); the earlier claim instead when the key is in use.

        A claim made before `expired_before_ms` no longer counts. The insert is the lock: of two dashboards
        claiming one key at once, one inserts and the other, once the first has committed, reads that claim.
        """
        key_params = {"user_id": user_id, "key": key}
        with self._sql.transaction() as connection:
            connection.execute(statement("DELETE FROM idempotency_keys WHERE user_id = :user_id AND key = :key"
                                    " AND created_at < :expired"), {**key_params, "expired": expired_before_ms})
            inserted = connection.execute(statement(
                "INSERT INTO idempotency_keys (user_id, key, fingerprint, request_id, state, created_at)"
                " VALUES (:user_id, :key, :fingerprint, :request_id, 'sending', :now) ON CONFLICT DO NOTHING"),
                {**key_params, "fingerprint": fingerprint, "request_id": request_id, "now": now_ms()}).rowcount
            if inserted:
                return None
            row = connection.execute(statement("SELECT fingerprint, request_id, state, created_at FROM idempotency_keys"
                                          " WHERE user_id = :user_id AND key = :key"), key_params).first()
        # Gone between the insert and the select (given up by a failed send): try again.
        return Claim(*row) if row else self.claim(user_id, key, fingerprint, request_id, expired_before_ms)

    def accepted(self, request_id: str) -> None:
        """The request the key made is in Kafka: a retry now gets its answer."""
        self._sql.change("UPDATE idempotency_keys SET state = 'accepted' WHERE request_id = :id", id=request_id)

    def forget_older_than(self, older_than_ms: int) -> None:
        self._sql.change("DELETE FROM idempotency_keys WHERE created_at < :before", before=older_than_ms)
