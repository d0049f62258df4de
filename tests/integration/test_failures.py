"""Clear answers when parts are missing: a service without its registry, a dashboard without its broker,
and a dead letter sent back after a fix."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from contracts.records import GENERATE_INVOICE, INVOICE_GENERATED
from messaging.runtime import Runtime
from tests.integration.conftest import TWO_ITEMS, sign_up
from tests.integration.kafka_tools import Tail
from tests.ports import free_port

UNUSED = "127.0.0.1:1"  # nothing listens on port 1


@pytest.mark.parametrize("module", ["services.invoice", "services.score", "services.dashboard"])
def test_a_service_started_without_its_registry_fails_fast_in_one_sentence(module: str) -> None:
    env = {**os.environ, "SCHEMA_REGISTRY_URL": f"http://{UNUSED}/apis/ccompat/v7",
           "HEALTH_PORT": str(free_port()), "DASHBOARD_PORT": str(free_port())}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert time.monotonic() - started < 30
    last = result.stderr.strip().splitlines()[-1]
    assert "cannot start: the schema registry at" in last and "is not reachable" in last


@pytest.fixture
def cut_off_dashboard(tmp_path: Path) -> Iterator[str]:
    """A dashboard whose broker is unreachable (the real registry, its own database and port)."""
    port = free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": UNUSED, "DASHBOARD_PORT": str(port),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'dashboard.sqlite3'}"}
    process = subprocess.Popen([sys.executable, "-m", "services.dashboard"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def test_without_a_broker_the_dashboard_answers_503_quickly_and_shows_it(cut_off_dashboard: str) -> None:
    with httpx.Client(base_url=cut_off_dashboard, timeout=30) as client:
        sign_up(client)
        started = time.monotonic()
        response = client.post("/api/invoices", json=TWO_ITEMS)
        assert response.status_code == 503
        assert time.monotonic() - started < 15  # a clear refusal, not a hang
        assert "not accepted" in response.json()["error"]
        assert response.headers["retry-after"] == "5"
        assert client.get("/api/invoices").json()["invoices"] == []  # nothing half-recorded
        assert client.get("/readyz").status_code == 503
        assert "Kafka is not answering" in client.get("/").text


def test_a_dead_letter_replayed_after_a_fix_is_answered() -> None:
    runtime = Runtime("tests")
    requests = runtime.manifest.topic(GENERATE_INVOICE)
    user = uuid.uuid4()
    # A valid request set aside (say, by a bug since fixed) sits in the dead-letter topic.
    request = {"request_id": uuid.uuid4(), "user_id": user, "requested_at": datetime.now(UTC),
               "customer": {"name": "Ana", "tax_id": "529.982.247-25"},
               "items": [{"description": "Advice", "quantity": Decimal("1.000"), "unit_price": Decimal("100.00")}]}
    key = runtime.codec(requests.key).encode({"user_id": user})
    value = runtime.codec(requests.value).encode(request)
    delivered = []
    runtime.producer.produce(requests.dead_letter_topic, key=key, value=value,
                             headers=[("dlq.source.topic", requests.name.encode()), ("dlq.error.class", b"Bug")],
                             on_delivery=lambda error, message: delivered.append(message))
    assert runtime.producer.flush(10) == 0
    offset = delivered[0].offset()
    replies = Tail(runtime, runtime.manifest.topic(INVOICE_GENERATED).name)
    listed = subprocess.run([sys.executable, "-m", "messaging.deadletters", "list", "--source", requests.name],
                            capture_output=True, text=True, timeout=60)
    assert f"{requests.dead_letter_topic}:0:{offset}" in listed.stdout
    replayed = subprocess.run([sys.executable, "-m", "messaging.deadletters", "replay", "--source", requests.name,
                               "--offset", str(offset)], capture_output=True, text=True, timeout=60)
    assert replayed.returncode == 0 and "replayed 1 record(s)" in replayed.stdout, replayed.stderr
    answered = replies.records(runtime.manifest.topic(INVOICE_GENERATED), lambda r: r["user_id"] == user)
    replies.close()
    runtime.close()
    assert answered and answered[0]["request_id"] == request["request_id"]
    assert answered[0]["status"] == "GENERATED"
