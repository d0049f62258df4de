"""Checkpointing without Kafka: how a batch becomes final, or is abandoned, and when a producer is replaced."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from messaging.checkpoint import AtLeastOnce, Retry, Transactions
from messaging.health import Client
from messaging.records import Encoded
from tests.unit.messaging.fakes import FakeConsumer, FakeProducer

OFFSETS = [TopicPartition("requests", 0, 5)]


def checkpoint(kind: type[Transactions] | type[AtLeastOnce], *producers: FakeProducer) -> tuple[Any, Client]:
    made = iter(producers)
    health = Client("producer of group g", consumer=False)
    return kind("test", lambda: next(made), health, changelog="changelog"), health  # type: ignore[arg-type]


def test_a_batch_commits_its_outputs_with_its_offsets_in_one_transaction() -> None:
    producer = FakeProducer()
    batch, _ = checkpoint(Transactions, producer)
    batch.begin()
    batch.send(Encoded("replies", b"k", b"v", None))
    batch.send(Encoded("changelog", b"k", b"v", None, partition=3))
    batch.commit(FakeConsumer(), OFFSETS)
    assert producer.calls == ["begin_transaction", "send_offsets_to_transaction", "commit_transaction"]
    assert [p["topic"] for p in producer.produced] == ["replies", "changelog"]
    assert batch.changelog_next == {3: 1}  # the store's checkpoint: the next changelog offset


def test_an_abortable_error_aborts_and_keeps_the_producer() -> None:
    producer = FakeProducer(fail_with={"commit_transaction": KafkaError(KafkaError._STATE, txn_requires_abort=True)})
    batch, health = checkpoint(Transactions, producer)
    batch.begin()
    with pytest.raises(KafkaException) as raised:
        batch.commit(FakeConsumer(), OFFSETS)
    batch.abandon(raised.value)
    assert producer.calls[-1] == "abort_transaction"
    assert batch.producer is producer and health.status().ready


def test_a_fenced_producer_is_replaced_and_its_health_says_so_until_a_batch_commits() -> None:
    fenced = FakeProducer(fail_with={"commit_transaction": KafkaError(KafkaError._FENCED, fatal=True)})
    fresh = FakeProducer()
    batch, health = checkpoint(Transactions, fenced, fresh)
    batch.begin()
    with pytest.raises(KafkaException) as raised:
        batch.commit(FakeConsumer(), OFFSETS)
    batch.abandon(raised.value)
    assert "abort_transaction" not in fenced.calls  # a fenced producer can do nothing more
    status = health.status()
    assert not status.ready and status.reason is not None and "producer:" in status.reason
    batch.begin()
    batch.commit(FakeConsumer(), OFFSETS)
    assert fresh.calls == ["begin_transaction", "send_offsets_to_transaction", "commit_transaction"]
    assert health.status().ready


def test_an_undelivered_output_makes_the_batch_retry() -> None:
    producer = FakeProducer(undeliverable=KafkaError(KafkaError._MSG_TIMED_OUT))
    batch, _ = checkpoint(AtLeastOnce, producer)
    batch.send(Encoded("replies", b"k", b"v", None))
    with pytest.raises(Retry, match="an output was not delivered"):
        batch.commit(FakeConsumer(), OFFSETS)


def test_at_least_once_commits_offsets_only_after_every_output_is_acknowledged() -> None:
    producer, consumer = FakeProducer(), FakeConsumer()
    batch, _ = checkpoint(AtLeastOnce, producer)
    batch.send(Encoded("replies", b"k", b"v", None))
    batch.commit(consumer, OFFSETS)
    assert producer.calls == ["flush"] and consumer.committed == [OFFSETS]


def test_at_least_once_replaces_a_producer_a_fatal_error_ended() -> None:
    first, second = FakeProducer(), FakeProducer()
    batch, health = checkpoint(AtLeastOnce, first, second)
    assert batch.producer is first
    batch.fatal(KafkaError(KafkaError._FATAL, "idempotence guard", fatal=True))
    assert not health.status().ready
    assert batch.producer is second
