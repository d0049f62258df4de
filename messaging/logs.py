"""Structured logs: one JSON object per line, carrying the request id of the message in hand (and, traced, the ids of
the span in hand)."""

from __future__ import annotations

import json
import logging
import os
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from messaging import tracing

__all__ = ["configure", "request_id"]

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName", "color_message"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (current := request_id.get()) is not None:
            entry["request_id"] = current
        if tracing.active and (ids := tracing.log_ids()) is not None:  # tracing: trace_id and span_id
            entry.update(ids)
        # Anything passed as logging's `extra=` becomes a field of its own.
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(service: str) -> None:
    """Send every log record to standard error as JSON; LOG_LEVEL (default INFO) sets the threshold."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    for name in ("httpx", "httpx2"):  # one line per registry call is noise (httpx2: SchemaRegistryClient's copy)
        logging.getLogger(name).setLevel(logging.WARNING)
