"""Registry schemas and topic data survive `make down` + `make up` (the state folder is kept), and the registry's
restarts leave no consumer groups behind."""

from __future__ import annotations

import subprocess
import sys
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from contracts import Manifest
from contracts.registry import Registry
from messaging.settings import Settings
from stack import procs, security


def _stack(command: str) -> str:
    result = subprocess.run([sys.executable, "-m", "stack", command], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_schemas_and_records_survive_a_restart(
    manifest: Manifest, settings: Settings, registry: Registry, admin: AdminClient
) -> None:
    topic = f"test-restart-{uuid.uuid4().hex[:8]}"  # raw bytes must not land in a contract topic
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=15)
    marker = uuid.uuid4().bytes
    producer = Producer({**settings.kafka_client, "acks": "all"})
    delivered = []
    producer.produce(topic, value=marker, on_delivery=lambda error, message: delivered.append((error, message)))
    assert producer.flush(15) == 0 and delivered[0][0] is None
    partition, offset = delivered[0][1].partition(), delivered[0][1].offset()
    ids_before = {s.name: registry.lookup(s.name, s.latest.text) for s in manifest.subjects}

    _stack("down")
    assert procs.running_pid("kafka") is None and procs.running_pid("registry") is None
    _stack("up")

    restarted = Registry(settings.registry_client)  # a new client: the session's has the ids cached
    try:
        assert {s.name: restarted.lookup(s.name, s.latest.text) for s in manifest.subjects} == ids_before
    finally:
        restarted.close()
    consumer = Consumer({**settings.kafka_client, "group.id": f"test-{uuid.uuid4()}"})
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        message = consumer.poll(15)
        assert message is not None and message.error() is None and message.value() == marker
    finally:
        consumer.close()


def registry_groups(admin: AdminClient) -> list[str]:
    listed = admin.list_consumer_groups().result(timeout=30)
    prefix = security.registry_storage().group_prefix
    return [group.group_id for group in listed.valid if group.group_id.startswith(prefix)]


def test_the_registry_leaves_no_consumer_group_behind_when_it_restarts(admin: AdminClient) -> None:
    for _ in range(3):
        _stack("down")
        _stack("up")
    # Its two journal readers' groups, and at most those of the start before (a group empties only once its
    # members' session ends after they are stopped).
    assert len(registry_groups(admin)) <= 4, registry_groups(admin)
