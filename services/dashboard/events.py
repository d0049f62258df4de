"""Live updates: each signed-in browser holds a Server-Sent Events stream; replies are pushed to it."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

__all__ = ["Hub", "stream"]

KEEPALIVE_SECONDS = 15.0


class Hub:
    """Per-user queues of events. Every method runs on the event loop's thread."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)

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
