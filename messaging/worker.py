"""The consume-transform-produce loop every worker runs: a batch at a time, each record handled once.

A batch is consumed and handled record by record: its outputs, its changes to the partition's state (changelog
entries), a forward to its key's partition (messaging/gate.py) or its dead letter are sent, then made final together
with the batch's consumer offsets (messaging/checkpoint.py: one Kafka transaction when exactly once). Either all of
that becomes visible to read_committed readers, or none of it does and the batch is handled again from the same
offsets against the same state.

What goes wrong with one record sets it aside as a dead letter and the loop goes on; what a retry may cure (the
registry or the broker unreachable, a transaction the broker aborted) rewinds the batch, with backoff; a client ended
by a fatal error (a static member fenced by another with its group.instance.id, a fenced producer) is replaced, and
the worker rejoins its group. messaging/health.py tells readiness how each client is doing.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar, cast

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from contracts import moves
from contracts.headers import FORWARDED
from contracts.manifest import Topic
from contracts.registry import RegistryError
from messaging import logs, tracing
from messaging.checkpoint import AtLeastOnce, Checkpoint, Retry, Transactions
from messaging.deadletters import MAX_RECORD_BYTES, letter_for
from messaging.gate import After, Filling, Placement
from messaging.health import is_fatal
from messaging.metrics import BATCH_SECONDS, FAILED, FORWARDED_RECORDS, IN, PROCESSING
from messaging.offsets import coordinates, headers_of
from messaging.records import Encoded, Incoming, Outgoing, Route
from messaging.runtime import Runtime
from messaging.serde import PoisonRecord
from messaging.state import PartitionState
from messaging.stores import StateSpec, Stores

__all__ = ["RecordTooLarge", "Retry", "Worker"]

log = logging.getLogger(__name__)
S = TypeVar("S", bound=PartitionState[Any, Any] | None)
# A consumer's errors keep it unready this long after the last one (a broker restart, a revoked right).
ERROR_SECONDS = 15.0
REMEMBERED_KEYS = 100_000


class RecordTooLarge(ValueError):
    """An output the broker would refuse for its size."""


class Misplaced(ValueError):
    """A record that is not on its key's partition although it was forwarded there once."""


class ConsumerEnded(Exception):
    """The consumer met a fatal error: it can do nothing more, a new one must join."""


class Worker(Generic[S]):
    """One consumer group's loop.

    `state` gives the worker a store per owned partition, backed by a changelog; its input topics and the changelog
    must form one co-partitioned group of the manifest, and every record is checked to be on its key's partition
    before it touches a store. `after` maps a topic to another of the group: a record of the first is handled only
    once the second's partition of the same number has been read to where it ended when the record came up.
    `exactly_once` overrides PROCESSING_GUARANTEE (a reader that produces nothing and applies records idempotently
    needs no transaction). `before_commit` runs once a batch is handled, before its offsets commit: where a handler
    that keeps its effects outside Kafka (a database) makes them durable at once for the whole batch; raising Retry
    there rewinds the batch.
    """

    def __init__(
        self, runtime: Runtime, group: str, routes: Sequence[Route[S]], *, state: StateSpec[Any] | None = None,
        after: Mapping[Topic[object, object], Topic[object, object]] | None = None, batch_size: int = 500,
        exactly_once: bool | None = None, new_group_starts_at_end: bool = False,
        before_commit: Callable[[], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.group = group
        self.routes = {r.topic.name: r for r in routes}
        self.batch_size = batch_size
        self.new_group_starts_at_end = new_group_starts_at_end
        self.before_commit = before_commit
        self.stores: Stores[Any] | None = None
        self.placement: Placement | None = None
        self.filling: Filling | None = None
        if state is not None:
            home = _check_co_partitioned(runtime, group, [*self.routes, state.changelog.name])
            self.stores = Stores(runtime, state, runtime.settings.state_dir / group)
            self.placement = Placement({r.topic.name: r.topic.partitioner for r in routes})
            self.filling = Filling(lambda: moves.read(self._admin(), home), state.changelog.partitions)
        self.after = After({first.name: second.name for first, second in (after or {}).items()}, self._end_of)
        self.health = runtime.health.client(f"consumer of group {group}", consumer=True)
        producer_health = runtime.health.client(f"producer of group {group}", consumer=False)
        changelog = state.changelog.name if state is not None else None
        exactly_once = runtime.settings.exactly_once if exactly_once is None else exactly_once
        self.checkpoint: Checkpoint
        if exactly_once:
            transactional_id = f"{group}/{runtime.settings.instance_id or uuid.uuid4()}"
            self.checkpoint = Transactions(runtime.service, lambda: runtime.transactional_producer(transactional_id),
                                           producer_health, changelog, group)
        else:
            self.checkpoint = plain = AtLeastOnce(runtime.service, lambda: self._plain_producer(plain), producer_health,
                                                  changelog, group)
        self._consumer: Consumer | None = None
        self._admin_client: AdminClient | None = None
        self._keys: dict[tuple[str, bytes | None], Any] = {}
        # Looking a labelled metric up costs more than handling a small record: look each up once.
        self._meters = {name: (IN.labels(runtime.service, name), PROCESSING.labels(runtime.service, name))
                        for name in self.routes}

    # -- the loop -------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set; the batch in hand is finished and committed before closing. A consumer ended
        by a fatal error is closed and a new one joins the group, after a pause that grows while it keeps ending."""
        pause = 1.0
        try:
            while not stop.is_set():
                consumer = self._join()
                joined = time.monotonic()
                try:
                    self._consume(consumer, stop)
                except ConsumerEnded as ended:
                    if time.monotonic() - joined > 60:
                        pause = 1.0
                    if self.health.failing(f"ended by a fatal error: {ended}; a new consumer rejoins"):
                        log.error("the consumer ended with a fatal error: %s; a new one joins the group in %.0f s",
                                  ended, pause, extra={"group": self.group})
                    stop.wait(pause)
                    pause = min(pause * 2, 30.0)
                finally:
                    self._leave(consumer)
        finally:
            if self.stores is not None:
                self.stores.close()

    def hung(self) -> bool:
        """Stuck in a Kafka call well past its timeout: only a new process recovers."""
        return self.checkpoint.hung()

    def _join(self) -> Consumer:
        overrides: dict[str, Any] = {}
        if self.stores is not None:
            # Range assignment gives one member partition p of every topic it reads, and is eager: every member gives
            # all its partitions back at a rebalance, so after one that follows a topic's growth none of them places
            # a record by the old partition count (messaging/repartition.py waits for that).
            overrides["partition.assignment.strategy"] = "range"
        if self.after.after:
            # End-of-partition events tell how far a partition has been read even when its last records were markers.
            overrides["enable.partition.eof"] = True
        if self.new_group_starts_at_end:
            overrides["auto.offset.reset"] = "latest"
        consumer = self._consumer = self.runtime.consumer(self.group, **overrides)
        self.health.built()
        consumer.subscribe(list(self.routes), on_assign=self._on_assign, on_revoke=self._on_revoke,
                           on_lost=self._on_revoke)
        return consumer

    def _leave(self, consumer: Consumer) -> None:
        try:
            consumer.close()
        except (KafkaException, RuntimeError) as error:  # a consumer ended by a fatal error may refuse to leave
            log.info("closing the consumer: %s", error, extra={"group": self.group})
        self._consumer = None
        self.after.reached.clear()
        if self.stores is not None:
            self.stores.release(list(self.stores.open))

    def _consume(self, consumer: Consumer, stop: threading.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            self._take_filled(consumer)
            batch = self._next_batch(consumer)
            if not batch:
                continue
            try:
                self._transact(consumer, batch)
            except Retry as reason:
                self.health.failing(f"cannot finish a batch: {reason}", for_seconds=max(backoff * 2, ERROR_SECONDS))
                log.warning("retrying a batch: %s", reason, extra={"group": self.group, "backoff_s": backoff})
                _rewind(consumer, batch)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            backoff = 0.5

    def _next_batch(self, consumer: Consumer) -> list[Message]:
        # consume() waits for a full batch or its timeout; poll() returns the first record at once,
        # then whatever else is already fetched joins it without waiting.
        first = consumer.poll(0.5)
        self.health.polled()
        if first is None:
            return []
        return [m for m in (first, *consumer.consume(self.batch_size - 1, timeout=0)) if self._usable(m)]

    def _usable(self, message: Message) -> bool:
        """Records, and end-of-partition events (kept in their place: they say how far a partition was read); a fatal
        error ends the consumer."""
        error = message.error()
        if error is None or error.code() == KafkaError._PARTITION_EOF:
            return True
        if is_fatal(error):
            raise ConsumerEnded(error.str())
        if self.health.failing(f"consumer error: {error.str()}", for_seconds=ERROR_SECONDS):
            log.warning("consumer error: %s", error.str(), extra={"group": self.group})
        return False

    # -- one batch ------------------------------------------------------------------------------------

    def _transact(self, consumer: Consumer, batch: list[Message]) -> None:
        handled: dict[tuple[str, int], int] = {}  # (topic, partition) -> last offset handled
        waiting: dict[tuple[str, int], int] = {}  # (topic, partition) -> first offset put off (see `after`)
        touched: dict[int, PartitionState[Any, Any]] = {}
        reached = self.after.new_batch()
        began = time.perf_counter()
        try:
            self.checkpoint.begin()
            for message in batch:
                topic, partition, offset = coordinates(message)
                where = (topic, partition)
                if message.error() is not None:  # end of partition: everything before it has been handled
                    self.after.reach(topic, partition, offset)
                    continue
                if where in waiting or not self.after.may_handle(topic, partition):
                    waiting.setdefault(where, offset)
                    continue
                if self.stores is not None:
                    touched[partition] = self.stores[partition]
                with tracing.processing(message, self.group, self.checkpoint.batch):  # tracing: a span per record
                    self._handle(message, topic, partition, offset)
                handled[where] = offset
                self.after.reach(topic, partition, offset + 1)
            if self.before_commit is not None and handled:
                self.before_commit()
            self.checkpoint.commit(consumer, [TopicPartition(t, p, o + 1) for (t, p), o in handled.items()])
        except (KafkaException, RegistryError, sqlite3.Error, Retry) as error:
            self.after.undo(reached)
            for store in touched.values():
                store.rollback()
            self.checkpoint.abandon(error)
            raise Retry(str(error)) from None
        if self.health.working():
            log.info("the consumer works again", extra={"group": self.group})
        BATCH_SECONDS.labels(self.runtime.service).observe(time.perf_counter() - began)
        for partition, store in touched.items():
            try:
                store.commit(self.checkpoint.changelog_next.get(partition))
            except sqlite3.Error as error:  # the changelog has the batch: restore the local copy from it
                log.warning("could not keep a store's batch locally (%s); restoring it", error,
                            extra={"partition": partition})
                assert self.stores is not None
                self.stores.reopen([partition])
        for (topic, partition), offset in waiting.items():  # read again once the other topic caught up
            _seek(consumer, topic, partition, offset)

    # -- one record -----------------------------------------------------------------------------------

    def _handle(self, message: Message, topic: str, partition: int, offset: int) -> None:
        """Handle one record inside the open batch; anything it did is undone if it fails."""
        route = self.routes[topic]
        consumed, processing = self._meters[topic]
        consumed.inc()
        started = time.perf_counter()
        try:
            owner = self.placement.owner(topic, message.key()) if self.placement is not None else None
            if owner is not None and owner != partition:
                self._misplaced(route.topic, message, owner)
                return
            if self.stores is None:
                ready = self._outputs(route, message, partition, offset, None)
            else:
                store = self.stores[partition]
                with store.record():
                    ready = self._outputs(route, message, partition, offset, store)
            for encoded in ready:
                self.checkpoint.send(encoded)
        except (RegistryError, KafkaException, sqlite3.Error, Retry):
            raise  # not this record's fault (outputs were checked to fit before any was produced)
        except (PoisonRecord, RecordTooLarge, Misplaced) as error:
            self._dead_letter(route.topic, message, error, str(error))
        except Exception as error:  # anything else is this record's fault: set it aside, carry on
            self._dead_letter(route.topic, message, error, f"handling failed: {type(error).__name__}: {_clip(str(error))}")
        finally:
            processing.observe(time.perf_counter() - started)

    def _outputs(
        self, route: Route[S], message: Message, partition: int, offset: int, store: PartitionState[Any, Any] | None,
    ) -> list[Encoded]:
        """The record's outputs and state changes, encoded and checked to fit, before anything is produced."""
        topic = route.topic
        try:
            value = self.runtime.codec(topic.value).decode(message.value())
        except PoisonRecord as error:
            raise PoisonRecord(f"the value {error}") from None
        key, key_problem = None, None
        try:
            key = self._key(topic, message.key())
        except PoisonRecord as error:
            key_problem = f"the key {error}"
        incoming = Incoming(topic, partition, offset, key, value, key_problem)
        token = logs.request_id.set(_request_id(value))
        try:
            ready = [self.runtime.encode(outgoing) for outgoing in route.handle(incoming, cast(S, store))]
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

    def _key(self, topic: Topic[object, object], data: bytes | None) -> Any:
        """A key as read, remembered by its bytes: a user's key is the same on each of their records
        (the handlers treat keys as read-only)."""
        known = (topic.name, data)
        key = self._keys.get(known)
        if key is None:
            key = self.runtime.codec(topic.key).decode(data)
            if len(self._keys) >= REMEMBERED_KEYS:
                self._keys.clear()
            self._keys[known] = key
        return key

    def _misplaced(self, topic: Topic[object, object], message: Message, owner: int) -> None:
        """A record that is not on its key's partition: written, untouched, to that partition in this batch (so it is
        moved exactly once), or set aside if it had been forwarded before."""
        _, partition, offset = coordinates(message)
        headers = headers_of(message)
        forwarded = next((v for k, v in headers if k == FORWARDED.FROM.name), None)
        if forwarded is not None:
            raise Misplaced(f"is on partition {partition} but its key belongs to partition {owner}, although it was"
                            f" forwarded there once (from {_text(forwarded)}): the producers' partitioner or partition"
                            f" count disagree with the manifest's ({topic.partitioner}, {topic.partitions} partitions)")
        client = next((_text(v) for k, v in headers if k == FORWARDED.CLIENT_ID.name), "unnamed")
        FORWARDED_RECORDS.labels(self.runtime.service, topic.name, client).inc()
        headers += [(FORWARDED.FROM.name, f"{topic.name}:{partition}:{offset}".encode()),
                    (FORWARDED.BY.name, self.runtime.service.encode())]
        if tracing.active:  # tracing: the forwarded record goes on in this record's trace, as its child
            headers = tracing.inject(headers)
        self.checkpoint.send(Encoded(topic.name, message.key(), message.value(), headers, owner))

    def _dead_letter(self, topic: Topic[object, object], message: Message, error: Exception, reason: str) -> None:
        """Set the record aside, untouched, with why."""
        FAILED.labels(self.runtime.service, topic.name, type(error).__name__).inc()
        _, partition, offset = coordinates(message)
        log.error("dead-lettered a record: %s", reason, extra={
            "topic": topic.name, "partition": partition, "offset": offset, "dead_letter_topic": topic.dead_letter_topic})
        if tracing.active:  # tracing: the record's span is an error
            tracing.dead_lettered(topic.dead_letter_topic or "", error, reason)
        self.checkpoint.send(letter_for(topic.dead_letter_topic or "", message, error, reason, self.runtime.service))

    # -- ownership ------------------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions:
            # Read the committed offsets first: librdkafka waits (KIP-447) until no transaction of a
            # previous owner is pending on them, so the changelog is final up to where we restore.
            committed = consumer.committed(partitions, timeout=60)
            for tp in committed:
                if tp.offset >= 0:
                    self.after.reach(tp.topic, tp.partition, tp.offset)
            if self.new_group_starts_at_end:
                self._start_at_end(consumer, [tp for tp in committed if tp.offset < 0])
            if self.placement is not None:  # the counts keys are placed by now, as the cluster has them
                for topic in self.routes:
                    self.placement.partitions[topic] = len(consumer.list_topics(topic, timeout=30).topics[topic].partitions)
            if self.stores is not None and self.filling is not None:
                held = self.filling.hold(tp.partition for tp in partitions)
                if held:  # assigned now (eagerly, as `range` is) so that they can be paused before a fetch
                    consumer.assign(partitions)
                    consumer.pause([tp for tp in partitions if tp.partition in held])
                    log.info("holding partitions a move is still filling", extra={"partitions": sorted(held)})
                # Restored now, held or not: a held one has most of its state copied already, and catches up on the
                # rest when the move has filled it.
                self.stores.take(tp.partition for tp in partitions)
        self.health.joined()

    def _take_filled(self, consumer: Consumer) -> None:
        """Bring the held partitions the move has filled up to their changelog, and start them."""
        if self.filling is None or self.stores is None:
            return
        filled = self.filling.release(time.monotonic())
        if filled:
            self.stores.reopen(filled)
            consumer.resume([tp for tp in consumer.assignment() if tp.partition in filled])
            log.info("the move filled held partitions: started", extra={"partitions": sorted(filled)})

    def _start_at_end(self, consumer: Consumer, fresh: list[TopicPartition]) -> None:
        """A partition the group never committed starts at its end now, committed at once: a member that takes it
        over later (another process of the group) starts where this one did, not at a later end that skips what
        came in between. Only in a new group, though: a partition added to a topic the group has been reading (a move
        to more partitions) is read from its beginning, as it holds only what was written since it was added."""
        if not fresh:
            return
        topics = {tp.topic for tp in fresh}
        every = [TopicPartition(topic, p) for topic in topics
                 for p in consumer.list_topics(topic, timeout=30).topics[topic].partitions]
        read = {tp.topic for tp in consumer.committed(every, timeout=60) if tp.offset >= 0}
        starts = []
        for tp in fresh:
            beginning, end = consumer.get_watermark_offsets(tp, 10, cached=False)
            starts.append(TopicPartition(tp.topic, tp.partition, beginning if tp.topic in read else end))
        consumer.commit(offsets=starts, asynchronous=False)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.after.forget(tp.topic, tp.partition)
        if self.filling is not None:
            self.filling.forget(tp.partition for tp in partitions)
        if self.stores is not None:
            still = {tp.partition for tp in consumer.assignment()} - {tp.partition for tp in partitions}
            self.stores.release({tp.partition for tp in partitions} - still)

    def _end_of(self, topic: str, partition: int) -> int:
        assert self._consumer is not None
        return self._consumer.get_watermark_offsets(TopicPartition(topic, partition), 10, cached=False)[1]

    def _admin(self) -> AdminClient:
        if self._admin_client is None:
            self._admin_client = AdminClient({**self.runtime.settings.kafka_client})
        return self._admin_client

    def _plain_producer(self, checkpoint: AtLeastOnce) -> Producer:
        """At least once: an idempotent producer, replaced when a fatal error ends it."""
        def on_error(error: KafkaError) -> None:
            if is_fatal(error):
                checkpoint.fatal(error)

        return Producer({**self.runtime.producer_config(), "error_cb": on_error})


def _check_co_partitioned(runtime: Runtime, group: str, topics: list[str]) -> str:
    """A worker with state keeps one store per partition number: its inputs and changelog must share one placement;
    the co-partitioned group's name."""
    groups = {name: runtime.manifest.co_partition_of(name) for name in topics}
    names = {found.name if found else None for found in groups.values()}
    if len(names) != 1 or None in names:
        listed = ", ".join(f"{name} ({found.name if found else 'in no group'})" for name, found in groups.items())
        raise ValueError(f"worker {group} keeps state per partition, so its topics and changelog must be one"
                         f" co-partitioned group of the manifest; they are: {listed}")
    return str(next(iter(names)))


def _request_id(value: Any) -> str | None:
    found = value.get("request_id") if isinstance(value, dict) else None
    return str(found) if found is not None else None


def _text(value: str | bytes | None) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value or ""


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
