"""Requests through the dashboard's API are answered over Kafka by the real services."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from tests.integration.accounts import sign_up
from tests.integration.conftest import DASHBOARD_URL, TWO_ITEMS, listen, wait_for_answer


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """A signed-in user's client. (conftest.py's `client` signs up only; once its sign_up is accounts.sign_up,
    this fixture can go.)"""
    with httpx.Client(base_url=DASHBOARD_URL, timeout=15) as http:
        try:
            http.get("/healthz")
        except httpx.ConnectError:
            pytest.fail(f"the dashboard is not running at {DASHBOARD_URL}; run `make up` first")
        sign_up(http)
        yield http


def test_an_invoice_request_is_answered_stored_and_computed_exactly(client: httpx.Client) -> None:
    accepted = client.post("/api/invoices", json=TWO_ITEMS)
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["location"] == accepted.json()["url"]
    view = wait_for_answer(client, accepted.json()["url"])
    assert view["status"] == "generated"
    invoice = view["invoice"]
    assert invoice["number"] == 1  # a new user's first invoice
    assert [line["total"] for line in invoice["lines"]] == ["850.00", "426.00"]
    assert invoice["subtotal"] == "1276.00"
    assert Decimal(invoice["total"]) == Decimal(invoice["subtotal"]) + Decimal(invoice["iss_amount"])
    assert invoice["customer"]["tax_id"] == "11222333000181"
    listed = client.get("/api/invoices").json()["invoices"]
    assert [item["request_id"] for item in listed] == [accepted.json()["request_id"]]


def test_invoice_numbers_are_consecutive_per_user(client: httpx.Client) -> None:
    urls = [client.post("/api/invoices", json=TWO_ITEMS).json()["url"] for _ in range(5)]
    numbers = sorted(wait_for_answer(client, url)["invoice"]["number"] for url in urls)
    assert numbers == [1, 2, 3, 4, 5]


def test_a_rejected_request_lists_every_reason(client: httpx.Client) -> None:
    # Each breaks a business rule, not a constraint of the schema: the request is sent, and rejected.
    bad = {
        "customer": {"name": " ", "tax_id": "123.456.789-00"},
        "items": [{"description": "Audit", "quantity": "1", "unit_price": "1"}, {"description": " ", "quantity": "1",
                                                                                "unit_price": "0"}],
    }
    view = wait_for_answer(client, client.post("/api/invoices", json=bad).json()["url"])
    assert view["status"] == "rejected" and view["invoice"] is None
    fields = {reason["field"] for reason in view["rejection_reasons"]}
    assert fields == {"customer.name", "customer.tax_id", "items[1].description"}


def test_a_request_breaking_a_constraint_of_the_schema_is_refused_before_it_is_sent(client: httpx.Client) -> None:
    bad = {"customer": {"name": "ACME", "tax_id": "11.222.333/0001-81"},
           "items": [{"description": "Audit", "quantity": "0", "unit_price": "-1"}]}
    response = client.post("/api/invoices", json=bad)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "items[0].quantity", "message": "must be greater than 0 (got 0.000)"},
        {"field": "items[0].unit_price", "message": "must be at least 0 (got -1.00)"},
    ]


def test_a_reply_is_pushed_to_a_server_sent_events_subscriber(client: httpx.Client) -> None:
    with httpx.Client(base_url=DASHBOARD_URL, cookies=client.cookies, timeout=20) as sse:
        events, listener = listen(sse)
        request_id = client.post("/api/invoices", json=TWO_ITEMS).json()["request_id"]
        listener.join(20)
    assert events, "no event arrived"
    assert events[-1]["kind"] == "invoice"
    assert events[-1]["request_id"] == request_id
    assert events[-1]["status"] == "generated"


def test_a_user_cannot_read_another_users_invoice(client: httpx.Client) -> None:
    url = client.post("/api/invoices", json=TWO_ITEMS).json()["url"]
    wait_for_answer(client, url)
    with httpx.Client(base_url=DASHBOARD_URL, timeout=15) as other:
        sign_up(other)
        assert other.get(url).status_code == 404
        assert other.get("/api/invoices").json()["invoices"] == []


def test_a_score_reflects_the_users_invoices(client: httpx.Client) -> None:
    wait_for_answer(client, client.post("/api/invoices", json=TWO_ITEMS).json()["url"])
    assert client.get("/api/scores/latest").status_code == 404
    view = wait_for_answer(client, client.post("/api/scores", json={}).json()["url"])
    assert view["status"] == "calculated"
    assert 0 < view["score"] <= 1000
    assert [factor["name"] for factor in view["factors"]] == [
        "volume_90d", "regularity", "customer_diversity", "acceptance_rate"
    ]
    assert view["invoices_considered"] == 1
    assert client.get("/api/scores/latest").json()["request_id"] == view["request_id"]


def test_bad_input_gets_a_clear_error_naming_the_field(client: httpx.Client) -> None:
    response = client.post("/api/invoices", json={"customer": {"name": "x", "tax_id": 5}, "items": "none"})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"customer.tax_id", "items"}
    assert client.post("/api/invoices", content=b"{", headers={"content-type": "application/json"}).status_code == 400
    assert client.post("/api/invoices", content=b"x" * 70_000, headers={"content-type": "application/json"}).status_code == 413
    assert client.post("/api/invoices", data={"a": "b"}).status_code == 415
    assert httpx.post(f"{DASHBOARD_URL}/api/invoices", json=TWO_ITEMS).status_code == 401
    assert client.get("/api/invoices", params={"offset": "¹"}).status_code == 422  # a digit int() refuses


def test_the_openapi_document_describes_every_api_route(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert {"/api/invoices", "/api/invoices/{request_id}", "/api/scores", "/api/scores/latest"} <= set(document["paths"])
