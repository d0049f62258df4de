"""Who is signed in: the session the `session` cookie names (kept on the server, looked up once per request by
SessionLookup), its CSRF token for forms, and where a request comes from."""

from __future__ import annotations

import hashlib
import secrets

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.dashboard.appstate import app_state
from services.dashboard.db import Session, User
from services.dashboard.sessions import Sessions

__all__ = ["COOKIE", "SECURE_COOKIE", "SessionLookup", "client_address", "cookie_name", "csrf_token", "current_session",
           "current_user", "log_in", "log_out", "session_key", "session_token", "signed_in_still", "valid_csrf"]

COOKIE = "session"
# Over HTTPS the cookie is __Host-session: a browser keeps one so named only if it is Secure, for the whole site
# (Path=/) and set for no domain, so neither a sibling subdomain nor a plain-HTTP page can plant or overwrite it.
SECURE_COOKIE = "__Host-session"


def _sessions(request: Request) -> Sessions:
    return app_state(request).sessions


def cookie_name(request: Request) -> str:
    """The session cookie's name: __Host-session when the request came over HTTPS, as a trusted proxy says
    (uvicorn's FORWARDED_ALLOW_IPS), else session."""
    return SECURE_COOKIE if request.url.scheme == "https" else COOKIE


def session_token(request: Request) -> str | None:
    return request.cookies.get(cookie_name(request))


def _cookie(request: Request, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(cookie_name(request), token, max_age=max_age, path="/", httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")


class SessionLookup:
    """Finds the session a request's cookie names before the app sees the request, on the database's threads, so
    that a page, its layout and its forms all read it (current_session) without touching the database on the
    event loop. Static files need no session: they are not looked up."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/static/"):
            request = Request(scope)
            token = session_token(request)
            request.state.session = await _sessions(request).find(token) if token else None
        await self.app(scope, receive, send)


async def log_in(request: Request, response: Response, user: User) -> None:
    """Start a session for `user`, its cookie set on `response`; the one this browser had ends (no fixation)."""
    sessions = _sessions(request)
    if old := session_token(request):
        await sessions.end(old)
    _cookie(request, response, await sessions.start(user), sessions.lifetime_seconds)


async def log_out(request: Request, response: Response) -> None:
    """End this browser's session at once, everywhere, and have `response` drop its cookie."""
    if token := session_token(request):
        await _sessions(request).end(token)
    _cookie(request, response, "", 0)


def current_session(request: Request) -> Session | None:
    """The session this request's cookie names, as SessionLookup found it when the request came in."""
    found = getattr(request.state, "session", None)
    return found if isinstance(found, Session) else None


def session_key(request: Request) -> str:
    """A name for this request's session that is not its token (to count things per session in memory)."""
    return hashlib.sha256((session_token(request) or "").encode()).hexdigest()


def current_user(request: Request) -> User | None:
    session = current_session(request)
    return session.user if session else None


async def signed_in_still(request: Request) -> bool:
    """Whether the session this request began with is still live now (a long request, like /events, asks)."""
    token = session_token(request)
    return token is not None and await _sessions(request).find(token) is not None


def client_address(request: Request) -> str:
    """The client's IP address: the connection's, or X-Forwarded-For's from a proxy in uvicorn's FORWARDED_ALLOW_IPS."""
    return request.client.host if request.client else "unknown"


def csrf_token(request: Request) -> str:
    """The token the session's forms carry; empty when no one is signed in (those forms carry none)."""
    session = current_session(request)
    return session.csrf if session else ""


def valid_csrf(request: Request, submitted: object) -> bool:
    session = current_session(request)
    return session is not None and isinstance(submitted, str) and secrets.compare_digest(session.csrf, submitted)
