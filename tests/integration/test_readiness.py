"""No component goes deaf and calls itself ready: when a Kafka client of a service cannot work, /readyz answers 503
naming the client, why and since when, and the service recovers by itself and is answered again.

Faults: a second member joining under the service's group.instance.id (the broker fences the service's consumer, for
good: a new consumer must rejoin), a revoked right on its consumer group (until provisioning grants it again), and
the broker killed and restarted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from chaos.faults import kill
from chaos.intruders import intrude
from contracts import Manifest
from messaging.settings import Settings
from stack import broker
from tests.integration.conftest import TWO_ITEMS, wait_for_answer

READYZ = {"invoice": "http://127.0.0.1:8101/readyz", "score": "http://127.0.0.1:8102/readyz",
          "dashboard": f"{os.environ.get('DASHBOARD_URL', 'http://127.0.0.1:8000')}/readyz"}
RECOVERY_SECONDS = 90


def readiness(service: str) -> tuple[int, list[dict[str, Any]]]:
    """(status, the clients that are not ready) as the service's /readyz says; (0, []) when it does not answer."""
    try:
        answer = httpx.get(READYZ[service], timeout=3)
    except httpx.HTTPError:
        return 0, []
    return answer.status_code, [c for c in answer.json()["clients"] if not c["ready"]]


def await_ready(service: str, seconds: float = RECOVERY_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while (seen := readiness(service))[0] != 200:
        assert time.monotonic() < deadline, f"{service} still not ready after {seconds:.0f} s: {seen}"
        time.sleep(0.5)


def watch(service: str, until: threading.Event) -> list[tuple[int, list[dict[str, Any]]]]:
    """Every answer of /readyz until `until` is set (every 100 ms, on this thread)."""
    seen = []
    while not until.is_set():
        seen.append(readiness(service))
        time.sleep(0.1)
    return seen


def answered(client: httpx.Client, service: str) -> None:
    """A request the service takes part in gets its answer (through the dashboard)."""
    if service == "score":
        sent = client.post("/api/scores", json={})
        assert sent.status_code == 202, sent.text
        view = wait_for_answer(client, f"/api/scores/{sent.json()['request_id']}", timeout=60)
        assert view["status"] == "calculated"
    else:
        sent = client.post("/api/invoices", json=TWO_ITEMS)
        assert sent.status_code == 202, sent.text
        view = wait_for_answer(client, f"/api/invoices/{sent.json()['request_id']}", timeout=60)
        assert view["status"] == "generated"


@pytest.mark.parametrize("service", ["invoice", "score", "dashboard"])
def test_a_consumer_fenced_by_a_member_with_its_instance_id_is_replaced_and_readiness_says_so(
    service: str, manifest: Manifest, settings: Settings, client: httpx.Client,
) -> None:
    await_ready(service)
    group = manifest.consumer_groups[service]
    topics = [topic.name for topic in manifest.topics if service in topic.consumers]
    done = threading.Event()
    seen: list[tuple[int, list[dict[str, Any]]]] = []
    watcher = threading.Thread(target=lambda: seen.extend(watch(service, done)))
    watcher.start()
    try:
        taken = intrude(settings.kafka_client, group, topics, seconds=10)
    finally:
        done.set()
        watcher.join()
    assert taken.startswith(f"{group}/")
    reasons = [c for status, clients in seen if status == 503 for c in clients]
    assert any(c["client"] == f"consumer of group {group}" and "fenced" in c["reason"] and c["since"] for c in reasons), seen
    await_ready(service)
    answered(client, service)


def test_a_revoked_right_makes_a_worker_unready_until_it_is_granted_again(
    settings: Settings, client: httpx.Client,
) -> None:
    await_ready("invoice")
    admin = AdminClient({**settings.kafka_client})
    right = AclBindingFilter(ResourceType.GROUP, "invoice-generator", ResourcePatternType.PREFIXED, "User:invoice", "*",
                             AclOperation.READ, AclPermissionType.ALLOW)
    assert admin.delete_acls([right])[right].result(timeout=30), "the invoice generator had no right to its group"
    try:
        deadline = time.monotonic() + 60
        while not any("authorization failed" in c.get("reason", "").lower() for c in readiness("invoice")[1]):
            assert time.monotonic() < deadline, f"the invoice generator still says {readiness('invoice')}"
            time.sleep(0.5)
        status, clients = readiness("invoice")
        assert status == 503 and clients[0]["client"] == "consumer of group invoice-generator" and clients[0]["since"]
    finally:  # provisioning grants exactly the manifest's rights again
        subprocess.run([sys.executable, "-m", "contracts", "provision"], check=True, capture_output=True, timeout=300)
    await_ready("invoice")
    answered(client, "invoice")


def test_after_a_broker_restart_every_service_is_unready_then_ready_and_answers(client: httpx.Client) -> None:
    for service in READYZ:
        await_ready(service)
    node = broker.nodes(1)[0]
    kill(node.name)
    try:
        time.sleep(3)
        assert all(readiness(service)[0] == 503 for service in READYZ), {s: readiness(s) for s in READYZ}
    finally:
        node.start()
    for service in READYZ:
        await_ready(service)
    answered(client, "invoice")
    answered(client, "score")
