"""Watching the reply topics and the dead-letter topics while faults happen."""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from confluent_kafka import Consumer, TopicPartition

from contracts.records import INVOICE_GENERATED, SCORE_CALCULATED
from messaging.offsets import end_offsets
from messaging.runtime import Runtime
from stack.broker import SILENT

__all__ = ["Observer", "Reply"]


@dataclass(frozen=True)
class Reply:
    request_id: str
    user_id: str
    number: int | None  # invoice number; None for scores and rejections
    at: float  # broker timestamp, seconds
    seen: float  # when it was read here: committed (announced) by then
    considered: int | None  # a score's count of the invoice replies it was computed from; None for invoices


@dataclass
class Observer:
    """Every reply and dead letter written after start(), decoded with the project's codecs."""

    runtime: Runtime
    replies: dict[str, list[Reply]] = field(default_factory=lambda: defaultdict(list))
    dead_letters: dict[str, list[bytes]] = field(default_factory=lambda: defaultdict(list))
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        manifest = self.runtime.manifest
        self._reply_topics = {t.name: t for t in (manifest.topic(INVOICE_GENERATED), manifest.topic(SCORE_CALCULATED))}
        self._dead_topics = {t.dead_letter_topic for t in manifest.topics if t.dead_letter_topic}
        consumer = Consumer({**self.runtime.settings.kafka_client,
                             "group.id": f"chaos-{uuid.uuid4()}", "enable.auto.commit": False,
                             "isolation.level": "read_committed", "logger": SILENT})
        consumer.assign([TopicPartition(name, partition, end)
                         for name in [*self._reply_topics, *self._dead_topics]
                         for partition, end in end_offsets(consumer, name).items()])
        self._thread = threading.Thread(target=self._run, args=(consumer,), name="observer", daemon=True)
        self._thread.start()

    def _run(self, consumer: Consumer) -> None:
        # The consumer survives a broker restart: librdkafka reconnects and resumes from its positions.
        try:
            while not self._stop.is_set():
                message = consumer.poll(0.2)
                if message is None or message.error() is not None:
                    continue
                if message.topic() in self._dead_topics:
                    self.dead_letters[message.topic()].append(message.value() or b"")
                    continue
                topic = self._reply_topics[message.topic()]
                value = self.runtime.codec(topic.value).decode(message.value())
                invoice = value.get("invoice")
                reply = Reply(str(value["request_id"]), str(value["user_id"]), invoice["number"] if invoice else None,
                              message.timestamp()[1] / 1000, time.time(), value.get("invoices_considered"))
                self.replies[reply.request_id].append(reply)
        finally:
            consumer.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(30)
