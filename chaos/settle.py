"""After a fault: every consumer group of ours must be back at work, not only the requests of the scenario answered.

A group is settled when it is STABLE, every partition of the topics it reads is assigned to a member, and it has read
everything committed to them (a read_committed reader placed at the group's committed offsets finds nothing left).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    OFFSET_INVALID,
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from contracts.manifest import Manifest
from messaging.offsets import unread
from stack.broker import SILENT

__all__ = ["Group", "groups_of", "unsettled"]


@dataclass(frozen=True)
class Group:
    name: str
    topics: list[str]
    new_at_end: bool  # a partition it never committed is read from its end (the dashboard's replies), else from the start


def groups_of(manifest: Manifest, dashboard_group: str) -> list[Group]:
    """Each of our consumer groups and the topics it reads, from the manifest."""
    found = []
    for service, group in manifest.consumer_groups.items():
        topics = [t.name for t in manifest.topics if service in t.consumers and t.changelog_of is None]
        if topics:
            dashboard = service == "dashboard"
            found.append(Group(dashboard_group if dashboard else group, topics, new_at_end=dashboard))
    return found


def unsettled(kafka_client: dict[str, Any], groups: list[Group], seconds: float = 90) -> list[str]:
    """What is still wrong with `groups` after waiting up to `seconds` for them to settle; [] once all are."""
    admin = AdminClient({**kafka_client, "logger": SILENT})
    deadline = time.monotonic() + seconds
    while True:
        problems = [problem for group in groups for problem in _problems(admin, kafka_client, group)]
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(1)


def _problems(admin: AdminClient, kafka_client: dict[str, Any], watched: Group) -> list[str]:
    group, topics = watched.name, watched.topics
    described = admin.describe_consumer_groups([group])[group].result(timeout=30)
    if described.state != ConsumerGroupState.STABLE:
        return [f"group {group} is {described.state.name}, not STABLE"]
    partitions = [TopicPartition(t, p) for t in topics for p in admin.list_topics(t, timeout=30).topics[t].partitions]
    held = {(tp.topic, tp.partition) for m in described.members for tp in m.assignment.topic_partitions}
    loose = sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions if (tp.topic, tp.partition) not in held)
    if loose:
        return [f"group {group}: no member holds {', '.join(loose)}"]
    asked = ConsumerGroupTopicPartitions(group, partitions)
    committed = admin.list_consumer_group_offsets([asked])[group].result(timeout=30)
    behind = _behind(kafka_client, committed.topic_partitions, OFFSET_END if watched.new_at_end else OFFSET_BEGINNING)
    return [f"group {group} has not read {where}" for where in behind]


def _behind(kafka_client: dict[str, Any], committed: list[TopicPartition], uncommitted: int) -> list[str]:
    """The partitions where a read_committed reader at the committed offset still finds a record."""
    positions = [TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset != OFFSET_INVALID else uncommitted)
                 for tp in committed]
    return [f"{tp.topic}[{tp.partition}] " + (f"from offset {tp.offset}" if tp.offset >= 0 else "(no end seen)")
            for tp in unread({**kafka_client, "logger": SILENT}, positions)]
