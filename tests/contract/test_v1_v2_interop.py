"""invoice_reply v2 (the invoice's verification_code) and v1 interoperate both ways, as FULL_TRANSITIVE promises.

A service "still on v1" is a runtime pinned with CONTRACT_VERSIONS=invoice_reply=1: it writes v1 under
v1's schema id and reads everything as v1. The records go through the real broker and registry.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from contracts.records import INVOICE_GENERATED
from messaging.records import Outgoing
from messaging.runtime import Runtime
from messaging.serde import ContractViolation
from messaging.settings import Settings
from tests.integration.kafka_tools import Tail


def reply(user_id: uuid.UUID, **invoice_extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    invoice = {
        "number": 1, "issued_at": now, "customer": {"name": "ACME", "tax_id": "11222333000181"},
        "lines": [{"description": "Audit", "quantity": Decimal("1.000"), "unit_price": Decimal("10.00"),
                   "total": Decimal("10.00")}],
        "subtotal": Decimal("10.00"), "iss_rate": Decimal("0.0500"), "iss_amount": Decimal("0.50"), "total": Decimal("10.50"),
        **invoice_extra,
    }
    return {"request_id": uuid.uuid4(), "user_id": user_id, "status": "GENERATED", "invoice": invoice,
            "rejection_reasons": [], "processed_at": now}


@pytest.fixture(scope="module")
def on_v1() -> Iterator[Runtime]:
    base = Settings.from_env()
    runtime = Runtime("tests-v1", dataclasses.replace(base, contract_versions={"invoice_reply": 1}))
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def on_v2() -> Iterator[Runtime]:
    runtime = Runtime("tests-v2")
    yield runtime
    runtime.close()


def _through_kafka(producer: Runtime, consumer: Runtime, value: dict[str, Any]) -> tuple[int, Any]:
    topic = producer.manifest.topic(INVOICE_GENERATED)
    tail = Tail(consumer, topic.name)
    producer.produce(Outgoing(topic, {"user_id": value["user_id"]}, value))
    assert producer.producer.flush(10) == 0
    messages = tail.messages(lambda m: consumer.codec(topic.value).decode(m.value())["request_id"] == value["request_id"])
    tail.close()
    assert messages, "the record did not come through"
    data = messages[0].value()
    return int.from_bytes(data[1:5], "big"), consumer.codec(topic.value).decode(data)


def test_the_two_versions_are_registered_under_different_ids(on_v1: Runtime, on_v2: Runtime) -> None:
    subject = on_v2.manifest.topic(INVOICE_GENERATED).value
    assert (on_v1.codec(subject).version, on_v2.codec(subject).version) == (1, 2)
    assert on_v1.codec(subject).schema_id != on_v2.codec(subject).schema_id


def test_a_v2_reader_reads_what_a_v1_writer_wrote_with_the_default(on_v1: Runtime, on_v2: Runtime) -> None:
    written = reply(uuid.uuid4())
    schema_id, read = _through_kafka(on_v1, on_v2, written)
    assert schema_id == on_v1.codec(on_v1.manifest.topic(INVOICE_GENERATED).value).schema_id
    assert read["invoice"].pop("verification_code") is None  # filled from v2's default
    assert read == written


def test_a_v1_reader_reads_what_a_v2_writer_wrote_without_the_new_field(on_v1: Runtime, on_v2: Runtime) -> None:
    written = reply(uuid.uuid4(), verification_code="AB12-CD34")
    schema_id, read = _through_kafka(on_v2, on_v1, written)
    assert schema_id == on_v2.codec(on_v2.manifest.topic(INVOICE_GENERATED).value).schema_id
    assert "verification_code" not in read["invoice"]
    written["invoice"].pop("verification_code")
    assert read == written


def test_a_v1_writer_cannot_send_the_v2_field(on_v1: Runtime) -> None:
    subject = on_v1.manifest.topic(INVOICE_GENERATED).value
    with pytest.raises(ContractViolation, match="invoice.verification_code: not a field of Invoice"):
        on_v1.codec(subject).encode(reply(uuid.uuid4(), verification_code="AB12-CD34"))
