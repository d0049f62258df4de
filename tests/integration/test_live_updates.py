"""Two dashboards share one reply consumer group and one database: each reply is stored once, by whichever consumes it,
and reaches the user's page on the other dashboard (PostgreSQL's notification, or SQLite's poll of the table). A
dashboard killed (-9) in the middle of a burst loses nothing: the other takes its partitions over and every answer
reaches the page; a page that reconnects with Last-Event-ID gets what it missed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka.admin import AdminClient

from contracts.env import principal_env
from messaging.settings import Settings
from stack.paths import REPO
from stack.postgres import Cluster
from tests.integration.accounts import sign_up
from tests.integration.conftest import TWO_ITEMS
from tests.unit.dashboard.conftest import postgres_server  # noqa: F401 - a fixture: a scratch PostgreSQL server

PORTS = (8031, 8032)
BURST = 40


class Dashboard:
    def __init__(self, port: int, env: dict[str, str], log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        with log.open("w") as output:
            self.process = subprocess.Popen([sys.executable, "-m", "services.dashboard"], cwd=REPO, env=env,
                                            stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while not _ready(self.url):
            assert self.process.poll() is None and time.monotonic() < deadline, log.read_text()[-1500:]
            time.sleep(0.3)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(30)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def two_dashboards(request: pytest.FixtureRequest, tmp_path: Path, settings: Settings) -> Iterator[list[Dashboard]]:
    if request.param == "postgresql":
        cluster: Cluster = request.getfixturevalue("postgres_server")
        database = cluster.provide("dashboard", "test-password", f"live_{uuid.uuid4().hex}")
    else:
        database = f"sqlite:///{tmp_path / 'dashboard.sqlite3'}"
    run = uuid.uuid4().hex[:6]
    group = f"dashboard-live-{run}"
    dashboards = []
    try:
        for index, port in enumerate(PORTS, start=1):
            env = {**os.environ, **principal_env("dashboard"), "DASHBOARD_PORT": str(port),
                   "DASHBOARD_METRICS_PORT": str(port + 1000), "DATABASE_URL": database, "DASHBOARD_GROUP": group,
                   "INSTANCE_ID": f"live-{index}-{run}"}
            env = {k: v for k, v in env.items() if not k.startswith("STACK_")}
            dashboards.append(Dashboard(port, env, tmp_path / f"dashboard-{index}.log"))
        yield dashboards
    finally:
        for dashboard in dashboards:
            dashboard.stop()
        admin = AdminClient({**settings.kafka_client})
        admin.delete_consumer_groups([group])[group].exception(30)


def listen(client: httpx.Client, wanted: set[str], events: list[dict[str, Any]], all_sent: threading.Event,
           last_id: str | None = None) -> None:
    """Read the stream until every request in `wanted` has an answer, once `all_sent` is set (or it ends)."""
    headers = {"Last-Event-ID": last_id} if last_id else {}
    with client.stream("GET", "/events", headers=headers, timeout=httpx.Timeout(5, read=90)) as stream:
        for line in stream.iter_lines():  # a keepalive comment comes every 15 s at least
            if line.startswith("data: "):
                events.append(json.loads(line.removeprefix("data: ")))
            if all_sent.is_set() and wanted <= answered(events):
                return


def answered(events: list[dict[str, Any]]) -> set[str]:
    return {e["request_id"] for e in events if e.get("status") not in (None, "pending")}


def test_a_burst_through_one_dashboard_reaches_the_page_on_the_other_though_the_first_is_killed(
    two_dashboards: list[Dashboard],
) -> None:
    first, second = two_dashboards
    with httpx.Client(base_url=first.url, timeout=30) as on_first, httpx.Client(base_url=second.url, timeout=30) as page:
        user = sign_up(on_first)
        page.post("/api/session", json={"email": user["email"], "password": "a long password"}).raise_for_status()
        sent: set[str] = set()
        events: list[dict[str, Any]] = []
        all_sent = threading.Event()
        reader = threading.Thread(target=lambda: listen(page, sent, events, all_sent))
        reader.start()
        time.sleep(1)  # the page listens
        for index in range(BURST):
            answer = on_first.post("/api/invoices", json=TWO_ITEMS)
            assert answer.status_code == 202, answer.text
            sent.add(answer.json()["request_id"])
            if index == BURST // 2:
                first.kill()  # it held some of the reply partitions, and may have stored without telling anyone
                break
        for _ in range(BURST // 2):  # the rest through the dashboard that lives
            answer = page.post("/api/invoices", json=TWO_ITEMS)
            assert answer.status_code == 202, answer.text
            sent.add(answer.json()["request_id"])
        all_sent.set()
        reader.join(120)
        assert sent <= answered(events), f"{len(sent - answered(events))} of {len(sent)} answers never reached the page"
        assert {e["status"] for e in events if e.get("request_id") in sent} <= {"pending", "generated"}

        # The page, reconnecting with the id of an event half-way through, gets what came after it again.
        # An id is when its row changed (ms), shared by the replies one batch stored; arrival order is not id order.
        identified = [e for e in events if e.get("id") and e.get("status") == "generated"]
        ids = sorted({e["id"] for e in identified})
        halfway = ids[len(ids) // 2 - 1] if len(ids) > 1 else ids[0] - 1
        later = {e["request_id"] for e in identified if e["id"] > halfway}
        again: list[dict[str, Any]] = []
        listen(page, later, again, all_sent, last_id=str(halfway))
        assert later and later <= answered(again)
