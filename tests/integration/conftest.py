"""Helpers for tests that go through the running services (started by `make up`)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.accounts import sign_up

DASHBOARD_URL = os.environ.get("DASHBOARD_URL", "http://127.0.0.1:8000")
TWO_ITEMS = {
    "customer": {"name": "Padaria Pão Quente Ltda", "tax_id": "11.222.333/0001-81"},
    "items": [
        {"description": "Bookkeeping, October", "quantity": "1", "unit_price": "850.00"},
        {"description": "Payroll processing", "quantity": "12", "unit_price": "35.50"},
    ],
}


def wait_for_answer(client: httpx.Client, url: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = client.get(url).json()
        if view["status"] != "pending":
            return dict(view)
        time.sleep(0.02)
    raise AssertionError(f"{url} still pending after {timeout} s")


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(base_url=DASHBOARD_URL, timeout=15) as http:
        try:
            http.get("/healthz")
        except httpx.ConnectError:
            pytest.fail(f"the dashboard is not running at {DASHBOARD_URL}; run `make up` first")
        sign_up(http)
        yield http


def listen(sse: httpx.Client, open_within: float = 10) -> tuple[list[dict[str, Any]], threading.Thread]:
    """Read `sse`'s /events on a thread until the first answer (an event no longer pending): the events as they come,
    and the thread, once the stream is open."""
    events: list[dict[str, Any]] = []
    connected = threading.Event()

    def read() -> None:
        with sse.stream("GET", "/events") as stream:
            for line in stream.iter_lines():
                connected.set()
                if line.startswith("data: "):
                    events.append(json.loads(line.removeprefix("data: ")))
                    if events[-1]["status"] != "pending":
                        return

    listener = threading.Thread(target=read, daemon=True)
    listener.start()
    assert connected.wait(open_within), "the event stream did not open"
    return events, listener
