"""Who is signed in: a signed session cookie, CSRF tokens for forms, and where a request comes from."""

from __future__ import annotations

import secrets

from starlette.requests import Request

from services.dashboard.db import Database, User

__all__ = ["client_address", "csrf_token", "current_user", "has_csrf_token", "log_in", "log_out", "valid_csrf"]


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


def client_address(request: Request) -> str:
    """The client's IP address: the connection's, or X-Forwarded-For's from a proxy in uvicorn's FORWARDED_ALLOW_IPS."""
    return request.client.host if request.client else "unknown"


def csrf_token(request: Request) -> str:
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(24)
    return str(request.session["csrf"])


def has_csrf_token(request: Request) -> bool:
    """Whether this session was ever given a form: without that no posted form can be valid."""
    return isinstance(request.session.get("csrf"), str)


def valid_csrf(request: Request, submitted: object) -> bool:
    expected = request.session.get("csrf")
    return isinstance(expected, str) and isinstance(submitted, str) and secrets.compare_digest(expected, submitted)
