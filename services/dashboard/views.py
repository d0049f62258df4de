"""What the pages and the API show of a submission: plain JSON-ready dicts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from services.dashboard.db import Submission

__all__ = ["event_of", "invoice_view", "jsonable", "score_view"]


def jsonable(value: Any) -> Any:
    """An Avro record as JSON: money stays exact as a string, times are ISO 8601 UTC."""
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, UUID):
        return str(value)
    return value


def _time(millis: int) -> str:
    return str(jsonable(datetime.fromtimestamp(millis / 1000, UTC)))


def _state(submission: Submission) -> dict[str, Any]:
    return {
        "request_id": submission.request_id,
        "status": submission.status,
        "requested_at": _time(submission.created_at),
        "updated_at": _time(submission.updated_at),
    }


def invoice_view(submission: Submission) -> dict[str, Any]:
    reply = submission.reply or {}
    return {
        **_state(submission),
        "request": submission.request,
        "invoice": reply.get("invoice"),
        "rejection_reasons": reply.get("rejection_reasons", []),
        "url": f"/api/invoices/{submission.request_id}",
    }


def score_view(submission: Submission) -> dict[str, Any]:
    reply = submission.reply or {}
    return {
        **_state(submission),
        "score": reply.get("score"),
        "tier": reply.get("tier"),
        "factors": reply.get("factors", []),
        "invoices_considered": reply.get("invoices_considered"),
        "calculated_at": reply.get("calculated_at"),
        "url": f"/api/scores/{submission.request_id}",
    }


def event_of(submission: Submission) -> dict[str, Any]:
    """The SSE event announcing a request's new state."""
    view = invoice_view(submission) if submission.kind == "invoice" else score_view(submission)
    return {"kind": submission.kind, **view}
