"""Live updates: each signed-in browser holds a Server-Sent Events stream; replies are pushed to it."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

__all__ = ["MAX_STREAMS_PER_SESSION", "Hub", "LiveStream", "stream"]

KEEPALIVE_SECONDS = 15.0
# A person's open tabs. Each stream holds a connection and a queue of up to 1000 events, so one session cannot open
# them without end (a script's loop, a page reloading itself).
MAX_STREAMS_PER_SESSION = 8


class Hub:
    """Per-user queues of events. Every method runs on the event loop's thread."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self.streams: Counter[str] = Counter()  # the streams open per session (LiveStream counts them)

    def subscribe(self, user_id: str) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self._queues[user_id].add(queue)
        return queue

    def unsubscribe(self, user_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._queues[user_id].discard(queue)
        if not self._queues[user_id]:
            del self._queues[user_id]

    def publish(self, user_id: str, event: dict[str, Any]) -> None:
        for queue in self._queues.get(user_id, ()):
            if not queue.full():  # a stalled browser misses updates rather than stalling the others
                queue.put_nowait(event)

    def listening(self, user_id: str) -> bool:
        """Whether `user_id` has a stream open; safe to ask from another thread (a glance at a dict)."""
        return user_id in self._queues

    def listeners(self) -> list[str]:
        """The users with a stream open; safe to ask from another thread (a copy of a dict's keys, made at once)."""
        return list(self._queues)

    @property
    def subscribers(self) -> int:
        return sum(len(queues) for queues in self._queues.values())


class LiveStream(StreamingResponse):
    """An event stream, counted against its session in `hub.streams` from when it is made until it ends however it
    ends (counted at once, so a burst of opens cannot all pass the check before any is counted)."""

    def __init__(self, body: AsyncIterator[str], hub: Hub, session: str) -> None:
        # Cache-Control: no-store comes with every private response (headers.py).
        super().__init__(body, media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})
        self._hub, self._session = hub, session
        hub.streams[session] += 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._hub.streams[self._session] -= 1
            if self._hub.streams[self._session] <= 0:
                del self._hub.streams[self._session]


async def stream(hub: Hub, user_id: str, missed: Callable[[], Awaitable[list[dict[str, Any]]]]) -> AsyncIterator[str]:
    """The text/event-stream body for one browser: what it `missed` (asked once it listens, so nothing falls between),
    then events as they come, a comment now and then. Each event's id is when its submission changed."""
    queue = hub.subscribe(user_id)
    try:
        yield "retry: 2000\n\n"
        for event in await missed():
            yield _sent(event)
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            yield _sent(event)
    finally:
        hub.unsubscribe(user_id, queue)


def _sent(event: dict[str, Any]) -> str:
    identity = f"id: {event['id']}\n" if "id" in event else ""
    return f"{identity}event: {event['kind']}\ndata: {json.dumps(event)}\n\n"
