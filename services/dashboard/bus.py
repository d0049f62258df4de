"""The dashboard's side of Kafka: asking for work, and hearing the replies."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message

from contracts.bindings import Binding
from contracts.records import CALCULATE_SCORE, GENERATE_INVOICE, INVOICE_GENERATED, SCORE_CALCULATED, InvoiceReply, ScoreReply
from messaging.runtime import Outgoing, Runtime
from messaging.worker import Incoming, Worker
from services.dashboard.db import Database
from services.dashboard.events import Hub
from services.dashboard.views import event_of, jsonable

__all__ = ["CONTRACTS", "DELIVERY_TIMEOUT_MS", "Bus", "Unavailable"]

log = logging.getLogger(__name__)
# librdkafka gives every message a final delivery report within message.timeout.ms, so waiting that
# long tells "durably in Kafka" from "not sent" - never a request that might still arrive later.
DELIVERY_TIMEOUT_MS = 5000
PROBE_SECONDS = 2.0
CONTRACTS: tuple[Binding[Any, Any], ...] = (GENERATE_INVOICE, CALCULATE_SCORE, INVOICE_GENERATED, SCORE_CALCULATED)


class Unavailable(Exception):
    """Kafka did not take the request; nothing was sent."""


class Bus:
    def __init__(self, runtime: Runtime, db: Database, hub: Hub, group: str) -> None:
        self.runtime = runtime
        self.db = db
        self.hub = hub
        manifest = runtime.manifest
        self.invoice_requests = manifest.topic(GENERATE_INVOICE)
        self.score_requests = manifest.topic(CALCULATE_SCORE)
        invoice_replies = manifest.topic(INVOICE_GENERATED)
        score_replies = manifest.topic(SCORE_CALCULATED)
        runtime.prepare(self.invoice_requests, self.score_requests, invoice_replies, score_replies)
        # It produces nothing and applies each reply idempotently by request_id: at least once is exact here.
        self.worker = Worker(
            runtime, group, {invoice_replies: self._on_invoice_reply, score_replies: self._on_score_reply},
            exactly_once=False,
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.broker_reachable = True

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._threads = [
            threading.Thread(target=self.worker.run, args=(self._stop,), name="replies", daemon=True),
            threading.Thread(target=self._poll, name="deliveries", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self.runtime.close()

    @property
    def ready(self) -> bool:
        return self.worker.assigned.is_set() and all(t.is_alive() for t in self._threads)

    def _poll(self) -> None:
        """Serve delivery reports; every few seconds ask the broker for metadata to know if it is there."""
        next_probe = 0.0
        while not self._stop.is_set():
            self.runtime.producer.poll(0.1)
            if time.monotonic() >= next_probe:
                next_probe = time.monotonic() + PROBE_SECONDS
                try:
                    self.runtime.producer.list_topics(timeout=2)
                    self.broker_reachable = True
                except KafkaException:
                    self.broker_reachable = False

    async def ask(self, kind: str, user_id: str, request_id: str, value: dict[str, Any]) -> None:
        """Produce a request and return once the broker has it (acks=all); Unavailable otherwise."""
        topic = self.invoice_requests if kind == "invoice" else self.score_requests
        loop = asyncio.get_running_loop()
        delivered: asyncio.Future[KafkaError | None] = loop.create_future()

        def report(error: KafkaError | None, _: Message) -> None:
            loop.call_soon_threadsafe(lambda: delivered.done() or delivered.set_result(error))

        try:
            self.runtime.produce(Outgoing(topic, {"user_id": user_id}, value, request_id), report)
        except (BufferError, KafkaException) as error:
            raise Unavailable(f"Kafka is not taking requests: {error}") from None
        try:
            error = await asyncio.wait_for(delivered, DELIVERY_TIMEOUT_MS / 1000 + 5)
        except TimeoutError:
            error = KafkaError(KafkaError._MSG_TIMED_OUT)
        self.broker_reachable = error is None
        if error is not None:
            raise Unavailable(f"Kafka did not acknowledge the request: {error.str()}")

    def _on_invoice_reply(self, incoming: Incoming) -> list[Outgoing]:
        reply: InvoiceReply = incoming.value
        return self._answer(reply, "generated" if reply["status"] == "GENERATED" else "rejected")

    def _on_score_reply(self, incoming: Incoming) -> list[Outgoing]:
        reply: ScoreReply = incoming.value
        return self._answer(reply, "calculated")

    def _answer(self, reply: InvoiceReply | ScoreReply, status: str) -> list[Outgoing]:
        # Replies to requests made elsewhere (another dashboard's database, a test) are not ours: skipped.
        answered = self.db.answer(str(reply["request_id"]), status, jsonable(reply))
        if answered is not None and self._loop is not None:
            event = event_of(answered)
            self._loop.call_soon_threadsafe(self.hub.publish, answered.user_id, event)
        return []

    async def expire_forever(self, timeout_seconds: int) -> None:
        """Every second, time out what waited too long, so no request stays pending forever."""
        while True:
            for request in self.db.expire(int((time.time() - timeout_seconds) * 1000)):
                self.hub.publish(request.user_id, event_of(request))
            await asyncio.sleep(1)
