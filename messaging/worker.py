"""The consume-handle-produce loop every worker runs.

A batch is consumed, each record decoded with the service's contract version and handed to its
handler inside one transaction of the service's state, the outputs produced once that transaction is
committed, and the batch's offsets committed only once every output is acknowledged by the broker: a
crash at any point means the batch is handled again (at least once), so handlers are idempotent. A record that cannot be handled goes to its topic's dead-letter topic with
the reason, and the loop moves on; a failure that a retry may cure (registry or broker unreachable)
rewinds the batch and retries it with backoff.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from contracts.manifest import Topic
from messaging import logs
from messaging.metrics import FAILED, IN, OUT, PROCESSING
from messaging.registry import RegistryError
from messaging.runtime import Encoded, Runtime

__all__ = ["Handler", "Incoming", "NoState", "State", "Worker"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Incoming:
    topic: Topic
    partition: int
    offset: int
    key: Any
    value: Any


Handler = Callable[[Incoming], Iterable[Any]]


class _Retry(Exception):
    """The batch must be handled again after a pause."""


class State(Protocol):
    """Where a service keeps what it decided: one transaction per batch, undoable per record."""

    def batch(self) -> AbstractContextManager[object]: ...

    def each(self) -> AbstractContextManager[object]: ...


class NoState:
    def batch(self) -> AbstractContextManager[object]:
        return nullcontext()

    def each(self) -> AbstractContextManager[object]:
        return nullcontext()


class Worker:
    def __init__(
        self, runtime: Runtime, group: str, handlers: Mapping[Topic, Handler], batch_size: int = 500,
        state: State | None = None,
    ) -> None:
        self.runtime = runtime
        self.group = group
        self.state = state or NoState()
        self.handlers = {topic.name: (topic, handler) for topic, handler in handlers.items()}
        self.batch_size = batch_size
        self.assigned = threading.Event()
        self._delivery_error: KafkaError | None = None

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set; the batch in hand is finished and committed before closing."""
        consumer = self.runtime.consumer(self.group)
        consumer.subscribe(
            list(self.handlers),
            on_assign=lambda *_: self.assigned.set(),
            on_lost=lambda *_: log.warning("partitions lost", extra={"group": self.group}),
        )
        backoff = 0.5
        try:
            while not stop.is_set():
                batch = [m for m in self._next_batch(consumer) if self._usable(m)]
                if not batch:
                    self.runtime.producer.poll(0)
                    continue
                try:
                    self._handle(batch)
                    self._flush()
                except _Retry as reason:
                    log.warning("retrying a batch: %s", reason, extra={"group": self.group, "backoff_s": backoff})
                    _rewind(consumer, batch)
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                backoff = 0.5
                _commit(consumer, batch)
        finally:
            consumer.close()

    # Looking a labelled metric up costs more than handling a small record: look each up once.
    @cache
    def _meters(self, topic: str) -> tuple[Any, Any]:
        return IN.labels(self.runtime.service, topic), PROCESSING.labels(self.runtime.service, topic)

    @cache
    def _produced(self, topic: str) -> Any:
        return OUT.labels(self.runtime.service, topic)

    def _next_batch(self, consumer: Consumer) -> list[Message]:
        # consume() waits for a full batch or its timeout; poll() returns the first record at once,
        # then whatever else is already fetched joins it without waiting.
        first = consumer.poll(0.5)
        if first is None:
            return []
        return [first, *consumer.consume(self.batch_size - 1, timeout=0)]

    def _usable(self, message: Message) -> bool:
        if message.error() is None:
            return True
        if message.error().code() != KafkaError._PARTITION_EOF:
            log.warning("consumer error: %s", message.error(), extra={"group": self.group})
        return False

    def _handle(self, batch: list[Message]) -> None:
        """Handle a batch inside the state's transaction; send its outputs only once that is committed,
        so no output ever announces a decision the state could still lose."""
        ready: list[Encoded] = []
        failed: list[tuple[Topic, Message, Exception]] = []
        try:
            with self.state.batch():
                for message in batch:
                    self._handle_one(message, ready, failed)
        except _Retry:
            raise
        except Exception as error:  # the state store could not commit: nothing was sent, try again
            raise _Retry(f"the state store failed: {error}") from error
        for encoded in ready:
            self.runtime.send(encoded, self._delivered)
        for topic, message, error in failed:
            self._dead_letter(topic, message, error)

    def _handle_one(self, message: Message, ready: list[Encoded], failed: list[tuple[Topic, Message, Exception]]) -> None:
        topic, handler = self.handlers[message.topic()]
        consumed, processing = self._meters(topic.name)
        consumed.inc()
        started = time.perf_counter()
        try:
            # Each record's changes to the state are undone if any step for it fails, so a record set
            # aside leaves no trace (an invoice number is never used up by a request that got no invoice).
            with self.state.each():
                incoming = Incoming(
                    topic,
                    message.partition(),
                    message.offset(),
                    self.runtime.codec(topic.key).decode(message.key()),
                    self.runtime.codec(topic.value).decode(message.value()),
                )
                token = logs.request_id.set(_request_id(incoming.value))
                try:
                    ready.extend(self.runtime.encode(outgoing) for outgoing in handler(incoming))
                finally:
                    logs.request_id.reset(token)
        except RegistryError as error:
            raise _Retry(str(error)) from None
        except Exception as error:  # anything else is this record's fault: set it aside, carry on
            failed.append((topic, message, error))
        finally:
            processing.observe(time.perf_counter() - started)

    def _dead_letter(self, topic: Topic, message: Message, error: Exception) -> None:
        FAILED.labels(self.runtime.service, topic.name, type(error).__name__).inc()
        log.error(
            "dead-lettered a record: %s",
            error,
            extra={"topic": topic.name, "partition": message.partition(), "offset": message.offset(),
                   "error_class": type(error).__name__, "dead_letter_topic": topic.dead_letter_topic},
        )
        headers = [
            ("dlq.source.topic", topic.name.encode()),
            ("dlq.source.partition", str(message.partition()).encode()),
            ("dlq.source.offset", str(message.offset()).encode()),
            ("dlq.error.class", type(error).__name__.encode()),
            ("dlq.error.message", str(error)[:2000].encode()),
            ("dlq.service", self.runtime.service.encode()),
            ("dlq.time", datetime.now(timezone.utc).isoformat(timespec="milliseconds").encode()),
            *(message.headers() or []),
        ]
        self.runtime.producer.produce(
            topic.dead_letter_topic, key=message.key(), value=message.value(), headers=headers,
            on_delivery=self._delivered,
        )

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._delivery_error = error
        else:
            self._produced(message.topic()).inc()

    def _flush(self) -> None:
        # Idempotent producer: an unreachable broker means retries until message.timeout.ms, then an error.
        while self.runtime.producer.flush(1.0) > 0:
            pass
        if self._delivery_error is not None:
            error, self._delivery_error = self._delivery_error, None
            raise _Retry(f"an output was not delivered: {error}")


def _request_id(value: Any) -> str | None:
    found = value.get("request_id") if isinstance(value, dict) else None
    return str(found) if found is not None else None


def _rewind(consumer: Consumer, batch: list[Message]) -> None:
    first: dict[tuple[str, int], int] = {}
    for message in batch:
        first.setdefault((message.topic(), message.partition()), message.offset())
    for (topic, partition), offset in first.items():
        try:
            consumer.seek(TopicPartition(topic, partition, offset))
        except KafkaException as error:  # the partition moved to another worker, which will handle it
            log.info("could not rewind %s[%d]: %s", topic, partition, error)


def _commit(consumer: Consumer, batch: list[Message]) -> None:
    last: dict[tuple[str, int], int] = {}
    for message in batch:
        last[(message.topic(), message.partition())] = message.offset()
    offsets = [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]
    try:
        consumer.commit(offsets=offsets, asynchronous=False)
    except KafkaException as error:  # e.g. a rebalance: the new owner handles the batch again, idempotently
        log.warning("commit failed: %s", error)
