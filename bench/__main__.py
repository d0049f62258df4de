"""Run every measurement with progress, print the table, and write results/bench.{json,md} and plots."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench import accept, latency, move, pipeline, report, serde, startup, tracing, vegeta

RESULTS = Path(os.environ.get("RESULTS_DIR", "results"))


def main() -> int:
    count = int(os.environ.get("BENCH_N", "50000"))
    dashboards = int(os.environ.get("DASHBOARDS") or 1)
    postgres = os.environ.get("BENCH_POSTGRES_URL")
    try:
        vegeta.binary()  # before the long steps, not after them
    except FileNotFoundError as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 1
    entries = []
    steps = [
        ("serde: ours against plain fastavro and Confluent's serializers", serde.measure),
        (f"pipeline: {count:,} waiting invoice requests: the generator, Quix Streams, a bare loop, a raw passthrough",
         lambda: pipeline.measure(count)),
        ("pipeline.tracing: the generator traced, untraced, and before tracing, interleaved, then side by side",
         lambda: tracing.measure(min(count, 20_000)) + tracing.paired(min(count, 10_000))),
        ("dashboard.accept: one dashboard against a minimal Starlette endpoint, driven by vegeta", accept.measure),
        (f"latency: request to live update through {dashboards} dashboards at 100, 500 and 1,000 requests/s",
         lambda: latency.measure(dashboards=dashboards)),
        (f"latency: one dashboard, then two, of the bench's own on {'PostgreSQL' if postgres else 'SQLite'}, from 50"
         " to 700 requests/s", lambda: latency.measure_scale(postgres)),
        (f"move: the invoice group from 6 to 12 partitions with {move.USERS:,} users' state, under load", move.measure),
        ("stack: make up, warm", startup.measure),
    ]
    for number, (title, run) in enumerate(steps, start=1):
        print(f"[{number}/{len(steps)}] {title}", flush=True)
        entries += run()
    written = report.write(entries, RESULTS)
    print()
    print(report.table(entries))
    print("\nwritten: " + ", ".join(str(path) for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
