"""`pipeline.invoice` and `pipeline.scaling`: invoice requests already in the topic, drained by the generator,
against a raw consume-produce passthrough of the same bytes on the same broker, in the same run."""

from __future__ import annotations

import os
import sys
import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import httpx
from confluent_kafka import ConsumerGroupTopicPartitions, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from messaging.offsets import end_offsets
from messaging.runtime import Outgoing, Runtime
from stack import procs
from stack.services import services

__all__ = ["measure"]

SCRATCH = "bench-passthrough"  # the baseline's output; not a contract topic, so not in the manifest
PRODUCER = {"enable.idempotence": True, "acks": "all", "linger.ms": 5, "compression.type": "lz4"}
INVOICE = next(s for s in services() if s.name == "invoice")


def _request(user: uuid.UUID, index: int) -> dict[str, Any]:
    return {
        "request_id": uuid.uuid4(), "user_id": user, "requested_at": datetime.now(timezone.utc),
        "customer": {"name": f"Cliente {index}", "tax_id": "11.222.333/0001-81"},
        "items": [{"description": "Consultoria", "quantity": Decimal("2.000"), "unit_price": Decimal("150.00")},
                  {"description": "Deslocamento", "quantity": Decimal("1.000"), "unit_price": Decimal("80.50")}],
    }


def _fill(runtime: Runtime, count: int) -> None:
    topic = runtime.manifest.carrying("invoice_request")
    users = [uuid.uuid4() for _ in range(1000)]
    for index in range(count):
        user = users[index % len(users)]
        runtime.produce(Outgoing(topic, {"user_id": user}, _request(user, index)))
        if index % 10_000 == 0:
            runtime.producer.poll(0)
            print(f"  filling generate-invoice: {index:,}/{count:,}", end="\r", flush=True)
    runtime.producer.flush(120)
    print(f"  filled generate-invoice with {count:,} requests      ", flush=True)


def _passthrough(settings_servers: str, source: str, starts: dict[int, int], count: int) -> float:
    """Messages per second of a raw consume-produce copy of `count` records from `starts` to SCRATCH."""
    consumer = Consumer({"bootstrap.servers": settings_servers, "group.id": f"bench-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    producer = Producer({"bootstrap.servers": settings_servers, **PRODUCER})
    consumer.assign([TopicPartition(source, p, o) for p, o in starts.items()])
    copied = 0
    began = time.perf_counter()
    while copied < count:
        for message in consumer.consume(500, timeout=1.0):
            if message.error() is None:
                producer.produce(SCRATCH, key=message.key(), value=message.value(), headers=message.headers())
                copied += 1
        producer.poll(0)
    producer.flush(120)
    seconds = time.perf_counter() - began
    consumer.close()
    return copied / seconds


def _drain(runtime: Runtime, workers: int, count: int) -> float:
    """Messages per second of `workers` invoice generator processes answering `count` waiting requests."""
    probe = Consumer({"bootstrap.servers": runtime.settings.bootstrap_servers, "group.id": f"bench-{uuid.uuid4()}"})
    replies = runtime.manifest.carrying("invoice_reply").name
    before = sum(end_offsets(probe, replies).values())
    names = [INVOICE.name] + [f"invoice-{n}" for n in range(2, workers + 1)]
    for n, name in enumerate(names):
        env = {"HEALTH_PORT": str(INVOICE.port + 100 * n), "INSTANCE_ID": name}
        procs.start(name, [sys.executable, "-m", INVOICE.module], env=env)
    began = None
    while began is None or sum(end_offsets(probe, replies).values()) - before < count:
        if began is None and any(_ready(INVOICE.port + 100 * n) for n in range(workers)):
            began = time.perf_counter()
        time.sleep(0.05)
    seconds = time.perf_counter() - began
    for name in names:
        procs.stop(name)
    probe.close()
    return count / seconds


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=0.5).is_success
    except httpx.HTTPError:
        return False


def _catch_up(servers: str, groups: list[str], topic: str, deadline_s: float = 600) -> None:
    """Wait until the restarted consumers have read the replies the bench produced, so the next
    measurement does not queue behind them."""
    admin = AdminClient({"bootstrap.servers": servers})
    probe = Consumer({"bootstrap.servers": servers, "group.id": f"bench-{uuid.uuid4()}"})
    ends = end_offsets(probe, topic)
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        lag = 0
        for group in groups:
            request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in ends])
            committed = admin.list_consumer_group_offsets([request])[group].result().topic_partitions
            lag += sum(max(0, ends[tp.partition] - max(tp.offset, 0)) for tp in committed)
        print(f"  waiting for the dashboard and the score history to read the bench's replies: {lag:,} left   ",
              end="\r", flush=True)
        if lag == 0:
            break
        time.sleep(1)
    print()
    probe.close()


def measure(count: int = 100_000, workers: tuple[int, ...] = (1, 2, 4)) -> list[dict[str, Any]]:
    runtime = Runtime("bench")
    admin = AdminClient({"bootstrap.servers": runtime.settings.bootstrap_servers})
    if SCRATCH not in admin.list_topics(timeout=10).topics:
        admin.create_topics([NewTopic(SCRATCH, 6, 1)])[SCRATCH].result(timeout=30)
    requests = runtime.manifest.carrying("invoice_request").name
    replies_topic = runtime.manifest.carrying("invoice_reply").name
    # The consumers of the replies would compete for the two cores; they catch up after the bench.
    for name in ("score", "dashboard", "invoice"):
        procs.stop(name)
    probe = Consumer({"bootstrap.servers": runtime.settings.bootstrap_servers, "group.id": f"bench-{uuid.uuid4()}"})
    rates: dict[int, float] = {}
    baselines: list[float] = []
    for run, n in enumerate(workers):
        starts = end_offsets(probe, requests)
        _fill(runtime, count)
        baselines.append(_passthrough(runtime.settings.bootstrap_servers, requests, starts, count))
        print(f"  passthrough baseline: {baselines[-1]:,.0f} msg/s", flush=True)
        rates[n] = _drain(runtime, n, count)
        print(f"  {n} invoice generator(s): {rates[n]:,.0f} msg/s", flush=True)
    probe.close()
    runtime.close()
    for service in services():  # back as `make up` left them
        service.start()
    _catch_up(runtime.settings.bootstrap_servers, ["dashboard", "score-history"], replies_topic)
    baseline = baselines[0]
    entries = [{"name": "pipeline.invoice", "unit": "msg/s", "value": round(rates[1]), "n": count,
                "baseline": {"name": "raw consume-produce passthrough", "value": round(baseline)},
                "ratio": round(rates[1] / baseline, 3)}]
    for n in workers:
        entries.append({"name": f"pipeline.scaling.{n}", "unit": "msg/s", "value": round(rates[n]), "n": count,
                        "workers": n, "baseline": {"name": "raw passthrough, same run", "value": round(baselines[workers.index(n)])},
                        "ratio": round(rates[n] / baselines[workers.index(n)], 3)})
    return entries


if __name__ == "__main__":
    import json

    print(json.dumps(measure(int(os.environ.get("BENCH_N", "100000"))), indent=2))
