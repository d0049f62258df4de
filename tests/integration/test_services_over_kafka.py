"""The services straight over Kafka: idempotency, poison records, and a history that never counts twice."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from contracts.bindings import Binding
from contracts.records import CALCULATE_SCORE, GENERATE_INVOICE, INVOICE_GENERATED, SCORE_CALCULATED
from messaging.records import Outgoing
from messaging.runtime import Runtime
from tests.integration.kafka_tools import Tail


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    runtime = Runtime("tests")
    yield runtime
    runtime.close()


def invoice_request(user_id: uuid.UUID, request_id: uuid.UUID | None = None) -> dict[str, Any]:
    return {
        "request_id": request_id or uuid.uuid4(),
        "user_id": user_id,
        "requested_at": datetime.now(UTC),
        "customer": {"name": "Oficina do Zé", "tax_id": "529.982.247-25"},
        "items": [{"description": "Tax filing", "quantity": Decimal("1.000"), "unit_price": Decimal("300.00")}],
    }


def send(runtime: Runtime, binding: Binding[Any, Any], value: dict[str, Any]) -> None:
    runtime.produce(Outgoing(runtime.manifest.topic(binding), {"user_id": value["user_id"]}, value))
    assert runtime.producer.flush(10) == 0


def test_a_repeated_request_gets_the_same_invoice_and_consumes_no_number(runtime: Runtime) -> None:
    replies = runtime.manifest.topic(INVOICE_GENERATED)
    tail = Tail(runtime, replies.name)
    user, repeated = uuid.uuid4(), uuid.uuid4()
    send(runtime, GENERATE_INVOICE, invoice_request(user, repeated))
    send(runtime, GENERATE_INVOICE, invoice_request(user, repeated))
    send(runtime, GENERATE_INVOICE, invoice_request(user))
    got = tail.records(replies, lambda r: r["user_id"] == user, count=3)
    tail.close()
    assert len(got) == 3
    by_request = [(r["request_id"], r["invoice"]["number"], r["invoice"]["issued_at"]) for r in got]
    assert by_request[0] == by_request[1]  # the very same invoice, twice
    assert [number for _, number, _ in by_request] == [1, 1, 2]  # and the next number follows without a gap


def test_a_poison_record_is_dead_lettered_with_its_reason_and_the_consumer_moves_on(runtime: Runtime) -> None:
    requests = runtime.manifest.topic(GENERATE_INVOICE)
    dead = Tail(runtime, requests.dead_letter_topic)
    replies = Tail(runtime, runtime.manifest.topic(INVOICE_GENERATED).name)
    poison = b"definitely not avro " + uuid.uuid4().bytes
    runtime.producer.produce(requests.name, key=b"k", value=poison, headers={"trace": b"1"})
    user = uuid.uuid4()
    send(runtime, GENERATE_INVOICE, invoice_request(user))
    lettered = dead.messages(lambda m: m.value() == poison)
    answered = replies.records(runtime.manifest.topic(INVOICE_GENERATED), lambda r: r["user_id"] == user)
    dead.close()
    replies.close()
    assert lettered, "the poison record did not reach the dead-letter topic"
    headers = dict(lettered[0].headers())
    assert headers["dlq.source.topic"] == requests.name.encode()
    assert headers["dlq.error.class"] == b"PoisonRecord"
    assert b"wire format" in headers["dlq.error.message"]
    assert headers["dlq.service"] == b"invoice"
    assert headers["trace"] == b"1"  # the original headers travel along
    assert answered and answered[0]["status"] == "GENERATED"


def test_the_score_history_never_counts_a_reply_twice(runtime: Runtime) -> None:
    invoices = runtime.manifest.topic(INVOICE_GENERATED)
    user = uuid.uuid4()
    now = datetime.now(UTC)
    reply = {
        "request_id": uuid.uuid4(), "user_id": user, "status": "REJECTED", "invoice": None,
        "rejection_reasons": [{"field": "customer.tax_id", "message": "bad"}], "processed_at": now,
    }
    for _ in range(3):  # as if redelivered after crashes
        runtime.produce(Outgoing(invoices, {"user_id": user}, reply))
    assert runtime.producer.flush(10) == 0
    scores = runtime.manifest.topic(SCORE_CALCULATED)
    tail = Tail(runtime, scores.name)
    # The history consumer runs in its own group, so give it a moment before asking.
    for _ in range(50):
        send(runtime, CALCULATE_SCORE, {"request_id": uuid.uuid4(), "user_id": user, "requested_at": now})
        got = tail.records(scores, lambda r: r["user_id"] == user, timeout=10)
        if got and got[0]["invoices_considered"] > 0:
            break
    tail.close()
    assert got[0]["invoices_considered"] == 1
    assert got[0]["factors"][3]["points"] == 0  # one request, rejected: 0 of 150 for acceptance
