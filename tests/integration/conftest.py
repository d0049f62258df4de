"""Helpers for tests that go through the running services (started by `make up`)."""

from __future__ import annotations

import os
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
