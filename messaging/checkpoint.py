"""How a worker's batch becomes final: its outputs and consumer offsets in one Kafka transaction (exactly once), or
its outputs acknowledged before its offsets are committed (at least once).

Both keep the worker's producer, tell what became of each record sent (delivery reports: the metrics, the next
changelog offset per partition, a failed delivery), and replace a producer that a fatal error ended.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from messaging import tracing
from messaging.health import Client, is_fatal
from messaging.metrics import OUT, TRANSACTIONS
from messaging.offsets import coordinates
from messaging.records import Encoded

__all__ = ["CALL_TIMEOUT_SECONDS", "HUNG_AFTER_SECONDS", "AtLeastOnce", "Checkpoint", "Retry", "Transactions"]

log = logging.getLogger(__name__)
R = TypeVar("R")

# Every blocking transactional call is given this long (a transaction lives 10 s at most, see
# Runtime.transactional_producer); one still blocked well after it is hung.
CALL_TIMEOUT_SECONDS = 10
HUNG_AFTER_SECONDS = CALL_TIMEOUT_SECONDS + 10


class Retry(Exception):
    """The batch must be handled again after a pause: nothing of it became visible."""


class Checkpoint:
    """The producer of one worker and the fate of what it sends; subclasses say how a batch becomes final."""

    transactional = False

    def __init__(self, service: str, make_producer: Callable[[], Producer], health: Client,
                 changelog: str | None = None, group: str | None = None) -> None:
        self.service = service
        self.group = group or service
        self.batch: tracing.Batch | None = None  # tracing: the open batch's span
        self.health = health
        self.changelog = changelog
        self.changelog_next: dict[int, int] = {}  # partition -> the next changelog offset, from delivery reports
        self._make_producer = make_producer
        self._producer: Producer | None = None
        self._undelivered: KafkaError | None = None
        self._out: dict[str, Any] = {}  # topic -> its labelled counter (looking one up costs more than a small record)
        self._blocked_since: float | None = None

    @property
    def producer(self) -> Producer:
        if self._producer is None:  # the first batch, or the last producer was ended by a fatal error
            self._producer = self._make_producer()
            self.health.built()
        return self._producer

    def begin(self) -> None:
        """Open the batch (a transaction, when there is one)."""
        if tracing.active:  # tracing: a span per batch, closed by its commit or abandon
            self.batch = tracing.Batch(self.group, self.transactional)

    def commit(self, consumer: Consumer, offsets: Sequence[TopicPartition]) -> None:
        """Make the batch final, its outputs with its offsets; Retry or KafkaException when it could not be."""
        raise NotImplementedError

    def abandon(self, error: BaseException) -> None:
        """Forget the batch after `error`: nothing of it may become visible."""
        self._forget()
        self._settled(error, "aborted")

    def _forget(self) -> None:
        self.changelog_next.clear()
        self._undelivered = None
        TRANSACTIONS.labels(self.service, "aborted").inc()

    def send(self, encoded: Encoded) -> None:
        producer = self.producer
        while True:
            try:
                if encoded.partition is None:
                    producer.produce(encoded.topic, key=encoded.key, value=encoded.value, headers=encoded.headers,
                                     on_delivery=self._delivered)
                else:
                    producer.produce(encoded.topic, key=encoded.key, value=encoded.value, headers=encoded.headers,
                                     on_delivery=self._delivered, partition=encoded.partition)
                return
            except BufferError:  # the producer's queue is full: let it deliver some first
                producer.poll(0.05)

    def hung(self) -> bool:
        """Stuck in a Kafka call well past its timeout: only a new process recovers (see `_watched`)."""
        since = self._blocked_since
        return since is not None and time.monotonic() - since > HUNG_AFTER_SECONDS

    def _watched(self, call: Callable[..., R], *args: Any) -> R:
        """A blocking call, timed: some transactional calls can hang past their own timeout after the group
        coordinator restarts (librdkafka issues 5456 and 5511), and `hung` tells the service."""
        self._blocked_since = time.monotonic()
        try:
            with tracing.step(self.batch, call.__name__):  # tracing: each call a child of the batch's span
                return call(*args)
        finally:
            self._blocked_since = None

    def _settled(self, error: BaseException | None = None, outcome: str = "committed") -> None:
        """The batch is final, or forgotten: its span ends (tracing)."""
        if self.batch is not None:
            self.batch.close(error, outcome)
            self.batch = None

    def _raise_undelivered(self) -> None:
        if self._undelivered is not None:
            error, self._undelivered = self._undelivered, None
            raise Retry(f"an output was not delivered: {error}")

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._undelivered = error
            return
        topic, partition, offset = coordinates(message)
        counter = self._out.get(topic)
        if counter is None:
            counter = self._out[topic] = OUT.labels(self.service, topic)
        counter.inc()
        if topic == self.changelog:
            self.changelog_next[partition] = offset + 1

    def _replace(self, error: KafkaError) -> None:
        """The producer is unusable for good: the next batch gets a new one."""
        if self.health.failing(f"producer: {error.str()}"):
            log.error("the producer met a fatal error and will be replaced: %s", error.str(),
                      extra={"service": self.service})
        self._producer = None


class Transactions(Checkpoint):
    """Exactly once: the batch's outputs, changelog entries, dead letters and consumer offsets commit together."""

    transactional = True

    def begin(self) -> None:
        super().begin()
        self._watched(self.producer.begin_transaction)

    def commit(self, consumer: Consumer, offsets: Sequence[TopicPartition]) -> None:
        producer = self.producer
        if offsets:  # with the group's metadata: a member that lost its partitions is fenced by its generation
            self._watched(producer.send_offsets_to_transaction, list(offsets), consumer.consumer_group_metadata(),
                          CALL_TIMEOUT_SECONDS)
        for attempt in range(5):
            try:
                self._watched(producer.commit_transaction, CALL_TIMEOUT_SECONDS)
                break
            except KafkaException as error:
                if not error.args[0].retriable() or attempt == 4:
                    raise
        self._raise_undelivered()  # cannot happen once committed, but never ignore it
        TRANSACTIONS.labels(self.service, "committed").inc()
        self._settled()
        if self.health.working():
            log.info("the producer works again", extra={"service": self.service})

    def abandon(self, error: BaseException) -> None:
        self._forget()
        kafka_error = error.args[0] if isinstance(error, KafkaException) and error.args else None
        if isinstance(kafka_error, KafkaError) and is_fatal(kafka_error):
            self._replace(kafka_error)  # fenced: another instance took this transactional id or our partitions
            self._settled(error, "fenced")
            return
        try:
            if self._producer is not None:
                self._watched(self._producer.abort_transaction, CALL_TIMEOUT_SECONDS)
        except KafkaException as abort_error:
            if is_fatal(abort_error.args[0]):
                self._replace(abort_error.args[0])
            # otherwise nothing was open, or the broker ended it already
        finally:
            self._settled(error, "aborted")


class AtLeastOnce(Checkpoint):
    """At least once: offsets are committed only after every output is acknowledged; what a failed batch produced
    stays, and is produced again."""

    def commit(self, consumer: Consumer, offsets: Sequence[TopicPartition]) -> None:
        producer = self.producer
        with tracing.step(self.batch, "flush"):
            while producer.flush(1.0) > 0:
                pass
        self._raise_undelivered()
        if offsets:
            with tracing.step(self.batch, "commit"):
                consumer.commit(offsets=list(offsets), asynchronous=False)
        TRANSACTIONS.labels(self.service, "committed").inc()
        self._settled()

    def fatal(self, error: KafkaError) -> None:
        """From the producer's error callback: an idempotent producer can end with a fatal error too."""
        self._replace(error)
