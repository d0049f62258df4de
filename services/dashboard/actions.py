"""What the pages and the API both do: submit a request to Kafka, and read JSON bodies safely."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from starlette.requests import Request

from services.dashboard.bus import Bus, Unavailable
from services.dashboard.db import Database, User
from services.dashboard.views import jsonable

__all__ = ["BadBody", "MAX_BODY_BYTES", "read_json", "submit"]

MAX_BODY_BYTES = 64 * 1024


class BadBody(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def read_body(request: Request) -> bytes:
    """The body, refused with 413 past MAX_BODY_BYTES whether or not a Content-Length was sent."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise BadBody(413, f"the body must be at most {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise BadBody(413, f"the body must be at most {MAX_BODY_BYTES} bytes")
    return bytes(body)


async def read_json(request: Request) -> Any:
    """A JSON body, numbers as Decimal so money never passes through a float."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise BadBody(415, "send the body as application/json")
    body = await read_body(request)
    try:
        return json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError) as error:
        raise BadBody(400, f"the body is not valid JSON: {error}") from None


async def submit(db: Database, bus: Bus, user: User, kind: str, fields: dict[str, Any]) -> str:
    """Record the request as pending and put it on Kafka; its id once Kafka has it, Unavailable if not."""
    request_id = uuid.uuid4()
    value = {
        "request_id": request_id,
        "user_id": uuid.UUID(user.id),
        "requested_at": datetime.now(timezone.utc),
        **fields,
    }
    db.add_request(str(request_id), kind, user.id, jsonable(fields))
    try:
        await bus.ask(kind, user.id, str(request_id), value)
    except Unavailable:
        db.forget_request(str(request_id))
        raise
    return str(request_id)
