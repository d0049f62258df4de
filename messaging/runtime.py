"""What every service holds once: settings, the registry, its contract codecs and one Kafka producer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from confluent_kafka import Consumer, KafkaError, Message, Producer

from contracts.headers import REQUEST_ID
from contracts.manifest import Manifest, Subject, Topic, load_manifest
from contracts.partitioning import librdkafka_partitioner
from contracts.registry import Registry
from messaging import tracing
from messaging.health import Health, is_fatal
from messaging.records import Encoded, Headers, Outgoing
from messaging.serde import Codec, WriterSchemas
from messaging.settings import Settings

__all__ = ["Runtime"]

log = logging.getLogger(__name__)
DeliveryCallback = Callable[[KafkaError | None, Message], None]
T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


class Runtime:
    """What a service holds once: its settings and manifest, the registry and its codecs, the health of its Kafka
    clients, and one producer for the records it sends outside a worker (the dashboard's requests)."""

    def __init__(
        self,
        service: str,
        settings: Settings | None = None,
        manifest: Manifest | None = None,
        producer_overrides: dict[str, object] | None = None,
    ) -> None:
        self.service = service
        self.settings = settings or Settings.from_env()
        self.manifest = manifest or load_manifest()
        self.registry = Registry(self.settings.registry_client)
        self.writers = WriterSchemas(self.registry)
        self.health = Health()
        self._codecs: dict[str, Codec[Any]] = {}
        self._producer_overrides = producer_overrides or {}
        self._producer_health = self.health.client(f"producer of {service}", consumer=False)
        self._producer: Producer | None = None

    @property
    def producer(self) -> Producer:
        """The service's own producer, replaced when a fatal error (librdkafka's idempotence guard) ends it."""
        if self._producer is None:
            self._producer = Producer({**self.producer_config(), **self._producer_overrides, "error_cb": self._error})
            self._producer_health.built()
        return self._producer

    def _error(self, error: KafkaError) -> None:
        if is_fatal(error):
            if self._producer_health.failing(f"fatal error, replaced: {error.str()}"):
                log.error("the producer met a fatal error and is replaced: %s", error.str())
            self._producer = None  # what it had not delivered gets its delivery report (failed) as it is destroyed

    def delivered(self) -> None:
        """A delivery succeeded: the producer works (again)."""
        if self._producer_health.working():
            log.info("the producer works again")

    def producer_config(self) -> dict[str, object]:
        return {
            **self.settings.kafka_client,
            "client.id": self.service,
            # Idempotent with acks=all: a retry never duplicates, an ack means every in-sync replica has it.
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            # The manifest's partitioner (Java's murmur2), so that a user's records land where the stateful consumers
            # keep that user's state; a changelog entry names its partition.
            "partitioner": librdkafka_partitioner(self.manifest),
        }

    def transactional_producer(self, transactional_id: str) -> Producer:
        """A producer whose writes become visible together with consumer offsets, or not at all."""
        producer = Producer({
            **self.producer_config(),
            "transactional.id": transactional_id,
            # A transaction left open by a dead or cut-off process is aborted by the broker after this,
            # which is also how long a new owner of its partitions may wait to restore their state.
            "transaction.timeout.ms": 10000,
            # A transaction begun while the broker still writes the previous one's markers is told
            # CONCURRENT_TRANSACTIONS and retried after this backoff: the default 100 ms stalled one
            # batch in six at 100 requests/s (Java's client uses 20 ms for the same reason).
            "retry.backoff.ms": 10,
        })
        producer.init_transactions(30)
        return producer

    def codec(self, subject: Subject[T]) -> Codec[T]:
        """The subject's codec at the version this service is built against (the newest unless pinned)."""
        if subject.name not in self._codecs:
            pinned = self.settings.contract_versions.get(subject.family, subject.latest.version)
            version = next((v for v in subject.versions if v.version == pinned), None)
            if version is None:
                raise LookupError(f"CONTRACT_VERSIONS pins {subject.family} to v{pinned}, which is not published")
            self._codecs[subject.name] = Codec(subject, version, self.writers)
        return cast(Codec[T], self._codecs[subject.name])

    def prepare(self, *topics: Topic[object, object]) -> None:
        """Resolve every codec up front, so a missing registry or schema fails at start-up, not mid-stream."""
        for topic in topics:
            for subject in topic.subjects:
                self.codec(subject)

    def encode(self, outgoing: Outgoing[K, V], *, checked: bool = False) -> Encoded:
        """The record in the wire format; ContractViolation when it does not fit its contract (`checked`: the value's
        constraints were checked already, see Codec.encode)."""
        topic = outgoing.topic
        headers: Headers | None = [(REQUEST_ID.name, outgoing.request_id)] if outgoing.request_id else None
        if tracing.active:  # tracing: the record carries the context of the span current now
            headers = tracing.inject(headers)
        return Encoded(
            topic.name,
            self.codec(topic.key).encode(outgoing.key),
            self.codec(topic.value).encode(outgoing.value, checked=checked),
            headers,
            outgoing.partition,
        )

    def send(self, encoded: Encoded, on_delivery: DeliveryCallback | None = None, producer: Producer | None = None) -> None:
        target = producer or self.producer
        if tracing.active:  # tracing: the span current now learns where the record landed
            on_delivery = tracing.noting_delivery(on_delivery)
        if encoded.partition is None:  # chosen from the key by the partitioner
            target.produce(encoded.topic, key=encoded.key, value=encoded.value, headers=encoded.headers,
                           on_delivery=on_delivery)
        else:
            target.produce(encoded.topic, key=encoded.key, value=encoded.value, headers=encoded.headers,
                           on_delivery=on_delivery, partition=encoded.partition)

    def produce(self, outgoing: Outgoing[K, V], on_delivery: DeliveryCallback | None = None, *,
                checked: bool = False) -> None:
        self.send(self.encode(outgoing, checked=checked), on_delivery)

    def consumer(self, group: str, **overrides: object) -> Consumer:
        """A member of `group`; it sees only committed records (what aborted transactions wrote never shows)."""
        config = {
            **self.settings.kafka_client,
            "group.id": group,
            "client.id": self.service,
            "isolation.level": "read_committed",
            # The broker holds a fetch until new records arrive or this passes; records that become
            # visible when a transaction commits do not cut that wait short, so keep it short.
            "fetch.wait.max.ms": 25,
            # Offsets are committed by hand (by the worker's transactions).
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
            # A member that dies without leaving holds its partitions this long before others take them.
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 2000,
        }
        if self.settings.instance_id:
            # Static membership: a restarted instance takes its partitions back at once, no rebalance.
            config["group.instance.id"] = f"{group}/{self.settings.instance_id}"
        return Consumer({**config, **overrides})

    def reader(self, **overrides: object) -> Consumer:
        """A consumer assigned to partitions by hand, outside any group's membership; committed records only."""
        return Consumer({
            **self.settings.kafka_client,
            # Never joined nor committed to, but librdkafka wants one and looks its coordinator up: named under the
            # service's own consumer group, so that its principal may (contracts.acls).
            "group.id": f"{self.manifest.consumer_groups.get(self.service, self.service)}-reader",
            "client.id": self.service,
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            **overrides,
        })

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(30)
        self.registry.close()
