"""Dead letters: the records consumers set aside, written (`letter`), read, and sent back after a fix (`replay`, and the
`dead-letters list|replay` command).

A dead-letter topic holds the original bytes and headers of each record a consumer could not handle, plus `dlq.*`
headers saying where it came from and why (contracts/headers.py names them). Replaying produces the original key,
value and headers to the source topic again (with a `dlq.replayed.from` header); the consumers are idempotent, so a
record replayed twice does no harm.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from contracts.headers import DEAD_LETTER
from contracts.manifest import Manifest, load_manifest
from messaging import tracing
from messaging.offsets import coordinates, headers_of
from messaging.records import Encoded, Headers
from messaging.settings import Settings

__all__ = ["MAX_RECORD_BYTES", "DeadLetter", "letter_for", "main", "read", "read_at", "replay"]

# What the producer refuses (librdkafka's message.max.bytes default), less room for the record's framing.
MAX_RECORD_BYTES = 1_000_000 - 1024
# Room for a dead letter's own headers: an original that does not fit beside them keeps only its coordinates.
HEADER_ROOM = 4000
REASON_CHARACTERS = 2000


def letter_for(dead_letter_topic: str, message: Message, error: Exception, reason: str, service: str) -> Encoded:
    """The dead letter of a consumed record: its key, value and headers untouched, after headers saying where it was
    read and why it was set aside; only the headers when the original is too large to carry beside them."""
    topic, partition, offset = coordinates(message)
    size = len(message.key() or b"") + len(message.value() or b"")
    said = [
        (DEAD_LETTER.SOURCE_TOPIC, topic), (DEAD_LETTER.SOURCE_PARTITION, str(partition)),
        (DEAD_LETTER.SOURCE_OFFSET, str(offset)), (DEAD_LETTER.SOURCE_BYTES, str(size)),
        (DEAD_LETTER.ERROR_CLASS, type(error).__name__), (DEAD_LETTER.ERROR_MESSAGE, reason[:REASON_CHARACTERS]),
        (DEAD_LETTER.SERVICE, service), (DEAD_LETTER.TIME, datetime.now(UTC).isoformat(timespec="milliseconds")),
    ]
    headers: Headers = [(header.name, text.encode()) for header, text in said]
    original = headers_of(message)
    if tracing.active:  # tracing: the letter keeps the record's trace, or gets that of the span that set it aside
        original = tracing.inject_missing(original)
    whole = Encoded(dead_letter_topic, message.key(), message.value(), [*headers, *original])
    if whole.size + HEADER_ROOM <= MAX_RECORD_BYTES:
        return whole
    return Encoded(dead_letter_topic, None, None, [*headers, (DEAD_LETTER.OMITTED.name, b"too large to carry beside the reason")])


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers

    @property
    def trace_id(self) -> str | None:
        """The trace the record was in when it was set aside (its traceparent header), if it was traced."""
        return tracing.trace_id_of(self.headers)

    def header(self, name: str) -> str:
        found = next((v for k, v in self.headers if k == name), None)
        return found.decode(errors="replace") if isinstance(found, bytes) else found or ""

    def summary(self) -> dict[str, object]:
        return {
            "dead_letter": f"{self.topic}:{self.partition}:{self.offset}",
            "source": ":".join(self.header(h.name) for h in (DEAD_LETTER.SOURCE_TOPIC, DEAD_LETTER.SOURCE_PARTITION,
                                                                  DEAD_LETTER.SOURCE_OFFSET)),
            "error_class": self.header(DEAD_LETTER.ERROR_CLASS.name),
            "error": self.header(DEAD_LETTER.ERROR_MESSAGE.name),
            "service": self.header(DEAD_LETTER.SERVICE.name),
            "time": self.header(DEAD_LETTER.TIME.name),
            "bytes": len(self.value or b""),
        }


def _reader(settings: Settings, group: str | None) -> Consumer:
    """A consumer of committed records, assigned by hand (its group is never joined nor committed to)."""
    # Told when a partition's end is reached: a topic written in transactions ends with a commit marker, which no
    # record's offset + 1 ever reaches, so without it a read would wait out its timeout on every such partition.
    return Consumer({**settings.kafka_client, "group.id": group or f"dead-letters-{uuid.uuid4()}",
                     "isolation.level": "read_committed", "enable.auto.commit": False, "enable.partition.eof": True})


def read(settings: Settings, topic: str, timeout: float = 5.0, *, group: str | None = None,
         newest: int | None = None) -> Iterator[DeadLetter]:
    """Every record currently in a dead-letter topic (or the `newest` of each partition), oldest first.

    `group` names the consumer (never joined nor committed to; a principal may need it under its own groups)."""
    consumer = _reader(settings, group)
    try:
        partitions = consumer.list_topics(topic, timeout=timeout).topics[topic].partitions
        ends, starts = {}, {}
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
            if high > low:
                ends[partition], starts[partition] = high, max(low, high - newest) if newest else low
        consumer.assign([TopicPartition(topic, p, starts[p]) for p in ends])
        while ends:
            message = consumer.poll(timeout)
            if message is None:
                break
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    ends.pop(message.partition(), None)
                continue
            _, partition, offset = coordinates(message)
            yield DeadLetter(topic, partition, offset, message.key(), message.value(), headers_of(message))
            if offset + 1 >= ends.get(partition, 0):
                ends.pop(partition, None)
    finally:
        consumer.close()


def read_at(settings: Settings, topic: str, partition: int, offset: int, *, group: str | None = None,
            timeout: float = 5.0) -> DeadLetter | None:
    """The dead letter at one place of a dead-letter topic; None when there is none."""
    consumer = _reader(settings, group)
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        message = consumer.poll(timeout)
        if message is None or message.error() is not None or coordinates(message)[1:] != (partition, offset):
            return None
        return DeadLetter(topic, partition, offset, message.key(), message.value(), headers_of(message))
    finally:
        consumer.close()


def replay(settings: Settings, letters: list[DeadLetter]) -> int:
    """Produce each letter's original record to its source topic; returns how many were sent."""
    producer = Producer({**settings.kafka_client, "enable.idempotence": True, "acks": "all"})
    failures: list[str] = []
    for letter in letters:
        source = letter.header(DEAD_LETTER.SOURCE_TOPIC.name)
        headers = [(k, v) for k, v in letter.headers if not k.startswith(DEAD_LETTER.PREFIX)]
        headers.append((DEAD_LETTER.REPLAYED_FROM.name, f"{letter.topic}:{letter.partition}:{letter.offset}".encode()))
        with tracing.replaying(source, headers) as sent:  # tracing: sent in a span linked to the letter's trace
            producer.produce(source, key=letter.key, value=letter.value, headers=sent,
                             on_delivery=lambda error, _: failures.append(str(error)) if error else None)
    producer.flush(30)
    if failures:
        raise KafkaException(f"{len(failures)} record(s) could not be replayed: {failures[0]}")
    return len(letters)


def _dead_letter_topics(manifest: Manifest, source: str | None) -> list[str]:
    topics = [t for t in manifest.topics if t.dead_letter_topic and source in (None, t.name)]
    if not topics:
        raise SystemExit(f"error: {source!r} is not a topic in the manifest")
    return [t.dead_letter_topic for t in topics if t.dead_letter_topic]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dead-letters", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="show dead letters (all topics, or one source topic)")
    listing.add_argument("--source", help="the source topic whose dead letters to show")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    again = commands.add_parser("replay", help="send dead letters back to their source topic")
    again.add_argument("--source", required=True, help="the source topic")
    chosen = again.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--offset", type=int, action="append", help="a dead letter's offset (repeatable)")
    chosen.add_argument("--all", action="store_true", help="every dead letter of the source topic")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    manifest = load_manifest()
    tracing.setup("dead-letters")
    try:
        if args.command == "list":
            count = 0
            for topic in _dead_letter_topics(manifest, args.source):
                for letter in read(settings, topic):
                    count += 1
                    summary = letter.summary()
                    print(json.dumps(summary) if args.json else
                          f"{summary['dead_letter']}  from {summary['source']}  {summary['error_class']}: {summary['error']}")
            if not args.json:
                print(f"{count} dead letter(s)")
            return 0
        (topic,) = _dead_letter_topics(manifest, args.source)
        letters = [letter for letter in read(settings, topic) if args.all or letter.offset in args.offset]
        missing = set(args.offset or []) - {letter.offset for letter in letters}
        if missing:
            print(f"error: {topic} has no dead letter at offset(s) {sorted(missing)}", file=sys.stderr)
            return 1
        print(f"replayed {replay(settings, letters)} record(s) from {topic} to {args.source}")
        return 0
    except KafkaException as error:
        print(f"error: Kafka is not reachable at {settings.bootstrap_servers} ({error})", file=sys.stderr)
        return 1
    finally:
        tracing.shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
