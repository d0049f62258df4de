"""Where records are: a consumed record's coordinates, and where each partition of a topic ends now."""

from __future__ import annotations

from typing import cast

from confluent_kafka import Consumer, Message, TopicPartition

__all__ = ["coordinates", "end_offsets", "headers_of"]


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
