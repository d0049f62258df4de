"""Request bodies are capped and timed before any endpoint parses them; a client gone mid-body is one log line."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import Message, Receive, Scope, Send

from services.dashboard.bodies import BodyLimits


async def length_of_body(scope: Scope, receive: Receive, send: Send) -> None:
    """An endpoint that reads the whole body, as the JSON API and the forms do."""
    body = await Request(scope, receive).body()
    await PlainTextResponse(f"{len(body)} bytes")(scope, receive, send)


def call(messages: Iterable[Message | float], path: str = "/api/invoices", headers: dict[str, str] | None = None,
         max_bytes: int = 10, timeout_seconds: float = 0.2) -> list[Message]:
    """Run BodyLimits around the endpoint; a float among the messages is a pause before the next."""
    pending = list(messages)
    sent: list[Message] = []

    async def receive() -> Message:
        while pending and isinstance(pending[0], float):
            await asyncio.sleep(pending.pop(0))  # type: ignore[arg-type]
        if not pending:
            await asyncio.sleep(3600)  # the client sends nothing more
        return pending.pop(0)  # type: ignore[return-value]

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path,
             "headers": [(k.encode(), v.encode()) for k, v in (headers or {"transfer-encoding": "chunked"}).items()]}
    asyncio.run(BodyLimits(length_of_body, max_bytes, timeout_seconds)(scope, receive, send))
    return sent


def chunk(body: bytes, more: bool = True) -> Message:
    return {"type": "http.request", "body": body, "more_body": more}


def status(sent: list[Message]) -> int:
    return int(sent[0]["status"])


def test_a_body_within_the_cap_reaches_the_endpoint_whole() -> None:
    sent = call([chunk(b"12345"), 0.05, chunk(b"67890", more=False)])
    assert status(sent) == 200 and sent[1]["body"] == b"10 bytes"


def test_a_body_declared_too_large_is_refused_before_a_byte_is_read() -> None:
    sent = call([], headers={"content-length": "11"})  # receive would wait forever if it were called
    assert status(sent) == 413
    assert json.loads(sent[1]["body"]) == {"error": "the body must be at most 10 bytes"}


def test_a_body_that_grows_past_the_cap_is_refused_as_it_does_pages_in_text() -> None:
    sent = call([chunk(b"123456"), chunk(b"789012")], path="/login")
    assert status(sent) == 413
    assert sent[1]["body"] == b"the body must be at most 10 bytes\n"


def test_a_body_too_slow_is_answered_408_and_the_connection_closed() -> None:
    sent = call([chunk(b"1"), 0.1, chunk(b"2"), 0.15, chunk(b"3", more=False)])
    assert status(sent) == 408
    assert (b"connection", b"close") in sent[0]["headers"]


def test_a_client_gone_mid_body_is_one_line_at_info(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        sent = call([chunk(b"1234"), {"type": "http.disconnect"}])
    assert sent == []  # nobody is left to answer
    assert [(r.levelno, r.exc_info) for r in caplog.records] == [(logging.INFO, None)]
    assert "went away" in caplog.records[0].getMessage() and caplog.records[0].received_bytes == 4  # type: ignore[attr-defined]


def test_once_the_body_is_in_waiting_for_the_client_is_not_timed() -> None:
    async def waits_for_disconnect(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # the body
        assert (await receive())["type"] == "http.disconnect"  # as a streaming response listens
        await PlainTextResponse("done")(scope, receive, send)

    sent: list[Message] = []
    messages = [chunk(b"x", more=False), {"type": "http.disconnect"}]

    async def receive() -> Message:
        await asyncio.sleep(0.1 if len(messages) == 1 else 0)
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"content-length", b"1")]}
    asyncio.run(BodyLimits(waits_for_disconnect, 10, 0.05)(scope, receive, send))
    assert status(sent) == 200
