"""The score calculator: keeps each user's invoicing history and answers score requests."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from contracts.records import CALCULATE_SCORE, INVOICE_GENERATED, SCORE_CALCULATED, SCORE_HISTORY_CHANGELOG
from messaging.records import route
from messaging.runtime import Runtime
from messaging.service import run_service
from messaging.settings import env_int
from messaging.stores import StateSpec
from messaging.worker import Worker
from services.score.handler import make_history_handler, make_request_handler
from services.score.history import History
from services.score.scoring import Scale


def build(runtime: Runtime) -> list[Worker[History]]:
    invoices = runtime.manifest.topic(INVOICE_GENERATED)
    requests = runtime.manifest.topic(CALCULATE_SCORE)
    replies = runtime.manifest.topic(SCORE_CALCULATED)
    changelog = runtime.manifest.topic(SCORE_HISTORY_CHANGELOG)
    runtime.prepare(invoices, requests, replies, changelog)
    writes = runtime.codec(replies.value).version
    answer = make_request_handler(Scale.of(runtime.manifest), replies, writes, lambda: datetime.now(UTC))
    # One group reads both topics: partition p of the replies and of the requests belong to one member,
    # which answers a request only once it has read the replies up to where they ended at that moment.
    return [Worker(runtime, os.environ.get("SCORE_GROUP", runtime.manifest.consumer_groups["score"]),
                   [route(invoices, make_history_handler()), route(requests, answer)],
                   state=StateSpec(changelog, History), after={requests: invoices})]


if __name__ == "__main__":
    raise SystemExit(run_service("score", build, env_int("HEALTH_PORT", 8102)))
