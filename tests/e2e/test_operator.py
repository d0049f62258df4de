"""The operator view, in a real browser, on a dashboard of its own whose OPERATOR_EMAILS names the operator: lag,
throughput and dead letters shown, one dead letter replayed with an audit line; each group's state and members, the
dashboard's own clients, and the client that wrote a record to the wrong partition; no such page for anyone else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from contracts.env import principal_env
from contracts.partitioning import partition_for
from contracts.records import GENERATE_INVOICE, INVOICE_GENERATED
from messaging.runtime import Runtime
from tests.e2e.test_browser import browser, sign_up_and_in, snap  # noqa: F401 - browser is a fixture
from tests.integration.kafka_tools import Tail
from tests.integration.mailbox import link, path_of
from tests.integration.test_services_over_kafka import invoice_request
from tests.ports import free_port

OPERATOR = f"operator-{uuid.uuid4().hex[:8]}@example.com"


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A dashboard of its own (its database, ports and consumer group), as the dashboard's principal."""
    folder = tmp_path_factory.mktemp("operator-dashboard")
    port, log = free_port(), folder / "dashboard.log"
    env = {**os.environ, **principal_env("dashboard"), "DASHBOARD_PORT": str(port),
           "DASHBOARD_METRICS_PORT": str(free_port()), "DATABASE_URL": f"sqlite:///{folder / 'dashboard.sqlite3'}",
           "DASHBOARD_GROUP": f"dashboard-operator-{uuid.uuid4().hex[:6]}", "OPERATOR_EMAILS": OPERATOR}
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "services.dashboard"], env=env, stdout=output, stderr=output)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _ready(url):
            time.sleep(0.3)
        yield url, log
    finally:
        process.terminate()
        process.wait(30)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _signed_in_verified(page: Page) -> None:
    """The operator signed in, its address confirmed (by this test or an earlier one)."""
    sign_up_and_in(page, OPERATOR)
    if page.get_by_text("Confirm your email address").count():
        page.goto(path_of(link(OPERATOR, "Confirm your email address")))


def _poison() -> tuple[int, int]:
    """A record the invoice generator cannot read, put on its topic by an admin; its dead letter's coordinates."""
    runtime = Runtime("tests")
    try:
        requests = runtime.manifest.topic(GENERATE_INVOICE)
        dead = Tail(runtime, requests.dead_letter_topic or "")
        marker = f"operator-test-{uuid.uuid4()}".encode()
        runtime.producer.produce(requests.name, key=b"k", value=b"not avro " + marker)
        assert runtime.producer.flush(10) == 0
        (letter,) = dead.messages(lambda m: marker in (m.value() or b""), timeout=30)
        dead.close()
        return letter.partition(), letter.offset()
    finally:
        runtime.close()


def test_the_operator_sees_lag_and_dead_letters_and_replays_one_with_an_audit_line(
    browser: Browser, dashboard: tuple[str, Path]  # noqa: F811
) -> None:
    url, log = dashboard
    partition, offset = _poison()
    context = browser.new_context(base_url=url)
    page: Page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        sign_up_and_in(page, OPERATOR)
        # Named in OPERATOR_EMAILS, the account is no operator until it proves the address its own.
        expect(page.get_by_role("link", name="Operator")).to_have_count(0)
        page.goto(path_of(link(OPERATOR, "Confirm your email address")))
        expect(page.get_by_text("is confirmed as yours")).to_be_visible()
        page.goto("/")
        page.get_by_role("link", name="Operator").click()
        expect(page.get_by_role("heading", name="Operator view")).to_be_visible()
        lag = page.locator("#lag tbody tr")
        expect(lag.filter(has_text="invoice-generator").filter(has_text="generate-invoice")).to_have_count(6)
        expect(lag.filter(has_text="score-calculator").filter(has_text=INVOICE_GENERATED.name)).to_have_count(6)
        page.reload()  # a second look measures throughput
        expect(page.locator("#throughput tbody tr").filter(has_text="generate-invoice")).to_have_count(1)
        shelf = page.locator("#shelf-generate-invoice")
        row = shelf.locator("tr", has_text=f"{partition}:{offset}")
        expect(row).to_contain_text("is not in the Confluent wire format")
        snap(page, "12-operator-view")

        tail = Tail(Runtime("tests"), "generate-invoice")
        row.get_by_role("button", name="Replay").click()
        expect(page.locator("#operator-note")).to_have_text(
            f"replayed generate-invoice-dead-letters:{partition}:{offset} to generate-invoice")
        (replayed,) = tail.messages(lambda m: dict(m.headers() or []).get("dlq.replayed.from")
                                    == f"generate-invoice-dead-letters:{partition}:{offset}".encode(), timeout=30)
        tail.close()
        assert b"not avro operator-test-" in (replayed.value() or b"")
        snap(page, "13-operator-replayed")
    finally:
        context.close()
    audit = [json.loads(line) for line in log.read_text().splitlines() if "operator replayed a dead letter" in line]
    assert [(a["operator"], a["dead_letter"], a["to"]) for a in audit] == [
        (OPERATOR, f"generate-invoice-dead-letters:{partition}:{offset}", "generate-invoice")]


def test_anyone_else_finds_no_operator_view_and_replay_needs_the_operator(dashboard: tuple[str, Path]) -> None:
    url, _ = dashboard
    with httpx.Client(base_url=url, timeout=30) as client:
        account = {"email": f"user-{uuid.uuid4().hex[:8]}@example.com", "password": "a long password"}
        client.post("/api/users", json=account)
        client.post("/api/session", json=account)
        assert client.get("/operator").status_code == 404
        assert client.post("/operator/replay", data={"source": "generate-invoice", "partition": "0", "offset": "0"},
                           headers={"Sec-Fetch-Site": "same-origin"}).status_code == 404
        assert "Operator" not in client.get("/").text


def test_the_operator_sees_each_groups_members_this_dashboards_clients_and_who_writes_to_the_wrong_partition(
    browser: Browser, dashboard: tuple[str, Path]  # noqa: F811
) -> None:
    url, _ = dashboard
    client_id = f"integration-{uuid.uuid4().hex[:6]}"
    runtime = Runtime("tests")
    try:  # a request written by hand to another partition than its user's, by a client that names itself
        requests = runtime.manifest.topic(GENERATE_INVOICE)
        user = uuid.uuid4()
        key = runtime.codec(requests.key).encode({"user_id": user})
        value = runtime.codec(requests.value).encode(invoice_request(user))
        runtime.producer.produce(requests.name, key=key, value=value, partition=(partition_for(key, 6) + 1) % 6,
                                 headers=[("client.id", client_id.encode())])
        assert runtime.producer.flush(10) == 0
    finally:
        runtime.close()
    context = browser.new_context(base_url=url)
    page: Page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        _signed_in_verified(page)
        page.goto("/operator")
        groups = page.locator("#groups tbody tr")
        expect(groups.filter(has_text="invoice-generator")).to_contain_text("STABLE")
        expect(groups.filter(has_text="invoice-generator")).to_contain_text("invoice-generator/")  # its instance
        clients = page.locator("#clients tbody tr")
        expect(clients.filter(has_text="consumer of group dashboard-operator-")).to_contain_text("yes")
        forwarded = page.locator("#forwarded tbody tr").filter(has_text=client_id)
        for _ in range(10):  # the generator forwards it within a batch or two
            if forwarded.count():
                break
            page.wait_for_timeout(1000)
            page.reload()
        expect(forwarded).to_contain_text("generate-invoice")
        expect(forwarded).to_contain_text("dashboard (and super users)")
        snap(page, "14-operator-groups-and-forwarded")
    finally:
        context.close()
