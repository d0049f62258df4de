"""The OpenAPI document of the JSON API, served at /openapi.json."""

from __future__ import annotations

from typing import Any

__all__ = ["document"]

DECIMAL = {"type": "string", "pattern": r"^-?[0-9]+([.,][0-9]+)?$", "examples": ["12.50"]}
TEXT = {"type": "string", "maxLength": 200}
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "What is wrong, for people."},
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
REQUEST_STATE = {"type": "string", "enum": ["pending", "generated", "rejected", "calculated", "timed_out"]}
ACCEPTED = {
    "type": "object",
    "required": ["request_id", "status", "url"],
    "properties": {"request_id": {"type": "string", "format": "uuid"}, "status": {"const": "pending"}, "url": {"type": "string"}},
}
CREDENTIALS = {
    "type": "object",
    "required": ["email", "password"],
    "properties": {
        "email": {"type": "string", "maxLength": 320, "pattern": r"^[^@\s]{1,64}@[^@\s]{1,255}$"},
        "password": {"type": "string", "minLength": 8, "maxLength": 200},
    },
}
USER = {"type": "object", "required": ["id", "email"], "properties": {"id": {"type": "string"}, "email": {"type": "string"}}}
INVOICE_INPUT = {
    "type": "object",
    "required": ["customer", "items"],
    "additionalProperties": False,
    "properties": {
        "customer": {
            "type": "object",
            "required": ["name", "tax_id"],
            "properties": {"name": TEXT, "tax_id": {"type": "string", "maxLength": 32, "description": "CPF or CNPJ"}},
        },
        "items": {
            "type": "array",
            "maxItems": 50,
            "items": {
                "type": "object",
                "required": ["description", "quantity", "unit_price"],
                "properties": {
                    "description": TEXT,
                    "quantity": {**DECIMAL, "description": "At most 3 decimal places."},
                    "unit_price": {**DECIMAL, "description": "BRL, at most 2 decimal places."},
                },
            },
        },
    },
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
SCORE = {
    "type": "object",
    "required": ["request_id", "status", "requested_at", "updated_at", "score", "tier", "factors", "url"],
    "properties": {
        "request_id": {"type": "string", "format": "uuid"},
        "status": REQUEST_STATE,
        "requested_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "score": {"type": ["integer", "null"], "minimum": 0, "maximum": 1000},
        "tier": {"type": ["string", "null"], "enum": ["POOR", "FAIR", "GOOD", "EXCELLENT", None]},
        "factors": {"type": "array", "items": {"type": "object"}},
        "invoices_considered": {"type": ["integer", "null"]},
        "calculated_at": {"type": ["string", "null"]},
        "url": {"type": "string"},
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {400: "Malformed JSON", 401: "Not signed in", 404: "Not found (or not yours)", 409: "Conflict",
            413: "Body too large", 415: "Not JSON", 422: "Invalid fields, each named", 503: "Kafka unavailable; nothing was sent"}
    return {str(status): _json(ERROR, text[status]) for status in statuses}


def document() -> dict[str, Any]:
    body = lambda schema: {"required": True, "content": {"application/json": {"schema": schema}}}  # noqa: E731
    request_id = [{"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    paging = [
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 1000000}},
    ]
    return {
        "openapi": "3.1.0",
        "info": {"title": "Accounting dashboard API", "version": "1.0.0",
                 "description": "Ask for invoices and scores; answers arrive over Kafka. Sign in first: the session is a cookie."},
        "components": {"securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "session"}}},
        "security": [{"session": []}],
        "paths": {
            "/api/users": {"post": {"summary": "Sign up (and sign in)", "security": [], "requestBody": body(CREDENTIALS),
                                    "responses": {"201": _json(USER, "Signed up"), **_errors(400, 409, 413, 415, 422)}}},
            "/api/session": {
                "post": {"summary": "Sign in", "security": [], "requestBody": body(CREDENTIALS),
                         "responses": {"200": _json(USER, "Signed in"), **_errors(400, 401, 413, 415, 422)}},
                "delete": {"summary": "Sign out", "security": [], "responses": {"204": {"description": "Signed out"}}},
            },
            "/api/invoices": {
                "post": {"summary": "Ask for an invoice", "requestBody": body(INVOICE_INPUT),
                         "responses": {"202": _json(ACCEPTED, "Durably in Kafka; the answer follows"),
                                       **_errors(400, 401, 413, 415, 422, 503)}},
                "get": {"summary": "My invoices, newest first", "parameters": paging,
                        "responses": {"200": _json({"type": "object", "required": ["invoices"], "properties": {
                            "invoices": {"type": "array", "items": INVOICE}, "limit": {"type": "integer"},
                            "offset": {"type": "integer"}}}, "Invoices"), **_errors(401, 422)}},
            },
            "/api/invoices/{request_id}": {"get": {"summary": "One of my invoices", "parameters": request_id,
                                                   "responses": {"200": _json(INVOICE, "The invoice"), **_errors(401, 404)}}},
            "/api/scores": {"post": {"summary": "Ask for my score",
                                     "responses": {"202": _json(ACCEPTED, "Durably in Kafka; the answer follows"),
                                                   **_errors(401, 503)}}},
            "/api/scores/latest": {"get": {"summary": "My latest calculated score",
                                           "responses": {"200": _json(SCORE, "The score"), **_errors(401, 404)}}},
            "/api/scores/{request_id}": {"get": {"summary": "One score request of mine", "parameters": request_id,
                                                 "responses": {"200": _json(SCORE, "The score request"), **_errors(401, 404)}}},
        },
    }
