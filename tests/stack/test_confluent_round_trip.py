"""A record produced with the registered schema through confluent-kafka's serializer comes back equal."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from contracts import Manifest, load_manifest
from messaging.settings import Settings
from tests.contract.strategies import from_schema

SERIALIZER_CONFIG = {
    "auto.register.schemas": False,  # services never register; provisioning does
    "use.latest.version": True,
    "subject.name.strategy": topic_subject_name_strategy,
}
TOPICS = [topic.name for topic in load_manifest().topics]


@pytest.fixture(scope="module")
def registry_client(settings: Settings) -> SchemaRegistryClient:
    return SchemaRegistryClient({**settings.registry_client, "timeout": 15})  # with its credentials and CA


def _produce_and_fetch(settings: Settings, topic: str, records: list[tuple[Any, Any]], key_ser, value_ser) -> list:
    producer = Producer({**settings.kafka_client, "enable.idempotence": True})
    delivered: list = [None] * len(records)  # in produce order: reports arrive in partition order

    def report(index: int):  # type: ignore[no-untyped-def]
        return lambda error, message: delivered.__setitem__(index, error or message)

    for index, (key, value) in enumerate(records):
        producer.produce(
            topic,
            key=key_ser(key, SerializationContext(topic, MessageField.KEY)),
            value=value_ser(value, SerializationContext(topic, MessageField.VALUE)),
            on_delivery=report(index),
        )
    assert producer.flush(15) == 0
    assert all(d is not None and not isinstance(d, Exception) and d.error() is None for d in delivered), delivered
    consumer = Consumer(
        {**settings.kafka_client, "group.id": f"test-{uuid.uuid4()}", "enable.auto.commit": False}
    )
    fetched = []
    try:
        for message in delivered:
            consumer.assign([TopicPartition(topic, message.partition(), message.offset())])
            got = consumer.poll(10)
            assert got is not None and got.error() is None, got
            fetched.append(got)
    finally:
        consumer.close()
    return fetched


@pytest.mark.parametrize("topic_name", TOPICS)
def test_records_serialized_with_the_registered_schema_come_back_equal(
    topic_name: str, manifest: Manifest, settings: Settings, registry_client: SchemaRegistryClient
) -> None:
    topic = next(t for t in manifest.topics if t.name == topic_name)
    key_ser = AvroSerializer(registry_client, topic.key.latest.text, conf=SERIALIZER_CONFIG)
    value_ser = AvroSerializer(registry_client, topic.value.latest.text, conf=SERIALIZER_CONFIG)
    # The TOPIC strategy on the readers too: the default first asks an `associations` endpoint
    # that Apicurio's Confluent API does not have.
    reader_config = {"subject.name.strategy": topic_subject_name_strategy}
    key_de = AvroDeserializer(registry_client, topic.key.latest.text, conf=reader_config)
    value_de = AvroDeserializer(registry_client, topic.value.latest.text, conf=reader_config)
    pairs = st.tuples(from_schema(topic.key.latest.schema), from_schema(topic.value.latest.schema))

    @hypothesis_settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(pairs, min_size=1, max_size=5))
    def round_trip(records: list[tuple[Any, Any]]) -> None:
        fetched = _produce_and_fetch(settings, topic.name, records, key_ser, value_ser)
        for (key, value), message in zip(records, fetched, strict=True):
            assert key_de(message.key(), SerializationContext(topic.name, MessageField.KEY)) == key
            assert value_de(message.value(), SerializationContext(topic.name, MessageField.VALUE)) == value

    round_trip()
