"""`move.*`: the invoice group moved from 6 to 12 partitions (messaging/repartition.py) in a scratch deployment beside
the stack (stack/scratch.py), holding the state of USERS users (a decision each, written to the changelog before the
move, so the new partitions' workers restore what moved to them), while requests come through the scratch dashboard:

- `move.state_users`: the seconds the command spent moving state: its three passes over the changelog (the copy,
  the copy of what came since, the tombstones), target at most 10 s for 100,000 users;
- `move.total`: the whole command, its waits included (the workers rebalancing, every producer learning the new
  count, what the old partitions held handled), with its CPU per changelog entry read from its own counters;
- `move.p99_during`: request-to-answer p99 of the requests sent while the move ran, against the same measured just
  before on the same deployment with no move (baseline, same run). A moving user's request waits while the worker
  of its new partition holds it (until the copying is over), which is what this shows.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from bench import accounts, vegeta
from bench.accept import INVOICE
from bench.latency import Listener, percentile, waits_ms
from bench.processes import Server
from bench.vegeta import Target
from contracts.partitioning import partition_for
from contracts.records import GENERATE_INVOICE, INVOICE_DECISIONS_CHANGELOG
from stack.scratch import Scratch

__all__ = ["measure"]

USERS = int(os.environ.get("BENCH_MOVE_USERS", "100000"))
RATE, LISTENERS = 100, 8
BASELINE_SECONDS, ATTACK_SECONDS, LEAD_SECONDS = 15, 60, 5
TARGET_SECONDS = 10.0


def _fill(scratch: Scratch, users: int) -> None:
    """A decision for each of `users` users, on the changelog partition of the user's key (as the worker writes)."""
    runtime = scratch.runtime
    changelog = runtime.manifest.topic(INVOICE_DECISIONS_CHANGELOG)
    requests = runtime.manifest.topic(GENERATE_INVOICE)
    keys, values, user_keys = runtime.codec(changelog.key), runtime.codec(changelog.value), runtime.codec(requests.key)
    producer = Producer({**runtime.producer_config(), "linger.ms": 50, "batch.size": 1_000_000})
    decided = datetime.now(UTC).replace(microsecond=0)
    for n in range(users):
        user = uuid.uuid4()
        producer.produce(changelog.name, partition=partition_for(user_keys.encode({"user_id": user}), changelog.partitions),
                         key=keys.encode({"user_id": user, "request_id": uuid.uuid4()}),
                         value=values.encode({"fingerprint": f"{n:064x}", "number": 1, "decided_at": decided,
                                              "iss_rate": Decimal("0.05")}))
        if n % 10_000 == 0:
            producer.poll(0)
    assert producer.flush(120) == 0, "the changelog entries were not all written"


def _p99(hits: list[vegeta.Hit], answered: dict[str, int], since_ns: int = 0,
         until_ns: int | None = None) -> tuple[float | None, int]:
    """p99 (ms) of the accepted requests sent in [since, until], and how many of them were never answered."""
    waits, unanswered = waits_ms(hits, answered, since_ns, until_ns)
    return (round(percentile(waits, 0.99), 1) if waits else None), unanswered


class _Move:
    """The command, run as a process with its output stamped line by line; its CPU from its own counters."""

    def __init__(self, scratch: Scratch) -> None:
        self.scratch = scratch
        self.lines: list[tuple[float, str]] = []
        self.began_ns = self.ended_ns = 0
        self.cpu_seconds = 0.0
        self.code = -1

    def run(self) -> None:
        command = [sys.executable, "-u", "-m", "messaging.repartition", self.scratch.group("invoice"), "12", "--apply",
                   "--manifest", str(self.scratch.manifest_path)]
        self.began_ns = time.time_ns()
        process = subprocess.Popen(command, env=self.scratch.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append((time.monotonic(), line.rstrip()))
            print(f"    {line.rstrip()}", flush=True)
        _, status, usage = os.wait4(process.pid, 0)
        self.ended_ns = time.time_ns()
        self.code = os.waitstatus_to_exitcode(status)
        self.cpu_seconds = usage.ru_utime + usage.ru_stime

    def scans(self) -> tuple[float, int]:
        """Seconds of the three passes over the changelog, and the entries they read."""
        seconds, read = 0.0, 0
        for _, line in self.lines:
            found = re.search(r"entries of moving users \((\d+) read\) in ([0-9.]+) s", line)
            if found:
                read += int(found[1])
                seconds += float(found[2])
        return round(seconds, 2), read


async def _attack(server: Server, people: list[accounts.Account], seconds: float, out: Path,
                  during: threading.Thread | None) -> tuple[list[vegeta.Hit], dict[str, int]]:
    listeners = [Listener(server, person) for person in people]
    tasks = [asyncio.create_task(listener.listen()) for listener in listeners]
    try:
        await asyncio.wait_for(asyncio.gather(*(listener.connected.wait() for listener in listeners)), 30)
        targets = [Target("POST", f"{server.url}/api/invoices", INVOICE,
                          (("Content-Type", "application/json"), ("Cookie", person.cookie_header))) for person in people]
        attack = asyncio.create_task(asyncio.to_thread(vegeta.attack, targets, out, seconds=seconds, rate=RATE))
        if during is not None:
            await asyncio.sleep(LEAD_SECONDS)
            during.start()
            await asyncio.to_thread(during.join)
        results = await attack
        hits = await asyncio.to_thread(vegeta.hits, results.results)
        expected = sum(hit.code == 202 for hit in hits)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum(len(listener.answered) for listener in listeners) < expected:
            await asyncio.sleep(0.2)
        return hits, {request_id: at for listener in listeners for request_id, at in listener.answered.items()}
    finally:
        for task in tasks:
            task.cancel()
        for listener in listeners:
            await listener.client.aclose()


def measure(users: int = USERS) -> list[dict[str, Any]]:
    with Scratch() as scratch, tempfile.TemporaryDirectory(prefix="bench-move-") as folder:
        began = time.monotonic()
        _fill(scratch, users)
        print(f"  {users:,} users' state written to the changelog in {time.monotonic() - began:.1f} s", flush=True)
        server = Server(scratch.dashboard_url, 0, "sqlite")
        people = accounts.sign_up(server.url, LISTENERS)
        hits, answered = asyncio.run(_attack(server, people, BASELINE_SECONDS, Path(folder) / "baseline", None))
        baseline, _ = _p99(hits, answered)
        move = _Move(scratch)
        hits, answered = asyncio.run(_attack(server, people, ATTACK_SECONDS, Path(folder) / "move",
                                             threading.Thread(target=move.run)))
    if move.code != 0:
        raise RuntimeError(f"the move failed (exit {move.code}): {move.lines[-1][1] if move.lines else 'no output'}")
    during, unanswered = _p99(hits, answered, move.began_ns, move.ended_ns)
    scanned, read = move.scans()
    total = round((move.ended_ns - move.began_ns) / 1e9, 2)
    print(f"  moved: state in {scanned} s ({read:,} entries read), the whole command {total} s;"
          f" p99 {during} ms during it ({unanswered} unanswered), {baseline} ms before", flush=True)
    return [
        {"name": f"move.state_{users // 1000}k_users", "unit": "s", "value": scanned, "entries_read": read,
         "target": f"<= {TARGET_SECONDS:.0f} s for 100,000 users", "met": scanned <= TARGET_SECONDS},
        {"name": "move.total", "unit": "s", "value": total,
         "cpu_us_per_record": round(move.cpu_seconds / max(read, 1) * 1e6, 1)},
        {"name": "move.p99_during", "unit": f"ms (p99 at {RATE} req/s)", "value": during, "unanswered": unanswered,
         "baseline": {"name": "no move, same deployment", "value": baseline},
         "ratio": round(during / baseline, 1) if during and baseline else None},
    ]
