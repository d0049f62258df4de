"""What the pages and the API both do: read JSON bodies strictly, and submit a request to Kafka once per key."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request

from services.dashboard.db import Database, OffLoop, User
from services.dashboard.db.pending import PendingWriter
from services.dashboard.sender import DELIVERY_TIMEOUT_MS, NotSent, Sender, Unconfirmed
from services.dashboard.views import jsonable

__all__ = ["IDEMPOTENCY_HEADER", "IDEMPOTENCY_TTL_SECONDS", "BadBody", "KeyConflict", "read_json", "submit"]

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
# Sender.ask gives up 5 s after librdkafka's own delivery timeout; a key still 'sending' well after that was
# left by a process that stopped mid-send, and its request is answered as made (it may show timed out).
SENDING_DEADLINE_MS = DELIVERY_TIMEOUT_MS + 10_000


class BadBody(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class KeyConflict(Exception):
    """The idempotency key cannot be honoured: used for another request (422), or its request is in flight (409)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _DuplicateKey(ValueError):
    pass


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKey(f"the key {key!r} appears twice in one object: send each field once")
        found[key] = value
    return found


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


async def read_json(request: Request) -> Any:
    """A JSON body (UTF-8, every key once), numbers as Decimal so nothing passes through a float.

    The body's size and time are bounded by bodies.BodyLimits before this reads it.
    """
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise BadBody(415, "send the body as application/json")
    body = await request.body()
    try:
        return json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=_not_json, object_pairs_hook=_unique)
    except _DuplicateKey as duplicate:
        raise BadBody(400, str(duplicate)) from None
    except (ValueError, RecursionError) as error:
        raise BadBody(400, f"the body is not valid JSON: {error}") from None


def _fingerprint(kind: str, fields: dict[str, Any]) -> str:
    """What was asked, as parsed: a retry that spells an amount differently (1.5, 1.50) is the same request."""
    return hashlib.sha256(json.dumps([kind, jsonable(fields)], sort_keys=True).encode()).hexdigest()


async def _earlier(db: OffLoop[Database], user: User, kind: str, fields: dict[str, Any], key: str, request_id: str) -> str | None:
    """The request an earlier use of `key` made, None when `key` is now claimed for `request_id`; KeyConflict."""
    now = int(time.time() * 1000)
    fingerprint = _fingerprint(kind, fields)
    expired_before_ms = now - IDEMPOTENCY_TTL_SECONDS * 1000
    claim = await db.run(lambda database: database.keys.claim(user.id, key, fingerprint, request_id, expired_before_ms))
    if claim is None:
        return None
    if claim.fingerprint != fingerprint:
        raise KeyConflict(422, "this idempotency key was already used for a different request: use a new key"
                               " for a new request")
    if claim.state == "sending" and claim.created_at > now - SENDING_DEADLINE_MS:
        raise KeyConflict(409, "the request first sent with this idempotency key is still being sent: retry shortly")
    return claim.request_id


async def submit(db: OffLoop[Database], pending: PendingWriter, sender: Sender, user: User, kind: str,
                 fields: dict[str, Any], key: str | None = None) -> str:
    """Record the request as pending (with the others arriving at once: `pending`) and put it on Kafka; its id once
    Kafka has it. NotSent (the record is forgotten) or Unconfirmed (kept, naming the request) if not.

    With an idempotency `key` (scoped to the user) a repeat returns the first request's id instead of
    making another; KeyConflict when the key was used for something else or its first request is in flight.
    """
    request_id = uuid.uuid4()
    if key is not None and (earlier := await _earlier(db, user, kind, fields, key, str(request_id))) is not None:
        return earlier
    value = {
        "request_id": request_id,
        "user_id": uuid.UUID(user.id),
        "requested_at": datetime.now(UTC),
        **fields,
    }
    await pending.add(str(request_id), kind, user.id, jsonable(fields))
    try:
        await sender.ask(kind, user.id, str(request_id), value)
    except NotSent:
        await db.run(lambda database: database.submissions.forget(str(request_id)))
        raise
    except Unconfirmed as unconfirmed:
        # Kept: if the broker has it, it is answered and the user sees it; if not, it times out. An idempotency key
        # stays claimed, so a retry with it gets this request (once its send deadline passed), not a second one.
        raise Unconfirmed(str(unconfirmed), kind, str(request_id)) from None
    if key is not None:
        await db.run(lambda database: database.keys.accepted(str(request_id)))
    return str(request_id)
