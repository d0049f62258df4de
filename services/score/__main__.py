"""The score calculator: keeps each user's invoicing history and answers score requests."""

from __future__ import annotations

import os
from pathlib import Path

from messaging.runtime import Runtime
from messaging.service import run_service
from messaging.settings import env_int
from messaging.worker import Worker
from services.score.handler import make_history_handler, make_request_handler
from services.score.history import History


def build(runtime: Runtime) -> list[Worker]:
    invoices = runtime.manifest.carrying("invoice_reply")
    requests = runtime.manifest.carrying("score_request")
    replies = runtime.manifest.carrying("score_reply")
    runtime.prepare(invoices, requests, replies)
    history = History(Path(os.environ.get("SCORE_DB_PATH", "var/db/score.sqlite3")))
    return [
        # Its own consumer group: the history is built from every invoice reply, whoever else reads them.
        Worker(runtime, os.environ.get("SCORE_HISTORY_GROUP", "score-history"), {invoices: make_history_handler(history)},
               state=history),
        Worker(runtime, os.environ.get("SCORE_GROUP", "score-calculator"), {requests: make_request_handler(history, replies)}),
    ]


if __name__ == "__main__":
    raise SystemExit(run_service("score", build, env_int("HEALTH_PORT", 8102)))
