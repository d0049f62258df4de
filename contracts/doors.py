"""One-way doors in the manifest: changes that move keys between partitions.

A keyed topic's records land on murmur2(serialized key) % partitions (contracts/partitioning.py; the one partitioner a
manifest may name today), and a stateful consumer keeps each partition's state apart. So two changes move a user's
records to another partition, and with them the state kept there: the partition count, and the key's schema version
(the serialized key carries its schema id, so every key's bytes change). Neither can be taken back once records were
written the new way; the review flags each with a stable rule id (contracts/findings.py, CONTRACT3xx) and says what it
needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from contracts.manifest import Manifest, Topic

__all__ = ["KEY_VERSION", "PARTITIONS", "Door", "doors", "manifest_line"]

PARTITIONS, KEY_VERSION = "partition_count_changed", "key_bytes_changed"


@dataclass(frozen=True)
class Door:
    kind: str  # PARTITIONS or KEY_VERSION
    topic: str
    subject: str  # the topic's key subject, whose version names the keys' bytes
    version: int  # its newest version now
    setting: str  # the manifest's key that changed: partitions or key
    message: str  # one paragraph for people: what moves, and what the change needs


def doors(before: Manifest, after: Manifest) -> list[Door]:
    """Every change from `before` to `after` that moves keys of a topic both know between partitions."""
    found = []
    for topic in after.topics:
        if topic.changelog_of is not None:  # placed by its source's partition: its source's door says it
            continue
        old = next((t for t in before.topics if t.name == topic.name), None)
        if old is None:
            continue
        group = after.co_partition_of(topic.name)
        home = f" (co-partitioned group {group.name})" if group else ""
        if old.partitions != topic.partitions:
            found.append(_door(PARTITIONS, topic, "partitions", _partitions(old, topic, home, group.name if group else None)))
        if old.key.latest.version != topic.key.latest.version:
            found.append(_door(KEY_VERSION, topic, "key", (
                f"{topic.name}{home}: its key schema goes from {old.key.family} v{old.key.latest.version} to"
                f" {topic.key.family} v{topic.key.latest.version}, and a serialized key carries its schema id, so every"
                " key's bytes change and every user's records move to another partition, away from the state kept"
                " for them there. Needs: producers kept on the old key version (CONTRACT_VERSIONS) until the state is"
                " re-keyed; make repartition moves state between counts, not between key versions.")))
    return found


def _partitions(old: Topic[object, object], new: Topic[object, object], home: str, group: str | None) -> str:
    said = f"{new.name}{home}: {old.partitions} to {new.partitions} partitions"
    if new.partitions < old.partitions:
        return f"{said}. Kafka cannot remove partitions: the cluster keeps {old.partitions}, and provisioning refuses."
    if group is None:
        return (f"{said}: a user's new records land on another partition than their earlier ones (their order across"
                " the change is lost for a consumer reading partitions apart). Kafka cannot remove partitions.")
    return (f"{said}: the users whose partition changes leave their state behind. Needs `make repartition GROUP={group}"
            f" PARTITIONS={new.partitions} APPLY=1`, which re-homes the state while the workers run and writes this count"
            " into the manifest (provisioning refuses to grow the group itself). Kafka cannot remove partitions.")


def _door(kind: str, topic: Topic[object, object], setting: str, message: str) -> Door:
    return Door(kind, topic.name, topic.key.name, topic.key.latest.version, setting, message)


def manifest_line(text: str, topic: str, setting: str) -> int:
    """The line of `setting = ...` in the [[topic]] table named `topic` of the manifest's text; that table's first line
    when the setting is not in it, 1 when the topic is not."""
    start = 0
    for block in re.split(r"(?m)^(?=\[\[topic\]\])", text):
        if block.startswith("[[topic]]") and re.search(rf'(?m)^name = "{re.escape(topic)}"$', block):
            found = re.search(rf"(?m)^{re.escape(setting)} = ", block)
            return text.count("\n", 0, start + (found.start() if found else 0)) + 1
        start += len(block)
    return 1
