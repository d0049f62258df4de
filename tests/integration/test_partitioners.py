"""Correct whatever partitioner a producer uses (contracts/partitioning.py): one user's requests written by clients
with Java's murmur2 (ours), librdkafka's default consistent_random, random, and an explicit wrong partition, are
numbered 1..n without a repeat or a gap, also when the generator is killed mid-batch; a score asked after the user was
told of their invoices counts every one, wherever it was written; a misplaced record is forwarded once, counted, and
set aside if it is still misplaced after that."""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from chaos.faults import kill
from contracts.headers import DEAD_LETTER, FORWARDED
from contracts.partitioning import partition_for
from contracts.records import CALCULATE_SCORE, GENERATE_INVOICE, INVOICE_GENERATED, SCORE_CALCULATED
from messaging.offsets import end_offsets, headers_of
from messaging.runtime import Runtime
from stack import supervision
from tests.integration.kafka_tools import Tail
from tests.integration.test_services_over_kafka import invoice_request

WRONG = "a wrong partition, chosen by hand"
PARTITIONERS = ["murmur2_random", "consistent_random", "random", WRONG]
PARTITIONS = 6


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    runtime = Runtime("tests")
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def clients(runtime: Runtime) -> dict[str, Producer]:
    """A producer per partitioner; the last writes to a partition it is told."""
    made = {}
    for name in PARTITIONERS:
        config: dict[str, Any] = {**runtime.settings.kafka_client, "enable.idempotence": True, "acks": "all"}
        if name != WRONG:
            config["partitioner"] = name
        made[name] = Producer(config)
    return made


def write(runtime: Runtime, clients: dict[str, Producer], how: str, binding: Any, user: uuid.UUID, value: Any) -> int:
    """Write one request as a client with partitioner `how` would; the partition it landed on."""
    topic = runtime.manifest.topic(binding)
    key = runtime.codec(topic.key).encode({"user_id": user})
    body = runtime.codec(topic.value).encode(value)
    landed: list[int] = []
    extra = {"partition": (partition_for(key, PARTITIONS) + 1) % PARTITIONS} if how == WRONG else {}
    clients[how].produce(topic.name, key=key, value=body, headers=[("client.id", f"partitioner {how}".encode())],
                         on_delivery=lambda error, m: landed.append(-1 if error else m.partition()), **extra)
    assert clients[how].flush(30) == 0 and landed[0] >= 0
    return landed[0]


def score_request(user: uuid.UUID) -> dict[str, Any]:
    return {"request_id": uuid.uuid4(), "user_id": user, "requested_at": datetime.now(UTC)}


def numbers_by_user(replies: list[Any]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = defaultdict(list)
    for reply in replies:
        assert reply["status"] == "GENERATED", reply
        found[str(reply["user_id"])].append(reply["invoice"]["number"])
    return {user: sorted(numbers) for user, numbers in found.items()}


def forwarded_count(client_id: str) -> float:
    """records_forwarded_total of the invoice generator for generate-invoice records of that client."""
    metrics = httpx.get("http://127.0.0.1:8101/metrics", timeout=5).text
    pattern = rf'records_forwarded_total{{client_id="{re.escape(client_id)}",service="invoice",topic="generate-invoice"}} (\S+)'
    found = re.search(pattern, metrics)
    return float(found.group(1)) if found else 0.0


def test_one_users_requests_from_clients_with_every_partitioner_are_numbered_without_a_repeat_or_a_gap(
    runtime: Runtime, clients: dict[str, Producer],
) -> None:
    replies = runtime.manifest.topic(INVOICE_GENERATED)
    tail = Tail(runtime, replies.name)
    users = [uuid.uuid4() for _ in range(8)]
    key_of = {user: runtime.codec(replies.key).encode({"user_id": user}) for user in users}
    wrong_before = forwarded_count(f"partitioner {WRONG}")
    misplaced = 0
    for index, how in zip(range(64), itertools.cycle(PARTITIONERS), strict=False):
        user = users[index % len(users)]
        landed = write(runtime, clients, how, GENERATE_INVOICE, user, invoice_request(user))
        misplaced += landed != partition_for(key_of[user], PARTITIONS)
    got = tail.records(replies, lambda r: r["user_id"] in users, count=64, timeout=60)
    tail.close()
    assert misplaced >= 16  # at least the hand-placed ones: the test must put users off their partition
    assert numbers_by_user(got) == {str(user): list(range(1, 9)) for user in users}
    assert forwarded_count(f"partitioner {WRONG}") - wrong_before == 16


def test_a_score_asked_with_another_partitioner_counts_every_invoice_the_user_was_told_of(
    runtime: Runtime, clients: dict[str, Producer],
) -> None:
    invoices, scores = runtime.manifest.topic(INVOICE_GENERATED), runtime.manifest.topic(SCORE_CALCULATED)
    told, answered = Tail(runtime, invoices.name), Tail(runtime, scores.name)
    user = uuid.uuid4()
    for how in itertools.islice(itertools.cycle(PARTITIONERS), 12):
        write(runtime, clients, how, GENERATE_INVOICE, user, invoice_request(user))
    assert len(told.records(invoices, lambda r: r["user_id"] == user, count=12, timeout=60)) == 12
    for how in PARTITIONERS:  # asked once the user was told of every invoice
        write(runtime, clients, how, CALCULATE_SCORE, user, score_request(user))
    got = answered.records(scores, lambda r: r["user_id"] == user, count=len(PARTITIONERS), timeout=60)
    told.close()
    answered.close()
    assert [reply["invoices_considered"] for reply in got] == [12] * len(PARTITIONERS)


def test_a_record_still_off_its_partition_after_one_forward_is_set_aside_with_the_reason(runtime: Runtime) -> None:
    requests = runtime.manifest.topic(GENERATE_INVOICE)
    dead = Tail(runtime, str(requests.dead_letter_topic))
    user = uuid.uuid4()
    key = runtime.codec(requests.key).encode({"user_id": user})
    wrong = (partition_for(key, PARTITIONS) + 3) % PARTITIONS
    runtime.producer.produce(requests.name, key=key, value=runtime.codec(requests.value).encode(invoice_request(user)),
                             partition=wrong, headers=[(FORWARDED.FROM.name, b"generate-invoice:0:0")])
    assert runtime.producer.flush(30) == 0
    letters = dead.messages(lambda m: m.key() == key, timeout=30)
    dead.close()
    reason = dict(headers_of(letters[0]))[DEAD_LETTER.ERROR_MESSAGE.name]
    assert isinstance(reason, bytes) and reason.decode().startswith(
        f"is on partition {wrong} but its key belongs to partition {partition_for(key, PARTITIONS)}, although it was"
        " forwarded there once (from generate-invoice:0:0)")


def test_a_forwarded_record_is_written_once_to_its_keys_partition_with_where_it_came_from(
    runtime: Runtime, clients: dict[str, Producer],
) -> None:
    requests = runtime.manifest.topic(GENERATE_INVOICE)
    reader = Consumer({**runtime.settings.kafka_client, "group.id": f"test-{uuid.uuid4()}",
                       "isolation.level": "read_committed", "enable.auto.commit": False})
    user = uuid.uuid4()
    key = runtime.codec(requests.key).encode({"user_id": user})
    owner = partition_for(key, PARTITIONS)
    reader.assign([TopicPartition(requests.name, owner, end_offsets(reader, requests.name)[owner])])
    landed = write(runtime, clients, WRONG, GENERATE_INVOICE, user, invoice_request(user))
    found = []
    deadline = time.monotonic() + 30
    while not found and time.monotonic() < deadline:
        message = reader.poll(0.5)
        if message is not None and message.error() is None and message.key() == key:
            found.append(message)
    reader.close()
    headers = dict(headers_of(found[0]))
    assert headers[FORWARDED.BY.name] == b"invoice" and headers["client.id"] == f"partitioner {WRONG}".encode()
    source, partition, _ = headers[FORWARDED.FROM.name].decode().split(":")  # type: ignore[union-attr]
    assert (source, int(partition)) == (requests.name, landed)


def test_numbers_stay_whole_when_the_generator_is_killed_in_the_middle_of_mixed_writes(
    runtime: Runtime, clients: dict[str, Producer],
) -> None:
    replies = runtime.manifest.topic(INVOICE_GENERATED)
    tail = Tail(runtime, replies.name)
    users = [uuid.uuid4() for _ in range(4)]
    restarts = supervision.status("invoice").restarts
    for index, how in zip(range(200), itertools.cycle(PARTITIONERS), strict=False):
        write(runtime, clients, how, GENERATE_INVOICE, users[index % 4], invoice_request(users[index % 4]))
        if index == 60:
            kill("invoice")
    got = tail.records(replies, lambda r: r["user_id"] in users, count=200, timeout=120)
    tail.close()
    assert supervision.status("invoice").restarts > restarts
    assert len({str(r["request_id"]) for r in got}) == 200
    assert numbers_by_user(got) == {str(user): list(range(1, 51)) for user in users}
