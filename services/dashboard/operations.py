"""The operator view: how far behind each consumer group is and whether it is stuck (since when), who is in it, how
fast records arrive, which records were written to another partition than their key's and by which client, what
was set aside as a dead letter and why, and a dead letter sent back to its topic, with an audit line saying who did it.

With tracing on, it links a request id, and each dead letter, to its trace in the trace viewer (TRACING_UI_URL).

Operators are the accounts named in OPERATOR_EMAILS; to anyone else the page does not exist (404). Everything here
asks Kafka, so it runs off the event loop. The dashboard's principal may describe every group and read every
dead-letter topic (contracts.acls); it replays only to the topics it produces itself: the others' dead letters are
replayed with `dead-letters replay` by an admin.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from contracts.acls import grants
from contracts.headers import DEAD_LETTER, FORWARDED
from contracts.manifest import Manifest
from messaging.deadletters import DeadLetter, read, read_at, replay
from messaging.offsets import headers_of
from messaging.runtime import Runtime
from messaging.tracing import CONVERSATION

__all__ = ["Ends", "Forwarded", "Group", "Lag", "NotReplayed", "Operations", "Shelf", "checked_source"]

log = logging.getLogger(__name__)
TIMEOUT = 10.0
SHOWN = 20  # the newest dead letters shown per topic
SCANNED = 200  # the newest records of each partition looked at for forwarded ones
STUCK_SECONDS = 30.0  # a group behind whose committed offsets have not moved this long is stuck
Ends = dict[tuple[str, int], int]  # (topic, partition) -> its end offset


@dataclass(frozen=True)
class Lag:
    group: str
    topic: str
    partition: int
    committed: int | None  # None: the group has committed nothing there yet
    end: int

    @property
    def behind(self) -> int:
        return self.end - (self.committed or 0)


@dataclass(frozen=True)
class Member:
    client_id: str
    instance_id: str | None
    host: str
    partitions: int


@dataclass(frozen=True)
class Group:
    """A consumer group as the broker sees it, and whether it makes progress."""

    group: str
    state: str  # STABLE, EMPTY, PREPARING_REBALANCE, ...
    members: list[Member]
    unassigned: list[str]  # "<topic>[<partition>]" no member holds
    behind: int
    stuck_since: str | None  # UTC, when it was last seen moving, if it is behind and has not moved for a while


@dataclass(frozen=True)
class Forwarded:
    """Records of a topic found off their key's partition and forwarded, among the newest of each partition."""

    topic: str
    client_id: str  # the client.id header of the records, or "unnamed"
    count: int
    scanned: int  # how many records were looked at
    writers: list[str]  # the principals whose rights let them write the topic (super users aside)


@dataclass(frozen=True)
class Shelf:
    """One dead-letter topic: its newest letters, and whether this view may replay them."""

    topic: str
    source: str
    letters: list[DeadLetter]
    replayable: bool


class NotReplayed(LookupError):
    """Why a replay was refused: `code`, one of operator_view's fixed notes, and a sentence for the log."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def checked_source(letter: DeadLetter, source: str) -> DeadLetter:
    """`letter` when it says it came from `source`, the topic the operator chose and the view checked; a letter's
    headers are whatever its writer wrote, so it is never sent to a topic it names alone."""
    named = letter.header(DEAD_LETTER.SOURCE_TOPIC.name)
    if named != source:
        raise NotReplayed("wrong-source", f"{letter.topic}:{letter.partition}:{letter.offset} names {named!r} as its"
                                          f" source, not {source!r}")
    return letter


class Operations:
    def __init__(self, runtime: Runtime, group: str, viewer: str | None = None) -> None:
        self.manifest: Manifest = runtime.manifest
        self._runtime = runtime
        self.viewer = viewer  # the trace viewer's address, when the services are traced
        self._settings = runtime.settings
        self._admin = AdminClient(dict(runtime.settings.kafka_client))
        self._reader_group = f"{group}-dead-letters"  # under the dashboard's own groups
        self._previous: tuple[float, dict[str, int]] | None = None
        self._moved: dict[str, tuple[int, float]] = {}  # group -> (its committed offsets' sum, when it last changed)

    def lag(self, ends: Ends) -> list[Lag]:
        """Every service group's committed offset against the end of each partition it reads in its group (a
        changelog is read by restoring, outside the group: it has no lag). `ends` as `ends()` gives them."""
        rows = []
        for service, group in sorted(self.manifest.consumer_groups.items()):
            topics = [t.name for t in self.manifest.topics if service in t.consumers and t.changelog_of is None]
            request = [ConsumerGroupTopicPartitions(group)]
            committed = {(p.topic, p.partition): p.offset for p in
                         self._admin.list_consumer_group_offsets(request)[group].result(TIMEOUT).topic_partitions}
            rows += [Lag(group, topic, partition, c if (c := committed.get((topic, partition), -1)) >= 0 else None, end)
                     for (topic, partition), end in sorted(ends.items()) if topic in topics]
        return rows

    def groups(self, lag: list[Lag]) -> list[Group]:
        """Each service group's state and members as the broker describes them, with the partitions no member holds;
        one behind whose committed offsets have not moved for STUCK_SECONDS since the previous looks is stuck."""
        names = sorted({row.group for row in lag})
        described = {name: future.result(TIMEOUT) for name, future in self._admin.describe_consumer_groups(names).items()}
        now, found = time.time(), []
        for name in names:
            rows = [row for row in lag if row.group == name]
            held = {(tp.topic, tp.partition) for m in described[name].members for tp in m.assignment.topic_partitions}
            committed, behind = sum(row.committed or 0 for row in rows), sum(row.behind for row in rows)
            last = self._moved.get(name)
            if last is None or last[0] != committed or behind == 0:
                last = self._moved[name] = (committed, now)
            stuck = behind > 0 and now - last[1] >= STUCK_SECONDS
            found.append(Group(
                name, described[name].state.name,
                [Member(m.client_id, m.group_instance_id, m.host, len(m.assignment.topic_partitions))
                 for m in described[name].members],
                [f"{row.topic}[{row.partition}]" for row in rows if (row.topic, row.partition) not in held],
                behind, datetime.fromtimestamp(last[1], UTC).isoformat(timespec="seconds") if stuck else None))
        return found

    def forwarded(self) -> list[Forwarded]:
        """For each topic a stateful consumer checks, the records among the newest SCANNED of each partition that were
        forwarded to their key's partition, by the client that wrote them (its client.id header): an operator finds
        the integration writing with another partitioner than the manifest's."""
        rights = grants(self.manifest)
        found = []
        for topic in self.manifest.topics:
            if not self.manifest.forwarders(topic):
                continue
            writers = sorted({g.principal for g in rights if g.resource == "topic" and g.name == topic.name
                              and g.operation == "write" and "forwards" not in g.why})
            counted, scanned = Counter[str](), 0
            for headers in self._newest_headers(topic.name, SCANNED):
                scanned += 1
                named = dict(headers)
                if FORWARDED.FROM.name in named:
                    client = named.get(FORWARDED.CLIENT_ID.name)
                    counted[client.decode(errors="replace") if isinstance(client, bytes) else client or "unnamed"] += 1
            found += [Forwarded(topic.name, client, count, scanned, writers) for client, count in sorted(counted.items())]
        return found

    def _newest_headers(self, topic: str, each: int) -> list[list[tuple[str, str | bytes | None]]]:
        # Told of each partition's end: one that ends with a transaction's marker is never reached by offset + 1.
        consumer = self._runtime.reader(**{"group.id": self._reader_group, "enable.partition.eof": True})
        try:
            partitions = consumer.list_topics(topic, timeout=TIMEOUT).topics[topic].partitions
            ends = {}
            for partition in partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=TIMEOUT)
                if high > low:
                    ends[partition] = (max(low, high - each), high)
            consumer.assign([TopicPartition(topic, p, start) for p, (start, _) in ends.items()])
            found: list[list[tuple[str, str | bytes | None]]] = []
            deadline = time.monotonic() + TIMEOUT
            while ends and time.monotonic() < deadline:
                for message in consumer.consume(500, timeout=0.5):
                    if (error := message.error()) is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            ends.pop(message.partition() or 0, None)
                        continue
                    found.append(headers_of(message))
                    partition, offset = message.partition() or 0, message.offset() or 0
                    if partition in ends and offset + 1 >= ends[partition][1]:
                        del ends[partition]
            return found
        finally:
            consumer.close()

    def throughput(self, ends: Ends) -> dict[str, float]:
        """Records per second added to each topic since the previous look (empty the first time)."""
        now, totals = time.monotonic(), Counter[str]()
        for (topic, _), end in ends.items():
            totals[topic] += end
        previous, self._previous = self._previous, (now, dict(totals))
        if previous is None or now <= previous[0]:
            return {}
        return {name: (total - previous[1].get(name, total)) / (now - previous[0]) for name, total in totals.items()}

    def ends(self) -> Ends:
        """The end of every partition of the manifest's topics, as a read_committed consumer sees it."""
        metadata = self._admin.list_topics(timeout=TIMEOUT).topics
        partitions = [TopicPartition(t.name, p) for t in self.manifest.topics if t.name in metadata
                      for p in metadata[t.name].partitions]
        latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]  # untyped in confluent-kafka's stubs
        found = self._admin.list_offsets({tp: latest for tp in partitions},
                                         isolation_level=IsolationLevel.READ_COMMITTED)
        return {(tp.topic, tp.partition): future.result(TIMEOUT).offset for tp, future in found.items()}

    def shelves(self) -> list[Shelf]:
        """The newest dead letters of every dead-letter topic, with their reasons."""
        return [Shelf(topic.dead_letter_topic, topic.name,
                      list(read(self._settings, topic.dead_letter_topic, group=self._reader_group, newest=SHOWN)),
                      topic.producer == "dashboard")
                for topic in self.manifest.topics if topic.dead_letter_topic]

    def trace_of(self, request_id: str) -> str | None:
        """The trace viewer's search for every trace of a request (the one it made, and any replay of it); None when
        the services are not traced; ValueError when `request_id` is not a request id."""
        if self.viewer is None:
            return None
        # Zipkin's UI runs a search from its address only when it names the search's end (endTs, now).
        query = {"annotationQuery": f"{CONVERSATION}={uuid.UUID(request_id)}", "lookback": "7d",
                 "endTs": str(int(time.time() * 1000)), "limit": "20"}
        return f"{self.viewer}/?{urlencode(query)}"

    def trace_link(self, trace_id: str | None) -> str | None:
        """Where the trace viewer shows one trace; None when nothing is traced."""
        return f"{self.viewer}/traces/{trace_id}" if self.viewer is not None and trace_id is not None else None

    def replay(self, operator: str, source: str, partition: int, offset: int) -> DeadLetter:
        """Send one dead letter of `source` back to it; LookupError when this view may not or there is none."""
        topic = next((t for t in self.manifest.topics if t.name == source and t.dead_letter_topic), None)
        if topic is None or topic.producer != "dashboard" or topic.dead_letter_topic is None:
            raise NotReplayed("not-replayable", f"{source}: this view replays only the dead letters of the topics the"
                                                " dashboard produces")
        letter = read_at(self._settings, topic.dead_letter_topic, partition, offset, group=self._reader_group)
        if letter is None:
            raise NotReplayed("no-letter", f"{topic.dead_letter_topic} has no dead letter at partition {partition},"
                                           f" offset {offset}")
        replay(self._settings, [checked_source(letter, source)])
        log.info("operator replayed a dead letter", extra={
            "operator": operator, "dead_letter": f"{letter.topic}:{letter.partition}:{letter.offset}", "to": source,
            "reason": letter.header(DEAD_LETTER.ERROR_MESSAGE.name)})
        return letter
