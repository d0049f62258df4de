"""The consume-transform-produce loop every worker runs, exactly once, with Kafka transactions.

A batch is consumed and handled record by record; each record's outputs, its changes to the
partition's state (as changelog entries) or its dead letter are produced inside one Kafka transaction
per batch, which also carries the batch's consumer offsets (with the group's metadata, so a member
that lost its partitions is fenced). Either all of that becomes visible to read_committed readers, or
none of it does and the batch is handled again from the same offsets against the same state.

Containment: whatever goes wrong with one record (undecodable bytes, a handler error, an output the
broker would refuse) sets that record aside as a dead letter and the loop goes on; only failures
that a retry may cure (registry or broker unreachable, a transaction the broker aborted) rewind the
batch, with backoff.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from contracts.manifest import Topic
from contracts.registry import RegistryError
from messaging import logs
from messaging.metrics import BATCH_SECONDS, FAILED, IN, OUT, PROCESSING, TRANSACTIONS
from messaging.offsets import coordinates, headers_of
from messaging.runtime import Encoded, Outgoing, Runtime
from messaging.serde import PoisonRecord
from messaging.state import PartitionState
from messaging.stores import StateSpec, Stores

__all__ = ["Handler", "Incoming", "RecordTooLarge", "StateSpec", "Worker"]

log = logging.getLogger(__name__)

# What the producer refuses (librdkafka's message.max.bytes default), less room for the record's framing.
MAX_RECORD_BYTES = 1_000_000 - 1024
# Every blocking transactional call is given this long (a transaction lives 10 s at most, see
# Runtime.transactional_producer); one still blocked well after it is hung.
CALL_TIMEOUT_SECONDS = 10
HUNG_AFTER_SECONDS = CALL_TIMEOUT_SECONDS + 10
# Headers of a dead letter whose original does not fit beside them: it keeps only its coordinates.
DEAD_LETTER_HEADER_BYTES = 4000


@dataclass(frozen=True)
class Incoming:
    topic: Topic
    partition: int
    offset: int
    key: Any  # None when the key could not be read: key_problem says why
    value: Any
    state: Any = None  # the PartitionState of this partition, for a worker that keeps state
    key_problem: str | None = None


Handler = Callable[[Incoming], Iterable[Outgoing]]


class RecordTooLarge(ValueError):
    """An output the broker would refuse for its size."""


class _Retry(Exception):
    """The batch must be handled again after a pause."""


class Worker:
    """One consumer group's loop.

    `state` gives the worker a store per owned partition, backed by a changelog. `exactly_once` overrides
    PROCESSING_GUARANTEE (a reader that produces nothing and applies records idempotently needs no
    transaction). `after` maps a topic to
    another that is co-partitioned with it: a record of the first is handled only once the second's
    partition of the same number has been read to where it ended when the record was handled (so an
    answer counts everything written there before the question was asked).
    """

    def __init__(
        self, runtime: Runtime, group: str, handlers: Mapping[Topic, Handler], *, state: StateSpec | None = None,
        after: Mapping[Topic, Topic] | None = None, batch_size: int = 500, exactly_once: bool | None = None,
        new_group_starts_at_end: bool = False,
    ) -> None:
        self.runtime = runtime
        self.group = group
        self.handlers = {topic.name: (topic, handler) for topic, handler in handlers.items()}
        self.batch_size = batch_size
        self.after = {first.name: second.name for first, second in (after or {}).items()}
        self.stores = Stores(runtime, state, runtime.settings.state_dir / group) if state else None
        self.assigned = threading.Event()
        self.exactly_once = runtime.settings.exactly_once if exactly_once is None else exactly_once
        self.transactional_id = f"{group}/{runtime.settings.instance_id or uuid.uuid4()}"
        self.new_group_starts_at_end = new_group_starts_at_end
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._reached: dict[tuple[str, int], int] = {}  # (topic, partition) -> offset read up to, for `after`
        self._changelog_next: dict[int, int] = {}  # partition -> next changelog offset, from delivery reports
        self._delivery_error: KafkaError | None = None
        self._keys: dict[tuple[str, bytes | None], Any] = {}
        self._blocked_since: float | None = None
        # Looking a labelled metric up costs more than handling a small record: look each up once.
        self._meters = {name: (IN.labels(runtime.service, name), PROCESSING.labels(runtime.service, name))
                        for name in self.handlers}
        self._out: dict[str, Any] = {}

    # -- the loop -------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set; the batch in hand is finished and committed before closing."""
        self._producer = self._new_producer()
        overrides: dict[str, Any] = {}
        if self.after:
            # Range assignment gives one member partition p of every topic it reads; end-of-partition
            # events tell how far a partition has been read even when its last records were markers.
            overrides = {"partition.assignment.strategy": "range", "enable.partition.eof": True}
        if self.new_group_starts_at_end:
            overrides["auto.offset.reset"] = "latest"
        consumer = self._consumer = self.runtime.consumer(self.group, **overrides)
        consumer.subscribe(list(self.handlers), on_assign=self._on_assign, on_revoke=self._on_revoke,
                           on_lost=self._on_revoke)
        backoff = 0.5
        try:
            while not stop.is_set():
                batch = self._next_batch(consumer)
                if not batch:
                    continue
                try:
                    self._transact(consumer, batch)
                except _Retry as reason:
                    log.warning("retrying a batch: %s", reason, extra={"group": self.group, "backoff_s": backoff})
                    _rewind(consumer, batch)
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                backoff = 0.5
        finally:
            consumer.close()
            if self.stores:
                self.stores.close()

    def _next_batch(self, consumer: Consumer) -> list[Message]:
        # consume() waits for a full batch or its timeout; poll() returns the first record at once,
        # then whatever else is already fetched joins it without waiting.
        first = consumer.poll(0.5)
        if first is None:
            return []
        return [m for m in (first, *consumer.consume(self.batch_size - 1, timeout=0)) if self._usable(m)]

    def _usable(self, message: Message) -> bool:
        """Records, and end-of-partition events (kept in their place: they say how far a partition was read)."""
        error = message.error()
        if error is None or error.code() == KafkaError._PARTITION_EOF:
            return True
        log.warning("consumer error: %s", error, extra={"group": self.group})
        return False

    # -- one batch, one transaction --------------------------------------------------------------------

    def _transact(self, consumer: Consumer, batch: list[Message]) -> None:
        handled: dict[tuple[str, int], int] = {}  # (topic, partition) -> last offset handled
        waiting: dict[tuple[str, int], int] = {}  # (topic, partition) -> first offset put off (see `after`)
        ends: dict[int, int] = {}
        touched: dict[int, PartitionState] = {}
        reached = dict(self._reached)
        began = time.perf_counter()
        try:
            if self._producer is None:  # the last one was fenced and its replacement could not start
                self._producer = self._new_producer()
            producer = self._producer
            if self.exactly_once:
                self._watched(producer.begin_transaction)
            for message in batch:
                topic, partition, offset = coordinates(message)
                where = (topic, partition)
                if message.error() is not None:  # end of partition: everything before it has been handled
                    self._reach(topic, partition, offset)
                    continue
                if where in waiting or not self._may_handle(topic, partition, ends):
                    waiting.setdefault(where, offset)
                    continue
                if self.stores:
                    touched[partition] = self.stores[partition]
                self._handle(message, topic, partition, offset)
                handled[where] = offset
                self._reach(topic, partition, offset + 1)
            offsets = [TopicPartition(t, p, o + 1) for (t, p), o in handled.items()]
            if self.exactly_once:
                if offsets:
                    self._watched(producer.send_offsets_to_transaction, offsets, consumer.consumer_group_metadata(),
                                  CALL_TIMEOUT_SECONDS)
                self._commit(producer)
            else:  # at least once: offsets only after every output is acknowledged
                self._flush(producer)
                if offsets:
                    consumer.commit(offsets=offsets, asynchronous=False)
        except (KafkaException, RegistryError, sqlite3.Error, _Retry) as error:
            self._reached = reached
            self._abandon(touched.values(), error)
            raise _Retry(str(error)) from None
        TRANSACTIONS.labels(self.runtime.service, "committed").inc()
        BATCH_SECONDS.labels(self.runtime.service).observe(time.perf_counter() - began)
        for partition, store in touched.items():
            try:
                store.commit(self._changelog_next.get(partition))
            except sqlite3.Error as error:  # the changelog has the batch: restore the local copy from it
                log.warning("could not keep a store's batch locally (%s); restoring it", error,
                            extra={"partition": partition})
                assert self.stores is not None
                self.stores.reopen(partition)
        for (topic, partition), offset in waiting.items():  # read again once the other topic caught up
            _seek(consumer, topic, partition, offset)

    def _commit(self, producer: Producer) -> None:
        for attempt in range(5):
            try:
                self._watched(producer.commit_transaction, CALL_TIMEOUT_SECONDS)
                break
            except KafkaException as error:
                if not error.args[0].retriable() or attempt == 4:
                    raise
        self._raise_undelivered()  # cannot happen once committed, but never ignore it

    def _watched(self, call: Callable[..., Any], *args: Any) -> Any:
        """A blocking transactional call, timed: some can hang past their own timeout after the group
        coordinator restarts (librdkafka issues 5456 and 5511), and `hung` tells the service."""
        self._blocked_since = time.monotonic()
        try:
            return call(*args)
        finally:
            self._blocked_since = None

    def hung(self) -> bool:
        """Stuck in a Kafka call well past its timeout: only a new process recovers (see `_watched`)."""
        since = self._blocked_since
        return since is not None and time.monotonic() - since > HUNG_AFTER_SECONDS

    def _flush(self, producer: Producer) -> None:
        while producer.flush(1.0) > 0:
            pass
        self._raise_undelivered()

    def _raise_undelivered(self) -> None:
        if self._delivery_error is not None:
            error, self._delivery_error = self._delivery_error, None
            raise _Retry(f"an output was not delivered: {error}")

    def _new_producer(self) -> Producer:
        if self.exactly_once:
            return self.runtime.transactional_producer(self.transactional_id)
        return Producer(self.runtime.producer_config())

    def _abandon(self, stores: Iterable[PartitionState], error: BaseException) -> None:
        """Undo a batch: abort its transaction (or replace a fenced producer) and roll its state back."""
        for store in stores:
            store.rollback()
        self._changelog_next.clear()
        self._delivery_error = None
        TRANSACTIONS.labels(self.runtime.service, "aborted").inc()
        kafka_error = error.args[0] if isinstance(error, KafkaException) and error.args else None
        fatal = isinstance(kafka_error, KafkaError) and kafka_error.fatal()
        if not self.exactly_once:
            return  # nothing to abort: what was produced stays, and is produced again (at least once)
        if not fatal and self._producer is not None:
            try:
                self._watched(self._producer.abort_transaction, CALL_TIMEOUT_SECONDS)
                return
            except KafkaException as abort_error:
                if not abort_error.args[0].fatal():
                    return  # nothing was open, or the broker ended it already
        # Fenced: another instance took this transactional id or our partitions. A new producer is made
        # before the next batch; the consumer learns of its new assignment at its next poll.
        log.warning("the producer was fenced; a new one will be started", extra={"group": self.group})
        self._producer = None

    def _may_handle(self, topic: str, partition: int, ends: dict[int, int]) -> bool:
        """For a topic with `after`: whether the other topic's partition has been read to its current end."""
        other = self.after.get(topic)
        if other is None:
            return True
        if partition not in ends:
            assert self._consumer is not None
            ends[partition] = self._consumer.get_watermark_offsets(TopicPartition(other, partition), 10, cached=False)[1]
        return self._reached.get((other, partition), -1) >= ends[partition]

    def _reach(self, topic: str, partition: int, offset: int) -> None:
        if self._reached.get((topic, partition), -1) < offset:
            self._reached[(topic, partition)] = offset

    # -- one record ------------------------------------------------------------------------------------

    def _produced(self, topic: str) -> Any:
        counter = self._out.get(topic)
        if counter is None:
            counter = self._out[topic] = OUT.labels(self.runtime.service, topic)
        return counter

    def _handle(self, message: Message, topic_name: str, partition: int, offset: int) -> None:
        """Handle one record inside the open transaction; anything it did is undone if it fails."""
        topic, handler = self.handlers[topic_name]
        consumed, processing = self._meters[topic.name]
        consumed.inc()
        started = time.perf_counter()
        store = self.stores[partition] if self.stores else None
        try:
            if store is None:
                ready = self._outputs(topic, handler, message, partition, offset, None)
            else:
                with store.record():
                    ready = self._outputs(topic, handler, message, partition, offset, store)
            for encoded in ready:
                self._send(encoded)
        except (RegistryError, KafkaException, sqlite3.Error, _Retry):
            raise  # not this record's fault (outputs were checked to fit before any was produced)
        except (PoisonRecord, RecordTooLarge) as error:
            self._dead_letter(topic, message, error, str(error))
        except Exception as error:  # anything else is this record's fault: set it aside, carry on
            self._dead_letter(topic, message, error, f"handling failed: {type(error).__name__}: {_clip(str(error))}")
        finally:
            processing.observe(time.perf_counter() - started)

    def _outputs(
        self, topic: Topic, handler: Handler, message: Message, partition: int, offset: int, store: PartitionState | None,
    ) -> list[Encoded]:
        """The record's outputs and state changes, encoded and checked to fit, before anything is produced."""
        try:
            value = self.runtime.codec(topic.value).decode(message.value())
        except PoisonRecord as error:
            raise PoisonRecord(f"the value {error}") from None
        key, key_problem = None, None
        try:
            key = self._key(topic, message.key())
        except PoisonRecord as error:
            key_problem = f"the key {error}"
        incoming = Incoming(topic, partition, offset, key, value, store, key_problem)
        token = logs.request_id.set(_request_id(value))
        try:
            ready = [self.runtime.encode(outgoing) for outgoing in handler(incoming)]
        finally:
            logs.request_id.reset(token)
        if key_problem is not None and not ready:  # the handler had no answer for an unreadable key
            raise PoisonRecord(key_problem)
        if store is not None and self.stores is not None:
            changelog = self.stores.spec.changelog
            ready += [self.runtime.encode(Outgoing(changelog, k, v, partition=store.partition))
                      for k, v in store.take_changes()]
        for encoded in ready:
            if encoded.size > MAX_RECORD_BYTES:
                raise RecordTooLarge(f"an output to {encoded.topic} would be {encoded.size:,} bytes, more than"
                                     f" the {MAX_RECORD_BYTES:,} the broker takes")
        return ready

    def _key(self, topic: Topic, data: bytes | None) -> Any:
        """A key as read, remembered by its bytes: a user's key is the same on each of their records
        (the handlers treat keys as read-only)."""
        known = (topic.name, data)
        key = self._keys.get(known)
        if key is None:
            key = self.runtime.codec(topic.key).decode(data)
            if len(self._keys) >= 100_000:
                self._keys.clear()
            self._keys[known] = key
        return key

    def _send(self, encoded: Encoded) -> None:
        while True:
            try:
                self.runtime.send(encoded, self._delivered, self._producer)
                return
            except BufferError:  # the producer's queue is full: let it deliver some first
                assert self._producer is not None
                self._producer.poll(0.05)

    def _dead_letter(self, topic: Topic, message: Message, error: Exception, reason: str) -> None:
        """Set the record aside, untouched, with why; one whose original is too large to carry beside
        the reason keeps only its coordinates and size."""
        FAILED.labels(self.runtime.service, topic.name, type(error).__name__).inc()
        _, partition, offset = coordinates(message)
        where = {"topic": topic.name, "partition": partition, "offset": offset}
        log.error("dead-lettered a record: %s", reason, extra={**where, "dead_letter_topic": topic.dead_letter_topic})
        size = len(message.key() or b"") + len(message.value() or b"")
        headers: list[tuple[str, str | bytes | None]] = [
            ("dlq.source.topic", topic.name.encode()),
            ("dlq.source.partition", str(partition).encode()),
            ("dlq.source.offset", str(offset).encode()),
            ("dlq.source.bytes", str(size).encode()),
            ("dlq.error.class", type(error).__name__.encode()),
            ("dlq.error.message", reason[:2000].encode()),
            ("dlq.service", self.runtime.service.encode()),
            ("dlq.time", datetime.now(UTC).isoformat(timespec="milliseconds").encode()),
        ]
        original = headers_of(message)
        letter = Encoded(topic.dead_letter_topic or "", message.key(), message.value(), [*headers, *original])
        if letter.size + DEAD_LETTER_HEADER_BYTES > MAX_RECORD_BYTES:
            letter = Encoded(letter.topic, None, None,
                             [*headers, ("dlq.original.omitted", b"too large to carry beside the reason")])
        self._send(letter)

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._delivery_error = error
            return
        topic, partition, offset = coordinates(message)
        self._produced(topic).inc()
        if self.stores is not None and topic == self.stores.spec.changelog.name:
            self._changelog_next[partition] = offset + 1

    # -- ownership -------------------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions:
            # Read the committed offsets first: librdkafka waits (KIP-447) until no transaction of a
            # previous owner is pending on them, so the changelog is final up to where we restore.
            committed = consumer.committed(partitions, timeout=60)
            for tp in committed:
                if tp.offset >= 0:
                    self._reach(tp.topic, tp.partition, tp.offset)
            if self.stores is not None:
                self.stores.take(tp.partition for tp in partitions)
        self.assigned.set()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._reached.pop((tp.topic, tp.partition), None)
        if self.stores is not None:
            still = {tp.partition for tp in consumer.assignment()} - {tp.partition for tp in partitions}
            self.stores.release({tp.partition for tp in partitions} - still)


def _request_id(value: Any) -> str | None:
    found = value.get("request_id") if isinstance(value, dict) else None
    return str(found) if found is not None else None


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _seek(consumer: Consumer, topic: str, partition: int, offset: int) -> None:
    try:
        consumer.seek(TopicPartition(topic, partition, offset))
    except KafkaException as error:  # the partition moved to another worker, which will handle it
        log.info("could not seek %s[%d]: %s", topic, partition, error)


def _rewind(consumer: Consumer, batch: list[Message]) -> None:
    first: dict[tuple[str, int], int] = {}
    for message in batch:
        topic, partition, offset = coordinates(message)
        first.setdefault((topic, partition), offset)
    for (topic, partition), offset in first.items():
        _seek(consumer, topic, partition, offset)
