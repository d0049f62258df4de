"""Where each partition of a topic ends now: where a reader starts to see only what comes next."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition

__all__ = ["end_offsets"]


def end_offsets(consumer: Consumer, topic: str, timeout: float = 10.0) -> dict[int, int]:
    """partition -> the offset the next record written to it will get."""
    partitions = consumer.list_topics(topic, timeout=timeout).topics[topic].partitions
    return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1] for p in partitions}
