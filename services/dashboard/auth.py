"""Who is signed in: argon2 password hashes, a signed session cookie, and CSRF tokens for forms."""

from __future__ import annotations

import secrets
import uuid

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request

from services.dashboard.db import Database, User

__all__ = ["csrf_token", "current_user", "log_in", "log_out", "sign_up", "valid_csrf", "verify"]

_hasher = PasswordHasher()
# Verifying against a dummy hash for unknown emails keeps the response time from telling who has an account.
_DUMMY_HASH = _hasher.hash("not a real password")


def sign_up(db: Database, email: str, password: str) -> User | None:
    """The new user; None when the email is taken."""
    return db.create_user(str(uuid.uuid4()), email, _hasher.hash(password))


def verify(db: Database, email: str, password: str) -> User | None:
    user = db.user_by_email(email)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


def log_in(request: Request, user: User) -> None:
    request.session.clear()  # a fresh session on log-in: no fixation
    request.session["user_id"] = user.id


def log_out(request: Request) -> None:
    request.session.clear()


def current_user(request: Request) -> User | None:
    """The signed-in user, looked up once per request (a page and its layout both ask)."""
    if not hasattr(request.state, "user"):
        user_id = request.session.get("user_id")
        db: Database = request.app.state.db
        request.state.user = db.user(user_id) if isinstance(user_id, str) else None
    return request.state.user  # type: ignore[no-any-return]


def csrf_token(request: Request) -> str:
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(24)
    return str(request.session["csrf"])


def valid_csrf(request: Request, submitted: object) -> bool:
    expected = request.session.get("csrf")
    return isinstance(expected, str) and isinstance(submitted, str) and secrets.compare_digest(expected, submitted)
