"""The accounts: one per email address, verified once its owner opens a link mailed to it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.dashboard.db.engine import Sql, now_ms
from services.dashboard.db.model import User

__all__ = ["USER_COLUMNS", "UserRepository", "user"]

# A user's columns, in the order `user` reads them (sessions.py reads them too).
USER_COLUMNS = ("users.id, users.email, users.password_hash, users.verified_at IS NOT NULL,"
                " EXISTS (SELECT 1 FROM operators WHERE operators.user_id = users.id)")


def user(row: tuple[Any, ...]) -> User:
    user_id, email, password_hash, verified, operator = row
    return User(user_id, email, password_hash, bool(verified), bool(operator))


class UserRepository:
    def __init__(self, sql: Sql, changed: Callable[[str], None]) -> None:
        self._sql = sql
        self._changed = changed  # told each user changed (sessions keep users: SessionRepository.forget)

    def create(self, user_id: str, email: str, password_hash: str) -> User | None:
        """The new user, not verified yet; None when the email is taken."""
        inserted = self._sql.change(
            "INSERT INTO users (id, email, password_hash, created_at) VALUES (:id, :email, :hash, :now)"
            " ON CONFLICT DO NOTHING",
            id=user_id, email=email, hash=password_hash, now=now_ms(),
        )
        return User(user_id, email, password_hash, verified=False, operator=False) if inserted else None

    def by_email(self, email: str) -> User | None:
        row = self._sql.row(f"SELECT {USER_COLUMNS} FROM users WHERE email = :email", email=email)
        return user(row) if row else None

    def by_id(self, user_id: str) -> User | None:
        row = self._sql.row(f"SELECT {USER_COLUMNS} FROM users WHERE id = :id", id=user_id)
        return user(row) if row else None

    def verify(self, user_id: str) -> None:
        """Its owner proved the address theirs (the first time counts)."""
        self._sql.change("UPDATE users SET verified_at = :now WHERE id = :id AND verified_at IS NULL", id=user_id, now=now_ms())
        self._changed(user_id)

    def set_password(self, user_id: str, password_hash: str) -> None:
        self._sql.change("UPDATE users SET password_hash = :hash WHERE id = :id", id=user_id, hash=password_hash)
        self._changed(user_id)
