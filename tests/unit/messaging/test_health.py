"""Client health without Kafka: what makes a client unready, for how long, and what /readyz says."""

from __future__ import annotations

import time

import pytest

from messaging import health
from messaging.health import Client, Health, readiness


def test_a_consumer_is_unready_until_it_joins_its_group() -> None:
    consumer = Client("consumer of group g", consumer=True)
    status = consumer.status()
    assert not status.ready and status.reason == "has not joined its consumer group yet" and status.since
    consumer.joined()
    assert consumer.status().ready


def test_a_fatal_error_holds_until_a_new_consumer_joins() -> None:
    consumer = Client("c", consumer=True)
    consumer.joined()
    assert consumer.failing("fenced by another member")
    assert not consumer.failing("fenced by another member")  # not news: logged once
    consumer.built()
    status = consumer.status()
    assert not status.ready and status.reason == "fenced by another member"
    consumer.joined()
    assert consumer.status().ready


def test_a_passing_trouble_ends_by_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    producer = Client("p", consumer=False)
    now = time.monotonic()
    monkeypatch.setattr(health.time, "monotonic", lambda: now)
    producer.failing("broker gone", for_seconds=15)
    assert not producer.status().ready
    monkeypatch.setattr(health.time, "monotonic", lambda: now + 16)
    assert producer.status().ready


def test_a_consumer_that_has_not_come_back_from_kafka_is_stuck(monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = Client("c", consumer=True)
    consumer.joined()
    consumer.polled()
    now = time.monotonic()
    monkeypatch.setattr(health.time, "monotonic", lambda: now + health.STALE_SECONDS + 5)
    status = consumer.status()
    assert not status.ready and status.reason is not None and status.reason.startswith("has not come back from Kafka")


def test_readiness_names_every_client_that_is_not_ready_with_why_and_since() -> None:
    clients = Health()
    clients.client("consumer of group g", consumer=True).joined()
    clients.client("producer of s", consumer=False).failing("fatal error, replaced: x")
    ready, body = readiness(clients.statuses())
    assert not ready and body["ready"] is False
    assert body["clients"] == [
        {"client": "consumer of group g", "ready": True},
        {"client": "producer of s", "ready": False, "reason": "fatal error, replaced: x",
         "since": clients.statuses()[1].since},
    ]
    assert clients.client("producer of s", consumer=False).working()
    assert readiness(clients.statuses())[0]
