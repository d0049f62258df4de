"""Where records are: a consumed record's coordinates, where each partition of a topic ends now, and what a group has
not read yet."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

__all__ = ["coordinates", "end_offsets", "headers_of", "unread"]


def coordinates(message: Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a consumed record or end-of-partition event: the consumer always sets
    them, though the type stubs allow None (a message not yet delivered has no partition or offset)."""
    return cast(str, message.topic()), cast(int, message.partition()), cast(int, message.offset())


def headers_of(message: Message) -> list[tuple[str, str | bytes | None]]:
    """A record's headers as the (name, value) pairs a consumer returns (the stubs also allow a dict)."""
    headers = message.headers()
    return list(headers.items()) if isinstance(headers, dict) else list(headers or [])


def end_offsets(consumer: Consumer, topic: str, timeout: float = 10.0) -> dict[int, int]:
    """partition -> the offset the next record written to it will get."""
    partitions = consumer.list_topics(topic, timeout=timeout).topics[topic].partitions
    return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1] for p in partitions}


def unread(
    kafka_client: Mapping[str, Any], positions: list[TopicPartition], before: Mapping[tuple[str, int], int] | None = None,
    timeout: float = 30.0,
) -> list[TopicPartition]:
    """The partitions where a read_committed reader placed at `positions` (a group's committed offsets, say) still
    finds a record (one written before `before`'s offset for its partition, when given), with that record's offset;
    a partition whose end it did not reach within `timeout` comes back with offset -1. A transaction's marker is no
    record: a group that read everything has its offset before the last marker, not at the partition's end."""
    reader = Consumer({**kafka_client, "group.id": f"unread-{uuid.uuid4()}", "enable.auto.commit": False,
                       "isolation.level": "read_committed", "enable.partition.eof": True, "auto.offset.reset": "earliest"})
    try:
        reader.assign(positions)
        open_ = {(tp.topic, tp.partition) for tp in positions}
        found: list[TopicPartition] = []
        deadline = time.monotonic() + timeout
        while open_ and time.monotonic() < deadline:
            message = reader.poll(0.5)
            if message is None:
                continue
            topic, partition, offset = coordinates(message)
            error = message.error()
            if (topic, partition) not in open_ or (error is not None and error.code() != KafkaError._PARTITION_EOF):
                continue
            open_.discard((topic, partition))
            if error is None and (before is None or offset < before[(topic, partition)]):
                found.append(TopicPartition(topic, partition, offset))
        return found + [TopicPartition(topic, partition, -1) for topic, partition in sorted(open_)]
    finally:
        reader.close()
