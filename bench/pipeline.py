"""`pipeline.*`: N waiting invoice requests drained by the project's generator and by its baselines, each in a
process of its own on the same scratch topic, in the same run (see bench/peers.py for how it is measured).

Contenders: the generator exactly once (the default) and at least once, with 1, 2 and 4 processes; Quix
Streams doing the same work exactly once and at least once; a bare loop doing decode, validation, totals
and encode without state; and a raw consume-produce passthrough of the same bytes, the physical limit.
`pipeline.restore` times one worker restoring 100,000 state entries from a changelog into an empty
state directory. `pipeline.invoice.before` runs the generator of another commit (BENCH_BEFORE, a git ref; by default
the one before every stateful consumer checked each record's partition) in the same run, from a worktree of the
repository, and `pipeline.placement` times that check alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from bench import peers
from contracts.records import GENERATE_INVOICE, INVOICE_DECISIONS_CHANGELOG
from messaging.gate import Placement
from messaging.records import Outgoing
from messaging.runtime import Runtime
from messaging.stores import StateSpec, Stores
from services.invoice.store import InvoiceState
from stack.paths import REPO

__all__ = ["measure"]

GENERATOR = "bench.generator_job"
# The commit before the partition check (the manifest's partitioner, misplaced records forwarded): what it costs.
BEFORE = os.environ.get("BENCH_BEFORE", "41b8fbe")


def _passthrough(work: peers.Workload) -> float:
    """Messages per second of a raw consume-produce copy of the waiting requests to a scratch topic."""
    kafka = work.runtime.settings.kafka_client
    target = work.name("passthrough")
    admin = AdminClient(dict(kafka))
    admin.create_topics([NewTopic(target, 6, 1)])[target].result(timeout=30)
    consumer = Consumer({**kafka, "group.id": work.name("passthrough"),
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    producer = Producer(work.runtime.producer_config())
    consumer.subscribe([work.name("requests")])
    copied, began = 0, None
    while copied < work.count:
        for message in consumer.consume(500, timeout=1.0):
            if message.error() is None:
                began = began or time.perf_counter()
                producer.produce(target, key=message.key(), value=message.value(), headers=message.headers())
                copied += 1
        producer.poll(0)
    producer.flush(120)
    seconds = time.perf_counter() - (began or time.perf_counter())
    consumer.close()
    print(f"  raw passthrough: {copied / seconds:,.0f} msg/s", flush=True)
    return copied / seconds


def _generator(work: peers.Workload, guarantee: str, processes: int) -> dict[str, Any]:
    contender = f"generator-{guarantee}-{processes}"
    extra = {"guarantee": guarantee, "changelog": work.name(f"{contender}-changelog"), "stop": "terminate"}
    return peers.contend(work, contender, Path(sys.executable), GENERATOR, extra, numbered=True, processes=processes)


def tree_at(ref: str) -> Path | None:
    """A checkout of commit `ref` beside this one (made once), to run its generator; None when the clone lacks it."""
    tree = REPO / ".cache" / f"bench-before-{ref}"
    if not tree.exists():
        made = subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), ref],
                              capture_output=True, text=True)
        if made.returncode != 0:
            print(f"  the generator at {ref}: not measured ({made.stderr.strip().splitlines()[-1]})", flush=True)
            return None
    return tree


def _before(work: peers.Workload, ref: str) -> dict[str, Any] | None:
    """The generator of commit `ref`, exactly once, on the same requests; None when that commit is not in the clone."""
    tree = tree_at(ref)
    if tree is None:
        return None
    extra = {"guarantee": "exactly-once", "changelog": work.name("before-changelog"), "stop": "terminate"}
    return peers.contend(work, f"generator-at-{ref}", Path(sys.executable), GENERATOR, extra, numbered=True, tree=tree)


def _placement(users: int = 1000, records: int = 200_000) -> dict[str, Any]:
    """Microseconds the partition check adds to a record: its key's partition, the hash remembered per user."""
    runtime = Runtime("bench-placement")
    topic = runtime.manifest.topic(GENERATE_INVOICE)
    keys = [runtime.codec(topic.key).encode({"user_id": uuid.uuid4()}) for _ in range(users)]
    placement = Placement({topic.name: topic.partitioner})
    placement.partitions[topic.name] = topic.partitions
    owner = placement.owner
    began = time.perf_counter()
    for index in range(records):
        owner(topic.name, keys[index % users])
    seconds = time.perf_counter() - began
    runtime.close()
    cost = seconds / records * 1e6
    print(f"  the partition check: {cost:.2f} us per record", flush=True)
    return {"name": "pipeline.placement", "unit": "us", "value": round(cost, 2), "n": records,
            "note": f"{users:,} users, each key hashed once", "target": "<= 2 us", "met": cost <= 2}


def _restore(entries: int = 100_000) -> dict[str, Any]:
    """Seconds for one worker to restore `entries` decisions (6 partitions) into an empty state directory."""
    runtime = Runtime("bench-restore")
    changelog = dataclasses.replace(runtime.manifest.topic(INVOICE_DECISIONS_CHANGELOG),
                                    name=f"{peers.PREFIX}restore-{uuid.uuid4().hex[:8]}")
    admin = AdminClient({**runtime.settings.kafka_client})
    admin.create_topics([NewTopic(changelog.name, changelog.partitions, 1, config=changelog.config)])[
        changelog.name].result(timeout=30)
    try:
        users = [uuid.uuid4() for _ in range(1000)]
        now = datetime.now(UTC)
        for index in range(entries):
            user = users[index % len(users)]
            runtime.produce(Outgoing(changelog, {"user_id": user, "request_id": uuid.uuid4()},
                                     {"fingerprint": "f" * 64, "number": index // len(users) + 1, "decided_at": now,
                                      "iss_rate": Decimal("0.0500")},
                                     partition=(index % len(users)) % changelog.partitions))
            if index % 10_000 == 0:
                runtime.producer.poll(0)
        runtime.producer.flush(120)
        with tempfile.TemporaryDirectory(prefix=peers.PREFIX) as scratch:
            stores = Stores(runtime, StateSpec(changelog, InvoiceState), Path(scratch))
            began = time.perf_counter()
            stores.take(range(changelog.partitions))
            seconds = time.perf_counter() - began
            restored = sum(len(store.last_numbers()) for store in stores.open.values())
            stores.close()
        assert restored == len(users), f"restored {restored} users' counters, expected {len(users)}"
    finally:
        admin.delete_topics([changelog.name])[changelog.name].result(timeout=30)
        runtime.close()
    print(f"  restore: {entries:,} entries in {seconds:.2f} s", flush=True)
    return {"name": "pipeline.restore", "unit": "s", "value": round(seconds, 2), "n": entries,
            "target": "<= 5 s", "met": seconds <= 5}


def measure(count: int = 50_000, workers: tuple[int, ...] = (1, 2, 4)) -> list[dict[str, Any]]:
    python = peers.quix_python()
    with peers.workload(count) as work:
        passthrough = _passthrough(work)
        eos = {n: _generator(work, "exactly-once", n) for n in workers}
        alos = _generator(work, "at-least-once", 1)
        bare = peers.contend(work, "bare", Path(sys.executable), "bench.bare", {}, numbered=False)
        quix_eos = peers.contend(work, "quix-exactly-once", python, "bench.quix_invoice",
                                 {"guarantee": "exactly-once"}, numbered=True)
        quix_alos = peers.contend(work, "quix-at-least-once", python, "bench.quix_invoice",
                                  {"guarantee": "at-least-once"}, numbered=True)
        before = _before(work, BEFORE)
    one = eos[workers[0]]
    entries = [
        {"name": "pipeline.invoice", **one, "guarantee": "exactly-once",
         "baseline": {"name": "Quix Streams, same work, exactly-once", "value": quix_eos["value"]},
         "ratio": round(one["value"] / quix_eos["value"], 3), "target": ">= 1.3x"},
        {"name": "pipeline.invoice.vs_bare", "unit": "msg/s", "value": one["value"], "n": count,
         "baseline": {"name": "bare loop: decode, validate, totals, encode; at least once, no state",
                      "value": bare["value"]},
         "ratio": round(one["value"] / bare["value"], 3), "target": ">= 0.7x"},
        {"name": "pipeline.invoice.at_least_once", **alos, "guarantee": "at-least-once",
         "baseline": {"name": "the same pipeline, exactly-once", "value": one["value"]},
         "ratio": round(one["value"] / alos["value"], 3), "target": ">= 0.85x (exactly-once costs <= 15%)"},
        {"name": "pipeline.cpu_per_invoice", "unit": "us", "value": one["cpu_us_per_record"], "n": count,
         "baseline": {"name": "Quix Streams exactly-once", "value": quix_eos["cpu_us_per_record"]},
         "target": "<= 100 us"},
        {"name": "pipeline.passthrough", "unit": "msg/s", "value": round(passthrough), "n": count,
         "ratio": round(one["value"] / passthrough, 3), "note": "raw consume-produce of the same bytes: the physical limit"},
    ]
    for n in workers:
        entries.append({"name": f"pipeline.scaling.{n}", **eos[n], "workers": n,
                        "baseline": {"name": "1 worker, CPU per record", "value": one["cpu_us_per_record"]},
                        "ratio": round(eos[n]["cpu_us_per_record"] / one["cpu_us_per_record"], 3),
                        "target": "CPU per record <= 1.25x one worker's"})
    entries += [{"name": "peer.quix.exactly_once", **quix_eos}, {"name": "peer.quix.at_least_once", **quix_alos},
                {"name": "peer.bare", **bare}]
    if before is not None:
        entries.append({"name": "pipeline.invoice.before", **before, "commit": BEFORE,
                        "baseline": {"name": "this commit's generator, CPU per record", "value": one["cpu_us_per_record"]},
                        "ratio": round(one["cpu_us_per_record"] / before["cpu_us_per_record"], 3),
                        "note": f"the generator at {BEFORE}, before the partition check"})
    entries += [_placement(), _restore()]
    return entries


if __name__ == "__main__":
    print(json.dumps(measure(int(os.environ.get("BENCH_N", "50000"))), indent=2))
