"""A second member with another member's group.instance.id: the broker fences the first, as when a process is
started twice under one INSTANCE_ID or a broker restart races a rejoin."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import AdminClient

from messaging.health import is_fatal
from stack.broker import SILENT

__all__ = ["intrude"]


def intrude(kafka_client: dict[str, Any], group: str, topics: list[str], seconds: float) -> str:
    """Join `group` for `seconds` under the group.instance.id of one of its members (with the group's own assignor),
    then leave; returns the id taken. The intruder commits nothing; once fenced in turn, it stops early."""
    admin = AdminClient({**kafka_client, "logger": SILENT})
    described = admin.describe_consumer_groups([group])[group].result(timeout=30)
    member = next((m for m in described.members if m.group_instance_id), None)
    if member is None:
        raise RuntimeError(f"group {group} has no static member to fence ({described.state})")
    consumer = Consumer({**kafka_client, "group.id": group, "group.instance.id": member.group_instance_id,
                         "client.id": "intruder", "partition.assignment.strategy": described.partition_assignor,
                         "enable.auto.commit": False, "logger": SILENT})
    consumer.subscribe(topics)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            error = message.error() if message is not None else None
            if error is not None and is_fatal(error):
                break
    finally:
        try:
            consumer.close()
        except (KafkaException, RuntimeError):  # a fenced consumer may refuse to leave; it is gone either way
            pass
    return str(member.group_instance_id)
