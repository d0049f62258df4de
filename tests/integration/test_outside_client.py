"""An outside integration, written in Go with librdkafka's defaults (tools/outside-client: Confluent's own Avro
serializer, the consistent_random partitioner, no code of this project), writes requests for the same users as our
own producers: every user's invoices are numbered 1..n without a repeat or a gap, and a score it asks for counts every
invoice the user was told of."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.partitioning import partition_for
from contracts.records import CALCULATE_SCORE, GENERATE_INVOICE, INVOICE_GENERATED, SCORE_CALCULATED
from messaging.runtime import Runtime
from tests.integration.kafka_tools import Tail
from tests.integration.test_services_over_kafka import invoice_request, send

REPO = Path(__file__).resolve().parents[2]
BINARY = REPO / ".cache" / "tools" / "outside-client" / "outside-client"


@pytest.fixture(scope="module")
def outside() -> Path:
    """The client, built once from the Go module proxy (`make outside-client`)."""
    built = subprocess.run(["make", "--no-print-directory", "outside-client"], cwd=REPO, capture_output=True, text=True,
                           timeout=900)
    assert built.returncode == 0, built.stdout + built.stderr
    return BINARY


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    runtime = Runtime("tests")
    yield runtime
    runtime.close()


def write(binary: Path, topic: str, user: uuid.UUID, count: int) -> list[dict[str, Any]]:
    """Run the outside client; the records it wrote ({request_id, user_id, partition, offset})."""
    ran = subprocess.run([str(binary), "--topic", topic, "--user", str(user), "--count", str(count)],
                         capture_output=True, text=True, timeout=120, env=os.environ)
    assert ran.returncode == 0, ran.stderr
    return [json.loads(line) for line in ran.stdout.splitlines()]


def test_requests_from_a_go_client_with_librdkafkas_defaults_are_numbered_with_ours(outside: Path, runtime: Runtime) -> None:
    replies = runtime.manifest.topic(INVOICE_GENERATED)
    tail = Tail(runtime, replies.name)
    users = [uuid.uuid4() for _ in range(8)]
    written = []
    for user in users:  # ours and theirs, interleaved
        send(runtime, GENERATE_INVOICE, invoice_request(user))
        written += write(outside, GENERATE_INVOICE.name, user, 2)
        send(runtime, GENERATE_INVOICE, invoice_request(user))
        written += write(outside, GENERATE_INVOICE.name, user, 1)
    got = tail.records(replies, lambda r: r["user_id"] in users, count=8 * 5, timeout=90)
    tail.close()
    key_of = {str(user): runtime.codec(replies.key).encode({"user_id": user}) for user in users}
    elsewhere = [w for w in written if w["partition"] != partition_for(key_of[w["user_id"]], 6)]
    assert elsewhere, "librdkafka's default partitioner put every user where murmur2 does: this proves nothing"
    numbers: dict[str, list[int]] = {}
    for reply in got:
        assert reply["status"] == "GENERATED", reply
        numbers.setdefault(str(reply["user_id"]), []).append(reply["invoice"]["number"])
    assert {user: sorted(found) for user, found in numbers.items()} == {str(u): [1, 2, 3, 4, 5] for u in users}
    assert {w["request_id"] for w in written} <= {str(r["request_id"]) for r in got}


def test_a_score_the_go_client_asks_counts_every_invoice_the_user_was_told_of(outside: Path, runtime: Runtime) -> None:
    invoices, scores = runtime.manifest.topic(INVOICE_GENERATED), runtime.manifest.topic(SCORE_CALCULATED)
    told, answered = Tail(runtime, invoices.name), Tail(runtime, scores.name)
    user = uuid.uuid4()
    write(outside, GENERATE_INVOICE.name, user, 5)
    for _ in range(5):
        send(runtime, GENERATE_INVOICE, invoice_request(user))
    assert len(told.records(invoices, lambda r: r["user_id"] == user, count=10, timeout=60)) == 10
    asked = write(outside, CALCULATE_SCORE.name, user, 1)
    got = answered.records(scores, lambda r: str(r["request_id"]) == asked[0]["request_id"], timeout=60)
    told.close()
    answered.close()
    assert got and got[0]["invoices_considered"] == 10
