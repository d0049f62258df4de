"""Idempotency with the right scope, records that must not stop a worker, and a score that counts what
was announced: through the real broker, registry and services."""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from contracts.records import CALCULATE_SCORE, GENERATE_INVOICE, INVOICE_GENERATED, SCORE_CALCULATED
from messaging.records import Outgoing
from messaging.runtime import Runtime
from messaging.serde import ContractViolation
from tests.integration.kafka_tools import Tail, unchecked_bytes
from tests.integration.test_services_over_kafka import invoice_request, send


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    runtime = Runtime("tests")
    yield runtime
    runtime.close()


def produce_raw(runtime: Runtime, topic: str, key: bytes | None, value: bytes | None) -> int:
    delivered: list[Any] = []
    runtime.producer.produce(topic, key=key, value=value, on_delivery=lambda error, m: delivered.append((error, m)))
    assert runtime.producer.flush(30) == 0
    error, message = delivered[0]
    assert error is None, error
    return int(message.offset())


def test_a_request_id_reused_with_other_content_is_refused_and_takes_no_number(runtime: Runtime) -> None:
    replies = runtime.manifest.topic(INVOICE_GENERATED)
    tail = Tail(runtime, replies.name)
    user, reused = uuid.uuid4(), uuid.uuid4()
    first = invoice_request(user, reused)
    other = {**first, "items": [{**first["items"][0], "unit_price": Decimal("999.00")}]}
    send(runtime, GENERATE_INVOICE, first)
    send(runtime, GENERATE_INVOICE, other)
    send(runtime, GENERATE_INVOICE, first)  # the first again, as a retry: the same answer
    send(runtime, GENERATE_INVOICE, invoice_request(user))
    got = tail.records(replies, lambda r: r["user_id"] == user, count=4)
    tail.close()
    assert [r["status"] for r in got] == ["GENERATED", "REJECTED", "GENERATED", "GENERATED"]
    assert "already used by this user for a request with other content" in got[1]["rejection_reasons"][0]["message"]
    assert got[2] == got[0]  # identical, processed_at included
    assert [r["invoice"]["number"] for r in (got[0], got[3])] == [1, 2]  # the refusal took no number


def test_one_users_request_ids_never_touch_another_users_counter(runtime: Runtime) -> None:
    replies = runtime.manifest.topic(INVOICE_GENERATED)
    tail = Tail(runtime, replies.name)
    ana, bia, shared = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    send(runtime, GENERATE_INVOICE, invoice_request(ana, shared))
    send(runtime, GENERATE_INVOICE, invoice_request(bia, shared))  # the same request_id, another user
    send(runtime, GENERATE_INVOICE, invoice_request(bia))
    got = tail.records(replies, lambda r: r["user_id"] in (ana, bia), count=3)
    tail.close()
    numbers = sorted((str(r["user_id"]) == str(bia), r["invoice"]["number"]) for r in got)
    assert numbers == [(False, 1), (True, 1), (True, 2)]


def test_a_key_naming_another_user_is_refused_naming_both(runtime: Runtime) -> None:
    requests, replies = runtime.manifest.topic(GENERATE_INVOICE), runtime.manifest.topic(INVOICE_GENERATED)
    tail = Tail(runtime, replies.name)
    owner, intruder = uuid.uuid4(), uuid.uuid4()
    misrouted = invoice_request(owner)
    runtime.produce(Outgoing(requests, {"user_id": intruder}, misrouted))  # lands in the intruder's partition
    assert runtime.producer.flush(10) == 0
    send(runtime, GENERATE_INVOICE, invoice_request(owner))
    got = {r["request_id"]: r for r in tail.records(replies, lambda r: r["user_id"] == owner, count=2)}
    tail.close()
    refused = got.pop(misrouted["request_id"])
    assert refused["status"] == "REJECTED" and refused["invoice"] is None
    reason = refused["rejection_reasons"][0]
    assert reason["field"] == "key" and str(intruder) in reason["message"] and str(owner) in reason["message"]
    assert [r["invoice"]["number"] for r in got.values()] == [1]  # the refused one took no number


def test_a_request_with_an_unreadable_key_but_a_readable_value_gets_a_rejection(runtime: Runtime) -> None:
    requests, replies = runtime.manifest.topic(GENERATE_INVOICE), runtime.manifest.topic(INVOICE_GENERATED)
    tail = Tail(runtime, replies.name)
    user = uuid.uuid4()
    produce_raw(runtime, requests.name, str(user).encode(), runtime.codec(requests.value).encode(invoice_request(user)))
    got = tail.records(replies, lambda r: r["user_id"] == user)
    tail.close()
    reason = got[0]["rejection_reasons"][0]
    assert reason["field"] == "key"
    assert "the key is not in the Confluent wire format" in reason["message"]


def test_a_request_breaking_the_schemas_constraints_is_refused_by_our_producer_and_by_the_generator(
    runtime: Runtime,
) -> None:
    # A producer that skips the check (not one of ours: Codec.encode refuses it) can still send it; the generator
    # rejects it with every reason, at most 20 listed.
    requests, replies = runtime.manifest.topic(GENERATE_INVOICE), runtime.manifest.topic(INVOICE_GENERATED)
    tail = Tail(runtime, replies.name)
    user = uuid.uuid4()
    bad = invoice_request(user)
    bad["customer"] = {"name": " ", "tax_id": "x#"}
    bad["items"] = [{"description": "", "quantity": Decimal("0"), "unit_price": Decimal("-1")}] * 50
    too_many = {**invoice_request(user), "items": invoice_request(user)["items"] * 5000}
    with pytest.raises(ContractViolation, match=r"generate-invoice-value v\d+: customer.tax_id: must be digits"):
        send(runtime, GENERATE_INVOICE, bad)
    key = runtime.codec(requests.key).encode({"user_id": user})
    for record in (bad, too_many):
        produce_raw(runtime, requests.name, key, unchecked_bytes(runtime, requests.value, record))
    send(runtime, GENERATE_INVOICE, invoice_request(user))  # and the generator goes on
    got = tail.records(replies, lambda r: r["user_id"] == user, count=3)
    tail.close()
    assert got[0]["status"] == "REJECTED" and len(got[0]["rejection_reasons"]) == 21
    assert got[0]["rejection_reasons"][:2] == [
        {"field": "customer.name", "message": "must not be blank"},
        {"field": "customer.tax_id", "message": "must be digits, letters, dots, slashes, dashes and spaces (found U+0023)"},
    ]
    assert got[0]["rejection_reasons"][-1] == {"field": "request", "message": "and 132 more problems not listed"}
    assert got[1]["rejection_reasons"] == [{"field": "items", "message": "must have at most 50 items (got 5000)"}]
    assert got[2]["status"] == "GENERATED"


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("user", None, "the value is missing (null, as in a tombstone)"),
        (None, b"not avro", "the value is not in the Confluent wire format: it starts with byte 0x6e"),
        (b"k", struct.pack(">bI", 0, 2_000_000_000) + b"x",
         "the value names schema id 2000000000, which the registry does not have"),
        ("user", "score", "the value was written with schema id"),
    ],
    ids=["tombstone", "not-framed", "unknown-id", "other-subject"],
)
def test_unreadable_records_are_dead_lettered_in_one_sentence_and_the_worker_goes_on(
    runtime: Runtime, key: Any, value: Any, reason: str
) -> None:
    requests, replies = runtime.manifest.topic(GENERATE_INVOICE), runtime.manifest.topic(INVOICE_GENERATED)
    assert requests.dead_letter_topic is not None
    dead, answers = Tail(runtime, requests.dead_letter_topic), Tail(runtime, replies.name)
    user = uuid.uuid4()
    if key == "user":
        key = runtime.codec(requests.key).encode({"user_id": user})
    if value == "score":  # a record of another subject, on this topic
        score_topic = runtime.manifest.topic(CALCULATE_SCORE)
        value = runtime.codec(score_topic.value).encode({"request_id": uuid.uuid4(), "user_id": user,
                                                         "requested_at": invoice_request(user)["requested_at"]})
    offset = produce_raw(runtime, requests.name, key, value)
    send(runtime, GENERATE_INVOICE, invoice_request(user))
    lettered = dead.messages(lambda m: dict(m.headers() or []).get("dlq.source.offset") == str(offset).encode())
    answered = answers.records(replies, lambda r: r["user_id"] == user)
    dead.close()
    answers.close()
    assert lettered, "not dead-lettered"
    message = dict(lettered[0].headers())["dlq.error.message"].decode()
    assert message.startswith(reason), message
    assert "{" not in message  # no schema dump
    assert answered and answered[0]["status"] == "GENERATED"


def test_a_record_too_large_to_carry_beside_its_reason_keeps_its_coordinates(runtime: Runtime) -> None:
    requests, replies = runtime.manifest.topic(GENERATE_INVOICE), runtime.manifest.topic(INVOICE_GENERATED)
    assert requests.dead_letter_topic is not None
    dead, answers = Tail(runtime, requests.dead_letter_topic), Tail(runtime, replies.name)
    user = uuid.uuid4()
    almost_a_megabyte = b"\x01" * 999_000  # undecodable, and just under what the broker takes
    offset = produce_raw(runtime, requests.name, b"k", almost_a_megabyte)
    send(runtime, GENERATE_INVOICE, invoice_request(user))
    lettered = dead.messages(lambda m: dict(m.headers() or []).get("dlq.source.offset") == str(offset).encode())
    answered = answers.records(replies, lambda r: r["user_id"] == user)
    dead.close()
    answers.close()
    headers = dict(lettered[0].headers())
    assert lettered[0].value() is None and "dlq.original.omitted" in headers
    assert headers["dlq.source.bytes"] == b"999001"
    assert answered and answered[0]["status"] == "GENERATED"


def test_a_score_asked_after_invoices_were_announced_counts_every_one(runtime: Runtime) -> None:
    invoice_replies, score_replies = runtime.manifest.topic(INVOICE_GENERATED), runtime.manifest.topic(SCORE_CALCULATED)
    users = [uuid.uuid4() for _ in range(5)]
    announced, scores = Tail(runtime, invoice_replies.name), Tail(runtime, score_replies.name)
    for _ in range(20):
        for user in users:
            runtime.produce(Outgoing(runtime.manifest.topic(GENERATE_INVOICE), {"user_id": user},
                                     invoice_request(user)))
    assert runtime.producer.flush(30) == 0
    told = announced.records(invoice_replies, lambda r: r["user_id"] in users, count=100)
    assert len(told) == 100
    newest = {r["user_id"]: r for r in told}  # each user's last reply, in the order they were told
    for user in users:  # asked the moment the last invoice was seen, as a person would
        send(runtime, CALCULATE_SCORE, {"request_id": uuid.uuid4(), "user_id": user,
                                        "requested_at": told[-1]["processed_at"]})
    got = scores.records(score_replies, lambda r: r["user_id"] in users, count=5)
    announced.close()
    scores.close()
    assert sorted(r["invoices_considered"] for r in got) == [20] * 5
    for reply in got:
        counted = reply["newest_counted"]
        assert counted["request_id"] == newest[reply["user_id"]]["request_id"]
        assert counted["number"] == 20
