"""The accounts: one per email address."""

from __future__ import annotations

from services.dashboard.db.engine import Sql, now_ms
from services.dashboard.db.model import User

__all__ = ["UserRepository"]

COLUMNS = "id, email, password_hash"


class UserRepository:
    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    def create(self, user_id: str, email: str, password_hash: str) -> User | None:
        """The new user; None when the email is taken."""
        inserted = self._sql.change(
            "INSERT INTO users (id, email, password_hash, created_at) VALUES (:id, :email, :hash, :now)"
            " ON CONFLICT DO NOTHING",
            id=user_id, email=email, hash=password_hash, now=now_ms(),
        )
        return User(user_id, email, password_hash) if inserted else None

    def by_email(self, email: str) -> User | None:
        row = self._sql.row(f"SELECT {COLUMNS} FROM users WHERE email = :email", email=email)
        return User(*row) if row else None

    def by_id(self, user_id: str) -> User | None:
        row = self._sql.row(f"SELECT {COLUMNS} FROM users WHERE id = :id", id=user_id)
        return User(*row) if row else None
