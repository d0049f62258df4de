"""Our Codec and Confluent's Avro serde speak the same wire format, byte for byte (unit level only).

For every contract schema (the latest value version of each topic), against confluent-kafka's in-memory
mock registry and an in-memory stand-in for ours, seeded with the id the mock assigned:

- what our Codec writes, Confluent's AvroDeserializer reads back unchanged;
- what Confluent's AvroSerializer writes, our Codec reads back unchanged;
- under the same schema id, both write exactly the same bytes.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, topic_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import load_manifest
from messaging.serde import Codec, WriterSchemas
from tests.contract.strategies import from_schema
from tests.unit.messaging.test_serde import FakeRegistry

MANIFEST = load_manifest()
TOPICS = {topic.value.family: topic for topic in MANIFEST.topics}
FAMILIES = list(TOPICS)
EXAMPLES = settings(max_examples=50, deadline=None)


class Wire:
    """One contract schema, registered once in a mock registry; our Codec and Confluent's serde use its id."""

    def __init__(self, family: str) -> None:
        topic = TOPICS[family]
        subject, version = topic.value, topic.value.latest
        client = SchemaRegistryClient.new_client({"url": f"mock://wire-compat-{family}"})
        # Registered as Confluent's serializer will present it (it strips the text), so its lookup finds it.
        self.schema_id = client.register_schema(subject.name, Schema(version.text.strip(), "AVRO"))
        registry = FakeRegistry()
        registry.by_id[self.schema_id] = version.text  # the same id as the mock's
        self.codec = Codec(subject, version, WriterSchemas(registry))  # type: ignore[arg-type]
        self.context = SerializationContext(topic.name, MessageField.VALUE)
        strategy = {"subject.name.strategy": topic_subject_name_strategy}
        self._serializer = AvroSerializer(
            client, version.text, conf={**strategy, "auto.register.schemas": False}  # the id registered above
        )
        self._deserializer = AvroDeserializer(client, conf=strategy)  # the writer's schema, fetched by id
        self.values = from_schema(version.schema)

    def confluent_serialize(self, value: Any) -> bytes:
        data = self._serializer(value, self.context)
        assert data is not None
        return data

    def confluent_deserialize(self, data: bytes) -> Any:
        return self._deserializer(data, self.context)


@cache
def wire(family: str) -> Wire:
    return Wire(family)


def test_every_value_schema_of_the_manifest_is_covered() -> None:
    assert sorted(FAMILIES) == ["invoice_reply", "invoice_request", "invoice_state", "score_reply", "score_request",
                                "score_state"]
    for family in FAMILIES:
        assert wire(family).codec.schema_id == wire(family).schema_id


@pytest.mark.parametrize("family", FAMILIES)
@EXAMPLES
@given(data=st.data())
def test_what_we_write_confluent_reads(family: str, data: st.DataObject) -> None:
    case = wire(family)
    value = data.draw(case.values, label="value")
    assert case.confluent_deserialize(case.codec.encode(value)) == value


@pytest.mark.parametrize("family", FAMILIES)
@EXAMPLES
@given(data=st.data())
def test_what_confluent_writes_we_read(family: str, data: st.DataObject) -> None:
    case = wire(family)
    value = data.draw(case.values, label="value")
    assert case.codec.decode(case.confluent_serialize(value)) == value


@pytest.mark.parametrize("family", FAMILIES)
@EXAMPLES
@given(data=st.data())
def test_under_the_same_schema_id_the_bytes_are_identical(family: str, data: st.DataObject) -> None:
    case = wire(family)
    value = data.draw(case.values, label="value")
    ours = case.codec.encode(value)
    assert ours[:5] == b"\x00" + case.schema_id.to_bytes(4, "big")
    assert ours == case.confluent_serialize(value)
