"""Prometheus metrics every worker exposes, and the small HTTP endpoint that serves them with health."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from messaging.health import ClientStatus, readiness

__all__ = [
    "BATCH_SECONDS", "FAILED", "FORWARDED_RECORDS", "IN", "OUT", "PROCESSING", "RESTORED", "RESTORE_SECONDS", "TRANSACTIONS",
    "serve_health",
]

IN = Counter("messages_in", "Messages consumed", ["service", "topic"])
OUT = Counter("messages_out", "Messages produced", ["service", "topic"])
FAILED = Counter("messages_failed", "Messages that could not be handled", ["service", "topic", "error"])
FORWARDED_RECORDS = Counter(
    "records_forwarded", "Records found on another partition than their key's and forwarded there, by the client that"
    " wrote them (its client.id header, or unnamed)", ["service", "topic", "client_id"])
PROCESSING = Histogram(
    "processing_seconds", "Time to handle one consumed message", ["service", "topic"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
TRANSACTIONS = Counter("transactions", "Kafka transactions ended, by outcome", ["service", "outcome"])
BATCH_SECONDS = Histogram(
    "batch_seconds", "Time from a batch's first record in hand to its transaction (or offsets) committed",
    ["service"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
RESTORED = Counter("state_restored_entries", "Changelog entries applied while restoring state", ["service", "changelog"])
RESTORE_SECONDS = Histogram(
    "state_restore_seconds", "Time to restore one partition's state from its changelog", ["service", "changelog"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)


def serve_health(port: int, statuses: Callable[[], list[ClientStatus]], host: str | None = None) -> ThreadingHTTPServer:
    """Serve /healthz (alive), /readyz (200 when every client is ready, else 503; the body says which is not, why
    and since when) and /metrics on a daemon thread.

    It listens on `host`, else HEALTH_HOST, else loopback only: a container sets 0.0.0.0 so its
    platform's probes and scrapers reach it, while a process on a shared machine exposes nothing.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            if self.path == "/metrics":
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                self._send(200, b"ok\n")
            elif self.path == "/readyz":
                ready, body = readiness(statuses())
                self._send(200 if ready else 503, json.dumps(body).encode(), "application/json")
            else:
                self._send(404, b"not found\n")

        def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:  # scrapes every few seconds would drown the logs
            pass

        def version_string(self) -> str:  # no banner naming the server and Python's version
            return "health"

    server = ThreadingHTTPServer((host or os.environ.get("HEALTH_HOST") or "127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server
