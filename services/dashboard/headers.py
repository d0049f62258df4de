"""The headers every response gets: a strict content security policy and its companions, no caching of
anything but the static files, and HSTS when the request came over HTTPS."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HSTS", "SECURITY_HEADERS", "SecurityHeaders"]

# Everything the pages use is served from here: no inline scripts, nothing from other sites.
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
# A year; without includeSubDomains, since the dashboard cannot speak for the other hosts of its domain.
HSTS = (b"strict-transport-security", b"max-age=31536000")
NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """Adds SECURITY_HEADERS; `Cache-Control: no-store` to every response but /static/ (pages and answers are
    one person's: no browser or proxy cache may keep them, say on a shared computer after signing out); and
    HSTS when the request came over HTTPS, which behind a proxy is what a proxy in uvicorn's
    FORWARDED_ALLOW_IPS says with X-Forwarded-Proto (a client elsewhere cannot claim it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = not scope["path"].startswith("/static/")
        added = [*SECURITY_HEADERS, *([NO_STORE] if private else []), *([HSTS] if scope["scheme"] == "https" else [])]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(name, value) for name, value in message.get("headers", [])
                        if not (private and name.lower() == b"cache-control")]
                message["headers"] = [*kept, *added]
            await send(message)

        await self.app(scope, receive, with_headers)
