"""A live-update stream counts against its session while it is open, however it ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from starlette.requests import ClientDisconnect
from starlette.types import Message

from services.dashboard.events import Hub, LiveStream

SCOPE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "method": "GET", "path": "/events",
         "headers": []}


async def _body(hub: Hub) -> AsyncIterator[str]:
    assert hub.streams["s"] == 1  # counted while it runs
    yield "event: x\ndata: {}\n\n"


async def _receive() -> Message:
    await asyncio.sleep(60)
    return {"type": "http.disconnect"}


@pytest.mark.parametrize("spec", ["2.3", "2.4"])  # uvicorn's: Starlette listens for the disconnect; a later server's
def test_a_stream_is_counted_from_when_it_is_made_until_it_ends(spec: str) -> None:
    async def run() -> None:
        hub = Hub()
        response = LiveStream(_body(hub), hub, "s")
        assert hub.streams["s"] == 1  # before a byte is sent: a burst of opens is counted one by one
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        await response({**SCOPE, "asgi": {"version": "3.0", "spec_version": spec}}, _receive, send)
        assert sent[0]["status"] == 200 and "s" not in hub.streams

    asyncio.run(run())


def test_a_stream_whose_client_went_away_is_no_longer_counted() -> None:
    async def run() -> None:
        hub = Hub()
        response = LiveStream(_body(hub), hub, "s")

        async def send(message: Message) -> None:
            raise OSError("the client went away")

        with pytest.raises(ClientDisconnect):  # as Starlette says it
            await response(SCOPE, _receive, send)
        assert "s" not in hub.streams

    asyncio.run(run())
