"""The wire-format codec, against an in-memory stand-in for the registry (unit level only)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from contracts import load_manifest
from contracts.manifest import SchemaVersion, Subject
from contracts.records import GENERATE_INVOICE, INVOICE_GENERATED
from messaging.serde import Codec, ContractViolation, PoisonRecord, SchemaNotRegistered, WriterSchemas

MANIFEST = load_manifest()
REPLIES = MANIFEST.topic(INVOICE_GENERATED).value
REQUESTS = MANIFEST.topic(GENERATE_INVOICE).value


class FakeRegistry:
    """Ids for schemas by content, like a registry that has been provisioned."""

    def __init__(self) -> None:
        self.by_id: dict[int, str] = {}

    def add(self, text: str) -> int:
        schema_id = len(self.by_id) + 1
        self.by_id[schema_id] = text
        return schema_id

    def lookup(self, subject: str, schema: str) -> int | None:
        return next((i for i, t in self.by_id.items() if json.loads(t) == json.loads(schema)), None)

    def schema_by_id(self, schema_id: int) -> str | None:
        return self.by_id.get(schema_id)


def request() -> dict[str, Any]:
    return {
        "request_id": uuid.uuid4(), "user_id": uuid.uuid4(), "requested_at": datetime(2026, 1, 2, tzinfo=UTC),
        "customer": {"name": "ACME", "tax_id": "11222333000181"},
        "items": [{"description": "Audit", "quantity": Decimal("2.000"), "unit_price": Decimal("10.00")}],
    }


@pytest.fixture
def codec() -> Codec:
    registry = FakeRegistry()
    registry.add(REQUESTS.latest.text)
    return Codec(REQUESTS, REQUESTS.latest, WriterSchemas(registry))  # type: ignore[arg-type]


def test_a_record_round_trips_in_the_confluent_wire_format(codec: Codec) -> None:
    value = request()
    data = codec.encode(value)
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == codec.schema_id
    assert codec.decode(data) == value


def test_an_unregistered_version_fails_with_advice() -> None:
    with pytest.raises(SchemaNotRegistered, match="make provision"):
        Codec(REQUESTS, REQUESTS.latest, WriterSchemas(FakeRegistry()))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r["customer"].update(name=5), "customer.name"),
        (lambda r: r["items"][0].update(quantity=Decimal("1.0001")), "items[0].quantity"),
        (lambda r: r.pop("user_id"), "user_id"),
        (lambda r: r.update(surprise=1), "surprise"),
    ],
)
def test_an_outgoing_record_that_breaks_the_contract_is_refused_naming_the_field(codec: Codec, change, field: str) -> None:
    value = request()
    change(value)
    with pytest.raises(ContractViolation) as refused:
        codec.encode(value)
    assert str(refused.value).startswith(f"generate-invoice-value v{codec.version}: {field}: ")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"plain text", "is not in the Confluent wire format: it starts with byte 0x70"),
        (b"\x00\x00", "is 2 bytes, too short for the Confluent wire format"),
        (b"\x00\x00\x00\x00\x63abc", "names schema id 99, which the registry does not have"),
        (None, "is missing"),
    ],
)
def test_unreadable_bytes_are_poison_with_a_reason(codec: Codec, data: bytes | None, reason: str) -> None:
    with pytest.raises(PoisonRecord, match=reason):
        codec.decode(data)


def test_truncated_or_padded_bodies_are_poison(codec: Codec) -> None:
    data = codec.encode(request())
    with pytest.raises(PoisonRecord, match="does not match schema id"):
        codec.decode(data[:-3])
    with pytest.raises(PoisonRecord, match="left over"):
        codec.decode(data + b"\x00")


def test_a_reader_resolves_an_older_writer_with_defaults() -> None:
    old = {"type": "record", "name": "Thing", "doc": "d", "fields": [{"name": "a", "type": "int", "doc": "d"}]}
    new = {**old, "fields": [*old["fields"], {"name": "b", "type": "string", "default": "none", "doc": "d"}]}
    registry = FakeRegistry()
    registry.add(json.dumps(old))
    registry.add(json.dumps(new))
    versions = (SchemaVersion(1, Path("v1.avsc"), json.dumps(old)), SchemaVersion(2, Path("v2.avsc"), json.dumps(new)))
    subject = Subject("things-value", "thing", "FULL", versions)
    writers = WriterSchemas(registry)  # type: ignore[arg-type]
    written = Codec(subject, subject.versions[0], writers).encode({"a": 7})
    assert Codec(subject, subject.versions[1], writers).decode(written) == {"a": 7, "b": "none"}
