"""Two dashboards on two hosts (network namespaces) sharing one PostgreSQL database: an account made on one signs in
on the other, and a request sent through one reaches the browser stream held by the other."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chaos.hosts import DEFAULT_PORTS, Host
from contracts.env import principal_env
from stack.postgres import Cluster
from tests.integration.accounts import PASSWORD
from tests.integration.conftest import TWO_ITEMS, listen
from tests.unit.dashboard.conftest import postgres_server  # noqa: F401 - a fixture: a scratch PostgreSQL server

PORT = 8000  # each dashboard's, inside its own host


@pytest.fixture
def two_dashboards(postgres_server: Cluster, tmp_path: Path) -> Iterator[tuple[str, str]]:  # noqa: F811
    database = postgres_server.provide("dashboard", "test-password", f"hosts_{uuid.uuid4().hex}")
    run = uuid.uuid4().hex[:6]
    with (Host("acc-d1", 21, (*DEFAULT_PORTS, postgres_server.port)) as one,
          Host("acc-d2", 22, (*DEFAULT_PORTS, postgres_server.port)) as two):
        for number, host in ((1, one), (2, two)):
            env = {**os.environ, **principal_env("dashboard"), "DASHBOARD_HOST": "0.0.0.0", "DASHBOARD_PORT": str(PORT),
                   "DATABASE_URL": database, "INSTANCE_ID": f"dashboard-h{number}-{run}",
                   "DASHBOARD_GROUP": f"dashboard-hosts-{run}"}  # one group: each reply is read by one of them
            host.start([sys.executable, "-m", "services.dashboard"], env, tmp_path / f"dashboard-{number}.log")
        urls = (f"http://{one.address}:{PORT}", f"http://{two.address}:{PORT}")
        for url in urls:
            _await_ready(url, tmp_path)
        yield urls


def _await_ready(url: str, logs: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the dashboard at {url} did not become ready: "
                + " | ".join(path.read_text()[-500:] for path in logs.glob("dashboard-*.log")))


def test_sign_up_on_one_host_then_sign_in_and_see_live_updates_on_the_other(two_dashboards: tuple[str, str]) -> None:
    first, second = two_dashboards
    account = {"email": f"two-hosts-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD}
    with httpx.Client(base_url=first, timeout=30) as on_first, httpx.Client(base_url=second, timeout=30) as on_second:
        assert on_first.post("/api/users", json=account).status_code == 202
        assert on_second.post("/api/session", json=account).status_code == 200  # the account is in the shared database
        assert on_first.post("/api/session", json=account).status_code == 200
        events, listener = listen(on_second, open_within=20)  # the second host's stream
        sent = on_first.post("/api/invoices", json=TWO_ITEMS)
        assert sent.status_code == 202, sent.text
        listener.join(60)
        answered = [e for e in events if e["request_id"] == sent.json()["request_id"] and e["status"] != "pending"]
        assert answered and answered[0]["status"] == "generated", events
        assert f"invoice-row-{sent.json()['request_id']}" in answered[0]["fragments"]
        assert on_second.get(sent.json()["url"]).json()["status"] == "generated"  # and in the shared database
