"""Hearing the answers: the replies consumed from Kafka become the requests' new states, pushed to the browsers."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from contracts.records import INVOICE_GENERATED, SCORE_CALCULATED, InvoiceReply, ScoreReply, UserKey
from messaging import tracing
from messaging.records import Incoming, Outgoing, route
from messaging.runtime import Runtime
from messaging.worker import Worker
from services.dashboard import reads
from services.dashboard.db import Database, State
from services.dashboard.events import Hub
from services.dashboard.fragments import render
from services.dashboard.rules import ScoreScale
from services.dashboard.views import event_of, jsonable

__all__ = ["CHARTS_SECONDS", "Replies", "expire_forever"]

CHARTS_SECONDS = 2.0


class Replies:
    """A thread consuming the invoice and score replies in the dashboard's group: each one answers a pending request
    in the database, and its event goes to the user's open streams on the event loop, with the parts of the pages
    that show it drawn on `scale` (the score chart's bands)."""

    def __init__(self, runtime: Runtime, db: Database, hub: Hub, group: str, scale: ScoreScale) -> None:
        self.db = db
        self.hub = hub
        self.scale = scale
        manifest = runtime.manifest
        # It produces nothing and applies each reply idempotently by request_id: at least once is exact here. A
        # group seen for the first time starts at the end of the replies: what came before it was applied by the
        # dashboard that took those requests (its database, or the shared one), and years of replies to skip one
        # by one would hold up every new answer.
        self.worker: Worker[None] = Worker(
            runtime, group,
            [route(manifest.topic(INVOICE_GENERATED), self._on_invoice), route(manifest.topic(SCORE_CALCULATED), self._on_score)],
            exactly_once=False, new_group_starts_at_end=True,
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.worker.run, args=(self._stop,), name="replies", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._charted: dict[str, float] = {}  # user -> when their charts were last rendered (the reply thread's own)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _on_invoice(self, incoming: Incoming[UserKey, InvoiceReply], _: None) -> list[Outgoing[object, object]]:
        reply = incoming.value
        return self._answer(reply, State.GENERATED if reply["status"] == "GENERATED" else State.REJECTED)

    def _on_score(self, incoming: Incoming[UserKey, ScoreReply], _: None) -> list[Outgoing[object, object]]:
        return self._answer(incoming.value, State.CALCULATED)

    def _answer(self, reply: InvoiceReply | ScoreReply, status: State) -> list[Outgoing[object, object]]:
        # Replies to requests made elsewhere (another dashboard's database, a test) are not ours: skipped.
        with tracing.span("store answer"):  # tracing: the row's update, a child of the reply's span
            answered = self.db.submissions.answer(str(reply["request_id"]), status, jsonable(reply))
        if answered is None or self._loop is None:
            return []
        event = event_of(answered)
        # Rendered only for a user with an open page (a racy read of the hub: at worst one event goes without), and
        # the charts at most once per CHARTS_SECONDS per user: a busy user's year of invoices is read that often.
        if self.hub.listening(answered.user_id):
            now = time.monotonic()
            charts = now - self._charted.get(answered.user_id, float("-inf")) >= CHARTS_SECONDS
            if charts:
                self._charted[answered.user_id] = now
            event["fragments"] = render(reads.update(self.db, answered, with_charts=charts), self.scale)
        # tracing: the push to the user's streams, on the event loop, a child of the reply's span
        tracing.call_soon_threadsafe(self._loop, "sse push", self.hub.publish, answered.user_id, event)
        return []


async def expire_forever(db: Database, hub: Hub, scale: ScoreScale, timeout_seconds: int) -> None:
    """Every second, time out what waited too long, so no request stays pending forever."""
    def expire() -> list[tuple[str, dict[str, Any]]]:
        expired = db.submissions.expire(int((time.time() - timeout_seconds) * 1000))
        return [(s.user_id, {**event_of(s), "fragments": render(reads.update(db, s, with_charts=False), scale)})
                for s in expired]

    while True:
        for user_id, event in await asyncio.to_thread(expire):
            hub.publish(user_id, event)
        await asyncio.sleep(1)
