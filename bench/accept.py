"""`dashboard.accept`: POST /api/invoices accepted per second by one dashboard process, against the least a Starlette
endpoint can do for the same request (bench/bare_intake.py), each driven by vegeta in the same run.

vegeta keeps `connections` requests in flight (one per connection, closed loop) for `seconds`, after a short warm-up,
with the same body for every request and a few signed-in users taken in turn (the baseline gets the same users'
ids in a header). A request counts as accepted on 202. The CPU per accepted request is the server process's own
utime + stime (every thread, librdkafka's included) over the attack. The stack works off the requests of one
contender (the invoice generators turn each into an invoice) before the next begins.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bench import accounts, groups, processes, vegeta
from bench.processes import Server
from bench.vegeta import Target

__all__ = ["measure"]

BASELINE_PORT = 8090
INVOICE = json.dumps({
    "customer": {"name": "Bench Serviços Ltda", "tax_id": "11.222.333/0001-81"},
    "items": [{"description": "Consultoria", "quantity": "2", "unit_price": "150.00"}],
}).encode()


def _targets(url: str, headers: list[tuple[str, str]]) -> list[Target]:
    return [Target("POST", f"{url}/api/invoices", INVOICE, (("Content-Type", "application/json"), header))
            for header in headers]


def _accepted(server: Server, targets: list[Target], seconds: float, connections: int, folder: Path,
              name: str) -> dict[str, Any]:
    vegeta.attack(targets, folder / f"{name}-warm", seconds=2, connections=connections)
    before = processes.cpu_seconds(server.pid)
    attack = vegeta.attack(targets, folder / name, seconds=seconds, connections=connections)
    cpu = processes.cpu_seconds(server.pid) - before
    result = vegeta.summary(vegeta.report(attack.results))
    result.update(unit="req/s", value=round(result["accepted_rate"]), connections=connections, seconds=seconds,
                  cpu_seconds=round(cpu, 2), cpu_us_per_record=round(cpu / max(result["accepted"], 1) * 1e6, 1),
                  generator_cpu_us_per_request=round(attack.generator_cpu_seconds / max(result["requests"], 1) * 1e6, 1))
    print(f"  {name}: {result['accepted_rate']:,.0f} accepted/s of {result['requests']:,} sent, HTTP p50"
          f" {result['http_p50_ms']} ms, p99 {result['http_p99_ms']} ms, server CPU {result['cpu_us_per_record']} us"
          f" per accepted request, codes {result['status_codes']}", flush=True)
    return result


def measure(seconds: float = 10, connections: int = 32, users: int = 4) -> list[dict[str, Any]]:
    dashboard = processes.running_dashboards(1)[0]
    people = accounts.sign_up(dashboard.url, users)
    readers = [dashboard.group] if dashboard.group else []
    groups.settle(readers)
    with tempfile.TemporaryDirectory(prefix="bench-accept-") as scratch:
        folder = Path(scratch)
        with processes.started(["-m", "bench.bare_intake", str(BASELINE_PORT)], BASELINE_PORT, {}) as bare:
            baseline = _accepted(bare, _targets(bare.url, [("X-User-Id", p.id) for p in people]), seconds,
                                 connections, folder, "baseline")
        print(f"  (the stack worked off the baseline's requests in {groups.settle(readers):.0f} s)", flush=True)
        ours = _accepted(dashboard, _targets(dashboard.url, [("Cookie", p.cookie_header) for p in people]), seconds,
                         connections, folder, "dashboard")
    print(f"  (the stack worked off the dashboard's requests in {groups.settle(readers):.0f} s)", flush=True)
    ratio = round(ours["value"] / baseline["value"], 3) if baseline["value"] else None
    cpu_ratio = (round(ours["cpu_us_per_record"] / baseline["cpu_us_per_record"], 2)
                 if baseline["cpu_us_per_record"] else None)
    return [
        {"name": "dashboard.accept", **ours, "database": dashboard.database,
         "baseline": {"name": "minimal Starlette endpoint: same JSON, same Avro record and producer, acks=all",
                      "value": baseline["value"], "cpu_us_per_record": baseline["cpu_us_per_record"]},
         "ratio": ratio, "cpu_ratio": cpu_ratio, "target": ">= 0.8x accepted/s, <= 2x CPU per request",
         "met": ratio is not None and ratio >= 0.8 and cpu_ratio is not None and cpu_ratio <= 2},
        {"name": "peer.bare_intake", **baseline},
    ]


if __name__ == "__main__":
    print(json.dumps(measure(float(os.environ.get("BENCH_SECONDS", "10"))), indent=2))
