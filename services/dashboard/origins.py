"""Cross-site request forgery stopped at the door: a state-changing request that a browser sends from another
site is refused (403) before anything reads its body or acts on it.

Browsers say where a request comes from. A POST or DELETE is let through when `Sec-Fetch-Site` is
`same-origin` (this site's own pages) or `none` (the person's own doing, such as a bookmark), and refused
when it is `cross-site` or `same-site` (a sibling host of the same site, such as another subdomain, which
SameSite cookies do not stop). A browser too old to send `Sec-Fetch-Site` still sends `Origin` with a
POST: it must name this host. A request with neither header comes from no browser (curl, a script), so no
victim's cookie rides along and there is nothing to forge. Go's net/http.CrossOriginProtection has the same
rule. The pages' forms also carry a CSRF token of their session (pages.py), a second lock.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["SameOriginOnly", "cross_site"]

log = logging.getLogger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def cross_site(headers: Headers) -> str | None:
    """Why a state-changing request with these headers is taken as another site's; None when it is not."""
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        return None if fetch_site in ("same-origin", "none") else f"Sec-Fetch-Site is {fetch_site}"
    origin = headers.get("origin")
    if origin is None:
        return None
    # Host, not scheme: behind a proxy that ends TLS the scheme differs while the host is the same.
    if origin == "null" or urlsplit(origin).netloc.lower() != headers.get("host", "").lower():
        return f"Origin {origin} is not this site"
    return None


class SameOriginOnly:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            if reason := cross_site(Headers(scope=scope)):
                await _refuse(scope, send, reason)
                return
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, send: Send, reason: str) -> None:
    """403 in the API's JSON error shape, or as text for pages."""
    log.info("refused a cross-site request: %s", reason, extra={"method": scope["method"], "path": scope["path"]})
    message = f"refused: this request came from another site ({reason}); send it from this site's own pages"
    if scope["path"].startswith("/api/"):
        body, media = json.dumps({"error": message}).encode(), b"application/json"
    else:
        body, media = f"{message}\n".encode(), b"text/plain; charset=utf-8"
    headers = [(b"content-type", media), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})
