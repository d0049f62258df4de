"""The latency of a request: from vegeta's start time for it to the moment its answer's event arrived."""

from __future__ import annotations

import json

from bench.latency import percentile, waits_ms
from bench.vegeta import Hit


def _hit(began_ns: int, code: int, request_id: str | None = None) -> Hit:
    body = json.dumps({"request_id": request_id, "status": "pending"}).encode() if request_id else b"{}"
    return Hit(began_ns, code, 1_000_000, "", body)


def test_only_accepted_requests_are_timed_and_the_unanswered_are_counted() -> None:
    hits = [_hit(1_000_000_000, 202, "a"), _hit(2_000_000_000, 202, "b"), _hit(3_000_000_000, 503)]
    answered = {"a": 1_025_500_000, "elsewhere": 5}
    assert waits_ms(hits, answered) == ([25.5], 1)


def test_percentiles_take_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1.0)) == (51.0, 99.0, 100.0)
