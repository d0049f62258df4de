"""Tracing the dashboard's HTTP requests (TRACING=1): a server span per request, whose context every record the request
produces carries; the child of the trace context the client sent in `traceparent`, if it sent one."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts.headers import TRACE_CONTEXT
from messaging import tracing

__all__ = ["TracedRequests"]

# Streams that stay open for hours, probes, and files: no span of theirs would tell anyone anything.
UNTRACED = ("/events", "/static/", "/healthz", "/readyz")
CONTEXT = {header.name.encode(): header.name for header in TRACE_CONTEXT.WRITTEN}


class TracedRequests:
    """ASGI middleware, outermost, added only when tracing is on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNTRACED):
            await self.app(scope, receive, send)
            return
        carrier = {CONTEXT[name]: value.decode("latin-1") for name, value in scope["headers"] if name in CONTEXT}
        method, status = scope["method"], 500
        with tracing.serving(method, scope["path"], carrier) as server:

            async def sending(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, sending)
            finally:
                route = scope.get("route")
                tracing.responded(server, status, method, getattr(route, "path", None))
