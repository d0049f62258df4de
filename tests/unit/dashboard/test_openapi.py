"""The published document states the rules the code applies, from the same constants."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from contracts.manifest import load_manifest
from services.dashboard.openapi import document
from services.dashboard.passwords import RULE as PASSWORD_RULE
from services.dashboard.rules import EMAIL, MAX_PASSWORD, MIN_PASSWORD, ContractRules

RULES = ContractRules.of(load_manifest())  # as the app makes them from its runtime's manifest
QUANTITY, UNIT_PRICE = RULES.quantity, RULES.unit_price
PATHS = document(RULES)["paths"]


def objects(schema: Any) -> Iterator[dict[str, Any]]:
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            yield schema
        for value in schema.values():
            yield from objects(value)


def body_schema(path: str) -> dict[str, Any]:
    return dict(PATHS[path]["post"]["requestBody"]["content"]["application/json"]["schema"])


def test_amount_patterns_are_the_parsers_rules() -> None:
    item = body_schema("/api/invoices")["properties"]["items"]["items"]["properties"]
    assert item["quantity"]["pattern"] == QUANTITY.pattern
    assert item["unit_price"]["pattern"] == UNIT_PRICE.pattern
    assert body_schema("/api/users")["properties"]["email"]["pattern"] == EMAIL.pattern


def test_every_object_a_client_sends_is_closed_to_unknown_fields() -> None:
    for path in ("/api/invoices", "/api/users", "/api/session"):
        found = list(objects(body_schema(path)))
        assert found and all(o.get("additionalProperties") is False for o in found), path


def test_the_posts_that_make_requests_take_an_idempotency_key_and_say_what_a_conflict_is() -> None:
    for path in ("/api/invoices", "/api/scores"):
        post = PATHS[path]["post"]
        assert [p["name"] for p in post["parameters"] if p["in"] == "header"] == ["Idempotency-Key"]
        assert {"409", "422"} <= set(post["responses"])


def test_sign_up_and_log_in_document_throttling() -> None:
    for path in ("/api/users", "/api/session"):
        assert "Retry-After" in PATHS[path]["post"]["responses"]["429"]["headers"]


def test_the_password_rule_is_the_one_sign_up_applies() -> None:
    password = body_schema("/api/users")["properties"]["password"]
    assert (password["minLength"], password["maxLength"]) == (MIN_PASSWORD, MAX_PASSWORD) == (15, 200)
    assert password["description"] == PASSWORD_RULE
    assert set(PATHS["/api/users"]["post"]["responses"]) >= {"202", "422"}
    assert "409" not in PATHS["/api/users"]["post"]["responses"]  # a taken email is not told apart


def test_every_state_changing_endpoint_documents_the_cross_site_refusal() -> None:
    changing = [(path, method) for path, item in PATHS.items() for method in item if method in ("post", "put", "patch", "delete")]
    assert ("/api/scores", "post") in changing and ("/api/session", "delete") in changing
    for path, method in changing:
        assert "403" in PATHS[path][method]["responses"], (path, method)
