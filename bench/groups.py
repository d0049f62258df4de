"""Consumer groups around the dashboard's measurements: waiting until the stack has worked off what one measurement
sent (so the next does not pay for it), and starting a new dashboard's group at the end of the replies."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from contracts.manifest import load_manifest
from contracts.records import GENERATE_INVOICE, INVOICE_GENERATED, SCORE_CALCULATED
from messaging.offsets import end_offsets
from messaging.settings import Settings

__all__ = ["lag", "settle", "start_at_end"]


def lag(group: str, topic: str) -> int:
    """Records of `topic` that `group` has not committed yet (a partition it never committed counts whole)."""
    reader = Consumer({**Settings.from_env().kafka_client, "group.id": group, "enable.auto.commit": False})
    try:
        ends = end_offsets(reader, topic)
        committed = reader.committed([TopicPartition(topic, p) for p in ends], timeout=10)
        return sum(ends[tp.partition] - max(tp.offset, 0) for tp in committed)
    finally:
        reader.close()


def settle(dashboard_groups: list[str], timeout: float = 180, slack: int = 50) -> float:
    """Wait until the invoice generators have no more than `slack` requests left, and the dashboards reading replies
    in `dashboard_groups` no more than `slack` replies; the seconds it took (after `timeout` a warning, and on: other
    work on the stack may never let it get there)."""
    manifest = load_manifest()
    replies = manifest.topic(INVOICE_GENERATED).name
    waiting = [(manifest.consumer_groups["invoice"], manifest.topic(GENERATE_INVOICE).name)]
    waiting += [(group, replies) for group in dashboard_groups]
    began = time.monotonic()
    behind = {(group, topic): lag(group, topic) for group, topic in waiting}
    if any(left > slack for left in behind.values()):
        print("  (waiting for the stack to work off " + ", ".join(f"{left:,} records of {topic} in {group}" for
              (group, topic), left in behind.items() if left > slack) + ")", flush=True)
    while waiting:
        waiting = [(group, topic) for group, topic in waiting if lag(group, topic) > slack]
        if waiting and time.monotonic() - began > timeout:
            print(f"  (still behind after {timeout:.0f} s: {', '.join(g for g, _ in waiting)}; going on)", flush=True)
            break
        if waiting:
            time.sleep(1)
    return time.monotonic() - began


def start_at_end(group: str) -> None:
    """Commit `group`'s offsets at the end of the reply topics, so a dashboard joining it reads only new replies
    (a new group otherwise starts from the earliest, every reply ever made)."""
    manifest = load_manifest()
    committer = Consumer({**Settings.from_env().kafka_client, "group.id": group, "enable.auto.commit": False})
    try:
        offsets = []
        for binding in (INVOICE_GENERATED, SCORE_CALCULATED):
            topic = manifest.topic(binding).name
            offsets += [TopicPartition(topic, p, end) for p, end in end_offsets(committer, topic).items()]
        # Members of an earlier run's dashboards, killed, stay in the group until their session times out; until
        # then the broker refuses a commit from outside it (UNKNOWN_MEMBER_ID).
        deadline = time.monotonic() + 60
        while True:
            try:
                committer.commit(offsets=offsets, asynchronous=False)
                break
            except KafkaException as refused:
                if refused.args[0].code() != KafkaError.UNKNOWN_MEMBER_ID or time.monotonic() > deadline:
                    raise
                time.sleep(2)
    finally:
        committer.close()
