"""How the bench talks to vegeta: targets in its JSON format, its per-request CSV and its JSON report read back."""

from __future__ import annotations

import base64
import json

from bench.vegeta import Hit, Target, parse_hits, summary, target_lines


def test_targets_are_json_lines_with_the_body_in_base64_and_headers_as_lists() -> None:
    lines = target_lines([
        Target("POST", "http://127.0.0.1:8000/api/invoices", b'{"a": 1}', (("Cookie", "session=x"), ("X-A", "1"))),
        Target("GET", "http://127.0.0.1:8001/healthz"),
    ])
    first, second = (json.loads(line) for line in lines.splitlines())
    assert first == {"method": "POST", "url": "http://127.0.0.1:8000/api/invoices",
                     "body": base64.b64encode(b'{"a": 1}').decode(), "header": {"Cookie": ["session=x"], "X-A": ["1"]}}
    assert second == {"method": "GET", "url": "http://127.0.0.1:8001/healthz"}


def test_hits_carry_start_time_status_latency_error_and_body() -> None:
    body = base64.b64encode(b'{"request_id": "r1"}').decode()
    text = (f"1764489600123456789,202,5000000,120,80,,{body},,1,POST,http://x/api/invoices,\n"
            '1764489600223456789,0,30000000000,120,0,"Post ""http://x"": timeout, retry",,,2,POST,http://x/api/invoices,\n')
    assert list(parse_hits(text)) == [
        Hit(1764489600123456789, 202, 5_000_000, "", b'{"request_id": "r1"}'),
        Hit(1764489600223456789, 0, 30_000_000_000, 'Post "http://x": timeout, retry', b""),
    ]


def test_summary_counts_only_the_accepted_code_over_the_attack_and_its_wait() -> None:
    report = {"requests": 1000, "rate": 100.04, "duration": 9_000_000_000, "wait": 1_000_000_000,
              "latencies": {"50th": 2_500_000, "95th": 10_000_000, "99th": 20_040_000},
              "status_codes": {"202": 900, "503": 100}, "errors": ["503 Service Unavailable"]}
    assert summary(report) == {
        "requests": 1000, "sent_rate": 100.0, "accepted": 900, "accepted_rate": 90.0,
        "http_p50_ms": 2.5, "http_p95_ms": 10.0, "http_p99_ms": 20.0,
        "status_codes": {"202": 900, "503": 100}, "errors": ["503 Service Unavailable"],
    }


def test_a_report_without_status_codes_accepts_nothing() -> None:
    report = {"requests": 0, "rate": 0, "duration": 0, "wait": 0, "latencies": {"50th": 0, "95th": 0, "99th": 0}}
    assert summary(report)["accepted_rate"] == 0.0
