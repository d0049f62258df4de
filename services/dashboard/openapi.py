"""The OpenAPI document of the JSON API, served at /openapi.json."""

from __future__ import annotations

from typing import Any

from contracts.constraints import FieldRules
from services.dashboard.actions import IDEMPOTENCY_HEADER, IDEMPOTENCY_TTL_SECONDS
from services.dashboard.db import State
from services.dashboard.passwords import RULE as PASSWORD_RULE
from services.dashboard.rules import (
    EMAIL,
    IDEMPOTENCY_KEY,
    MAX_EMAIL,
    MAX_PASSWORD,
    MIN_PASSWORD,
    ContractRules,
    DecimalRule,
    Grammar,
    ScoreScale,
)

__all__ = ["document"]


def _grammar(grammar: Grammar, **schema: Any) -> dict[str, Any]:
    return {"type": "string", "pattern": grammar.pattern, "description": grammar.description, **schema}


def _decimal(rule: DecimalRule, declared: FieldRules, example: str) -> dict[str, Any]:
    # A decimal travels as text, which JSON Schema's minimum cannot bound: the schema's range is told in words.
    return {"type": "string", "pattern": rule.pattern, "description": f"{rule.description}; {declared.describe()}.",
            "examples": [example]}


def _text(declared: FieldRules) -> dict[str, Any]:
    return {"type": "string", **declared.json_schema(), "description": declared.describe()}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _closed(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """An object that takes exactly these fields: any other is refused with an error naming it."""
    return {"type": "object", "required": required, "additionalProperties": False, "properties": properties}

# A write that says nothing but itself still sends JSON, {}: a body of that type is what no other site's form can send.
EMPTY = {"type": "object", "additionalProperties": False, "maxProperties": 0}
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "What is wrong, for people."},
        "request_id": {"type": "string", "format": "uuid",
                       "description": "With a 503 whose request Kafka did not confirm but may have: the request, kept"
                                      " (answered if Kafka has it, else timed out)."},
        "url": {"type": "string", "description": "Where that request is shown."},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
REQUEST_STATE = {"type": "string", "enum": [state.value for state in State]}
ACCEPTED = {
    "type": "object",
    "required": ["request_id", "status", "url"],
    "properties": {"request_id": {"type": "string", "format": "uuid"}, "status": {"const": State.PENDING.value},
                   "url": {"type": "string"}},
}
SIGN_UP = _closed(["email", "password"], {
    "email": _grammar(EMAIL, maxLength=MAX_EMAIL),
    "password": {"type": "string", "minLength": MIN_PASSWORD, "maxLength": MAX_PASSWORD, "description": PASSWORD_RULE},
})
SIGN_UP_RECEIVED = {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}},
                    "description": "The same answer, word for word, whether the email was new or already had an account."}
LOG_IN = _closed(["email", "password"], {
    "email": {"type": "string", "maxLength": MAX_EMAIL},
    "password": {"type": "string", "maxLength": MAX_PASSWORD},
})
USER = {"type": "object", "required": ["id", "email"], "properties": {"id": {"type": "string"}, "email": {"type": "string"}}}


def _invoice_input(rules: ContractRules) -> dict[str, Any]:
    """The invoice request as the API takes it, within the constraints its schema declares."""
    request = rules.request
    return _closed(["customer", "items"], {
        "customer": _closed(["name", "tax_id"], {
            "name": _text(request["customer.name"]),
            "tax_id": {**_text(request["customer.tax_id"]), "title": "CPF or CNPJ"},
        }),
        "items": {"type": "array", **request["items"].json_schema(), "items": _closed(["description", "quantity", "unit_price"], {
            "description": _text(request["items[].description"]),
            "quantity": _decimal(rules.quantity, request["items[].quantity"], "1.5"),
            "unit_price": {**_decimal(rules.unit_price, request["items[].unit_price"], "12.50"), "title": "BRL"},
        })},
    })


IDEMPOTENCY = {
    "name": IDEMPOTENCY_HEADER, "in": "header", "required": False, "schema": _grammar(IDEMPOTENCY_KEY),
    "description": f"Makes a retry safe: a POST repeated with the same key (per user, for"
                   f" {IDEMPOTENCY_TTL_SECONDS // 3600} hours) makes no new request and gets the first one's answer"
                   f" again, the same status and body. The same key with a different body is refused (422); while"
                   f" the first request is still being sent, a repeat gets 409 and Retry-After.",
}
INVOICE = {
    "type": "object",
    "required": ["request_id", "status", "requested_at", "updated_at", "request", "invoice", "rejection_reasons", "url"],
    "properties": {
        "request_id": {"type": "string", "format": "uuid"},
        "status": REQUEST_STATE,
        "requested_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "request": {"type": "object"},
        "invoice": {"type": ["object", "null"], "description": "The issued invoice (money as decimal strings)."},
        "rejection_reasons": {"type": "array", "items": {"type": "object"}},
        "url": {"type": "string"},
    },
}


def _score(scale: ScoreScale) -> dict[str, Any]:
    """A score request as the API shows it, its score within the range score_reply declares."""
    return {
        "type": "object",
        "required": ["request_id", "status", "requested_at", "updated_at", "score", "tier", "factors", "url"],
        "properties": {
            "request_id": {"type": "string", "format": "uuid"},
            "status": REQUEST_STATE,
            "requested_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "score": {"type": ["integer", "null"], **scale.score.json_schema()},
            "tier": {"type": ["string", "null"], "enum": [*scale.tiers, None]},
            "factors": {"type": "array", "items": {"type": "object"}},
            "invoices_considered": {"type": ["integer", "null"]},
            "calculated_at": {"type": ["string", "null"]},
            "url": {"type": "string"},
        },
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {400: "Malformed JSON, or a key twice in one object", 401: "Not signed in", 404: "Not found (or not yours)",
            403: "Sent by a browser from another site (Sec-Fetch-Site other than same-origin or none, or an Origin"
                 " that is not this host); nothing was done",
            408: "The body did not arrive in time", 409: "Conflict", 413: "Body too large", 415: "Not JSON",
            422: "Invalid fields, each named",
            503: "Kafka did not confirm the request: nothing was sent, or (with request_id) it was kept, Kafka may have it"}
    return {str(status): _json(ERROR, text[status]) for status in statuses}


def _throttled() -> dict[str, Any]:
    """429: too many sign-up or log-in attempts for the account or from the address."""
    return {"429": {**_json(ERROR, "Too many attempts; retry after Retry-After seconds"),
                    "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}}}


def document(rules: ContractRules) -> dict[str, Any]:
    """The document, for the contracts' rules as the runtime's manifest gives them (the app makes it once)."""
    invoice_input, score = _invoice_input(rules), _score(rules.scale)
    request_id = [{"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    paging = [
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 1000000}},
    ]
    return {
        "openapi": "3.1.0",
        "info": {"title": "Accounting dashboard API", "version": "1.0.0",
                 "description": "Ask for invoices and scores; answers arrive over Kafka."
                                " Sign up, then sign in: the session is a cookie naming a session kept on the server,"
                                " which signing out (DELETE /api/session) or its expiry ends at once."
                                " Every POST and DELETE is refused (403) when a browser sends it from another site,"
                                " a sibling subdomain included: its Sec-Fetch-Site must be same-origin or none, or,"
                                " from a browser that sends none, its Origin this host. Clients that are not browsers"
                                " send neither header and are not affected."},
        "components": {"securitySchemes": {"session": {
            "type": "apiKey", "in": "cookie", "name": "session",
            "description": "HttpOnly, SameSite=Lax, and Secure over HTTPS. Set by POST /api/session."}}},
        "security": [{"session": []}],
        "paths": {
            "/api/users": {"post": {"summary": "Sign up (then sign in with POST /api/session)", "security": [],
                                    "requestBody": _body(SIGN_UP),
                                    "responses": {"202": _json(SIGN_UP_RECEIVED, "Sign-up received"),
                                                  **_errors(400, 403, 408, 413, 415, 422), **_throttled()}}},
            "/api/session": {
                "post": {"summary": "Sign in", "security": [], "requestBody": _body(LOG_IN),
                         "responses": {"200": _json(USER, "Signed in"), **_errors(400, 401, 403, 408, 413, 415, 422),
                                       **_throttled()}},
                "delete": {"summary": "Sign out: the session ends at once", "security": [], "requestBody": _body(EMPTY),
                           "responses": {"204": {"description": "Signed out"}, **_errors(400, 403, 408, 413, 415, 422)}},
            },
            "/api/invoices": {
                "post": {"summary": "Ask for an invoice", "requestBody": _body(invoice_input), "parameters": [IDEMPOTENCY],
                         "responses": {"202": _json(ACCEPTED, "Durably in Kafka; the answer follows"),
                                       **_errors(400, 401, 403, 408, 409, 413, 415, 422, 503)}},
                "get": {"summary": "My invoices, newest first", "parameters": paging,
                        "responses": {"200": _json({"type": "object", "required": ["invoices"], "properties": {
                            "invoices": {"type": "array", "items": INVOICE}, "limit": {"type": "integer"},
                            "offset": {"type": "integer"}}}, "Invoices"), **_errors(401, 422)}},
            },
            "/api/invoices/{request_id}": {"get": {"summary": "One of my invoices", "parameters": request_id,
                                                   "responses": {"200": _json(INVOICE, "The invoice"), **_errors(401, 404)}}},
            "/api/scores": {"post": {"summary": "Ask for my score", "parameters": [IDEMPOTENCY], "requestBody": _body(EMPTY),
                                     "responses": {"202": _json(ACCEPTED, "Durably in Kafka; the answer follows"),
                                                   **_errors(400, 401, 403, 408, 409, 413, 415, 422, 503)}}},
            "/api/scores/latest": {"get": {"summary": "My latest calculated score",
                                           "responses": {"200": _json(score, "The score"), **_errors(401, 404)}}},
            "/api/scores/{request_id}": {"get": {"summary": "One score request of mine", "parameters": request_id,
                                                 "responses": {"200": _json(score, "The score request"), **_errors(401, 404)}}},
        },
    }
