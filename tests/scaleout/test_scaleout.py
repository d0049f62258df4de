"""Beyond one broker and one process: run against `make up BROKERS=3 WORKERS=2 DASHBOARDS=2`
(`make scaleout-test` starts that shape)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from chaos.__main__ import scenario
from messaging.runtime import Runtime
from stack import broker, procs, supervision
from stack.services import services
from tests.integration.conftest import TWO_ITEMS, sign_up, wait_for_answer

SHAPE = ["kafka-1", "kafka-2", "kafka-3", "invoice", "invoice-2", "dashboard", "dashboard-2"]


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    missing = [name for name in SHAPE if procs.running_pid(name) is None]
    if missing:
        pytest.fail(f"{missing} not running: start the shape with `make up BROKERS=3 WORKERS=2 DASHBOARDS=2`")
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").split(",")
    assert len(servers) == 3, "point KAFKA_BOOTSTRAP_SERVERS at all three brokers"
    runtime = Runtime("scaleout-tests")
    yield runtime
    runtime.close()


def _kill(name: str) -> None:
    pid = procs.running_pid(name)
    assert pid is not None, f"{name} is not running"
    os.kill(pid, signal.SIGKILL)


def test_with_three_brokers_losing_one_under_load_loses_and_duplicates_nothing(runtime: Runtime) -> None:
    node = broker.nodes(3)[1]

    def lose_a_broker(_: Runtime, __: str) -> None:
        time.sleep(5)
        _kill(node.name)
        time.sleep(15)  # the services carry on with two of three replicas in sync

    try:
        row = asyncio.run(scenario("kill -9 one of three brokers", lose_a_broker, runtime))
    finally:
        node.start()
    print(json.dumps(row))
    assert row["accepted"] > 0 and row["errors"] == 0
    # Requests to partitions the dead broker led are refused (503, nothing recorded) until the controller
    # moves their leadership, a few seconds; after that everything is accepted again.
    assert row["refused_503"] < row["sent"] / 4
    assert row["lost"] == 0 and row["duplicated"] == 0


def test_with_two_generators_losing_one_moves_its_partitions_and_answers_each_request_once(runtime: Runtime) -> None:
    second = next(s for s in services(workers=2) if s.name == "invoice-2")

    def lose_a_generator(_: Runtime, __: str) -> None:
        time.sleep(4)
        supervision.release(second.name)  # a host lost for good: the supervisor must not bring it back
        _kill(second.name)
        time.sleep(16)  # longer than the session timeout, after which its partitions move and their
        # state is restored by the other generator from the changelog

    try:
        row = asyncio.run(scenario("kill -9 one of two invoice generators", lose_a_generator, runtime))
    finally:
        second.start()
    print(json.dumps(row))
    assert row["accepted"] > 0 and row["errors"] == 0
    assert row["lost"] == 0 and row["duplicated"] == 0


def test_a_request_made_on_one_dashboard_is_seen_live_on_the_other() -> None:
    first, second = (f"http://127.0.0.1:{s.port}" for s in services(dashboards=2) if s.name.startswith("dashboard"))
    with httpx.Client(base_url=first, timeout=15) as on_first:
        sign_up(on_first)
        events: list[dict] = []
        connected = threading.Event()

        def listen() -> None:  # the browser, connected to the second dashboard with the same session
            with httpx.Client(base_url=second, cookies=on_first.cookies, timeout=20) as browser:
                with browser.stream("GET", "/events") as stream:
                    for line in stream.iter_lines():
                        connected.set()
                        if line.startswith("data: "):
                            events.append(json.loads(line[6:]))
                            if events[-1]["status"] != "pending":
                                return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        assert connected.wait(10)
        accepted = on_first.post("/api/invoices", json=TWO_ITEMS).json()
        listener.join(20)
        assert events and events[-1]["request_id"] == accepted["request_id"]
        assert events[-1]["status"] == "generated"
        assert wait_for_answer(on_first, accepted["url"])["status"] == "generated"
