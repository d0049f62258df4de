"""Request bodies: capped and given a deadline before any endpoint parses them, forms as much as JSON."""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimits"]

log = logging.getLogger(__name__)


class BodyRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class BodyLimits:
    """Every request body at most `max_bytes`, and in full within `timeout_seconds` of its headers.

    A body declared too large is refused (413) before a byte of it is read; one that grows too large or
    comes too slowly is refused (413, 408) as soon as it does, whichever endpoint is reading it. A client
    that goes away mid-body is one log line: nothing went wrong here, so no traceback.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and not (declared.isascii() and declared.isdigit() and int(declared) <= self.max_bytes):
            await _refuse(scope, send, BodyRefused(413, f"the body must be at most {self.max_bytes} bytes"))
            return
        body = _Body(receive, self.max_bytes, self.timeout_seconds,
                     expected=declared not in (None, "0") or "transfer-encoding" in headers)
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, body.receive, watched)
        except BodyRefused as refused:
            if not started:
                await _refuse(scope, send, refused)
        except ClientDisconnect:
            log.info("the client went away before sending its whole request body",
                     extra={"method": scope["method"], "path": scope["path"], "received_bytes": body.size})


class _Body:
    """The app's `receive`, counting and timing the body; once the body is in, left alone (disconnect notices)."""

    def __init__(self, receive: Receive, max_bytes: int, timeout_seconds: float, expected: bool) -> None:
        self._receive = receive
        self._max_bytes = max_bytes
        self._timeout_seconds = timeout_seconds
        self._deadline = asyncio.get_running_loop().time() + timeout_seconds
        self.complete = not expected
        self.size = 0

    async def receive(self) -> Message:
        if self.complete:
            return await self._receive()
        try:
            async with asyncio.timeout_at(self._deadline):  # no task of its own, unlike wait_for
                message = await self._receive()
        except TimeoutError:
            raise BodyRefused(408, f"the body did not arrive within {self._timeout_seconds:g} s") from None
        if message["type"] == "http.request":
            self.size += len(message.get("body", b""))
            if self.size > self._max_bytes:
                raise BodyRefused(413, f"the body must be at most {self._max_bytes} bytes")
            self.complete = not message.get("more_body", False)
        return message


async def _refuse(scope: Scope, send: Send, refused: BodyRefused) -> None:
    """The refusal in the API's JSON error shape or as text for pages; a 408 also closes the connection."""
    log.info("refused a request body: %s", refused, extra={"method": scope["method"], "path": scope["path"]})
    if scope["path"].startswith("/api/"):
        body, media = json.dumps({"error": str(refused)}).encode(), b"application/json"
    else:
        body, media = f"{refused}\n".encode(), b"text/plain; charset=utf-8"
    headers = [(b"content-type", media), (b"content-length", str(len(body)).encode())]
    if refused.status == 408:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": refused.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
