"""A co-partitioned group's move to more partitions, as it is recorded in Kafka for the mover and the workers alike.

The move's progress lives in the committed offsets of the consumer group `repartition-<group>` on the old partitions
of the group's changelogs: each offset is how far the current step has read that partition, and each offset's
metadata says the move ({"old": 6, "new": 12, "step": "copying"}). Kafka keeps it, the mover commits it in the same
transaction as the changelog entries it wrote, and a worker reads it to know whether the partitions it was given are
still being filled (messaging/repartition.py makes the move; provisioning and the workers read it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

__all__ = ["COPYING", "DONE", "STEPS", "SWITCHING", "TOMBSTONING", "Move", "group_of", "read"]

COPYING = "copying"  # changelog entries of the users that move copied to their new partitions; inputs not grown yet
SWITCHING = "switching"  # inputs grown; the new partitions' workers wait while the last entries are copied
TOMBSTONING = "tombstoning"  # the moved users' entries deleted from their old partitions; new partitions in use
DONE = "done"
STEPS = (COPYING, SWITCHING, TOMBSTONING, DONE)
TIMEOUT = 30.0


def group_of(co_partitioned: str) -> str:
    """The consumer group whose committed offsets record a move of that co-partitioned group."""
    return f"repartition-{co_partitioned}"


@dataclass(frozen=True)
class Move:
    group: str  # the co-partitioned group's name
    old: int
    new: int
    step: str
    progress: dict[tuple[str, int], int]  # (changelog, partition) -> the next offset the current step reads

    def metadata(self, step: str | None = None) -> str:
        return json.dumps({"old": self.old, "new": self.new, "step": step or self.step})

    def offsets(self, step: str | None = None, progress: dict[tuple[str, int], int] | None = None) -> list[TopicPartition]:
        """The progress as offsets to commit, each carrying the move (in `step`, at `progress` when given)."""
        return [TopicPartition(topic, partition, offset, self.metadata(step))
                for (topic, partition), offset in sorted((progress or self.progress).items())]


def read(admin: AdminClient, co_partitioned: str) -> Move | None:
    """The group's move as Kafka records it; None when it was never moved."""
    group = group_of(co_partitioned)
    try:
        listed = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(TIMEOUT)
    except KafkaException as error:
        if "GROUP_ID_NOT_FOUND" in str(error):
            return None
        raise
    entries: list[tuple[TopicPartition, dict[str, Any]]] = []
    for tp in listed.topic_partitions or []:
        try:
            said = json.loads(tp.metadata or "")
        except ValueError:
            continue
        if isinstance(said, dict) and said.get("step") in STEPS and tp.offset >= 0:
            entries.append((tp, said))
    if not entries:
        return None
    said = entries[0][1]
    return Move(co_partitioned, int(said["old"]), int(said["new"]), str(said["step"]),
                {(tp.topic, tp.partition): tp.offset for tp, _ in entries})
