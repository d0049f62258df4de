"""Reading and writing contract topics from tests, through the project's own codecs."""

from __future__ import annotations

import io
import struct
import time
import uuid
from collections.abc import Callable
from typing import Any

import fastavro
from confluent_kafka import Consumer, Message, TopicPartition

from contracts.manifest import Subject, Topic
from messaging.offsets import end_offsets
from messaging.runtime import Runtime

__all__ = ["Tail", "unchecked_bytes"]


def unchecked_bytes(runtime: Runtime, subject: Subject, record: Any) -> bytes:
    """A record in the wire format without the constraint check every producer of ours makes: what a producer that
    ignores the schema's constraints would send."""
    codec = runtime.codec(subject)
    body = io.BytesIO()
    fastavro.schemaless_writer(body, codec.schema, record)
    return struct.pack(">bI", 0, codec.schema_id) + body.getvalue()


class Tail:
    """Everything written to a topic after this object was made."""

    def __init__(self, runtime: Runtime, topic_name: str) -> None:
        self.runtime = runtime
        self.topic_name = topic_name
        self.consumer = Consumer({
            **runtime.settings.kafka_client,
            "group.id": f"test-tail-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",  # what aborted transactions wrote never shows
        })
        self.consumer.assign(
            [TopicPartition(topic_name, p, end) for p, end in end_offsets(self.consumer, topic_name).items()]
        )

    def messages(self, wanted: Callable[[Message], bool], count: int = 1, timeout: float = 20) -> list[Message]:
        found: list[Message] = []
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            message = self.consumer.poll(0.2)
            if message is not None and message.error() is None and wanted(message):
                found.append(message)
        return found

    def records(self, topic: Topic, wanted: Callable[[Any], bool], count: int = 1, timeout: float = 20) -> list[Any]:
        codec = self.runtime.codec(topic.value)
        matching = self.messages(lambda m: wanted(codec.decode(m.value())), count, timeout)
        return [codec.decode(m.value()) for m in matching]

    def close(self) -> None:
        self.consumer.close()
