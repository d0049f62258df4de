"""Run every measurement with progress, print the table, and write results/bench.{json,md} and plots."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench import latency, pipeline, report, serde, startup

RESULTS = Path(os.environ.get("RESULTS_DIR", "results"))


def main() -> int:
    count = int(os.environ.get("BENCH_N", "50000"))
    entries = []
    steps = [
        ("serde: ours against plain fastavro and Confluent's serializers", serde.measure),
        (f"pipeline: {count:,} waiting invoice requests: the generator, Quix Streams, a bare loop, a raw passthrough",
         lambda: pipeline.measure(count)),
        ("latency: the dashboard's API at 100, 500 and 1,000 requests/s", lambda: latency.measure()),
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
