"""`peer.quix.*` and `peer.bare`: the invoice work done by Quix Streams and by a bare loop, as baselines for
`pipeline.invoice`, on scratch topics so the running services are not disturbed.

Each measurement fills a scratch request topic (`bench-peer-<run>-requests`, partitioned like generate-invoice)
with N waiting requests in the Confluent wire format under the registered generate-invoice-value id. Each
contender then runs in a process of its own and drains them from the beginning in a fresh consumer group into
a reply topic of its own, borrowing the invoice-generated subjects (it never registers one):

- `peer.quix.exactly_once` / `peer.quix.at_least_once`: bench/quix_invoice.py, Quix Streams with its Avro
  serdes over the registry and the per-user invoice counter in Quix state, in `.cache/quix-venv/` (Quix pins
  confluent-kafka below the project's), made here on first use;
- `peer.bare`: bench/bare.py, confluent-kafka and plain fastavro, at least once, no state.

The rate is N over the time from the contender's first record in hand to the moment all N replies are
visible to a read_committed consumer here. Counting replies rather than reading end offsets matters: under
exactly-once each transaction also writes a commit marker into every partition it touched, so the end offsets
run ahead of the records. The CPU per record is the contender's own getrusage (every thread, librdkafka's
included) over the same stretch. Every reply is then decoded with the project's codec and checked: one per
request, and for Quix each user's numbers 1..k without a gap. The scratch topics (Quix's changelog topics
among them) and consumer groups are deleted afterwards.

`python -m bench.peers [N]` runs both alone and prints JSON (N defaults to BENCH_N, else 50,000).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from contracts.manifest import Topic
from contracts.records import GENERATE_INVOICE, INVOICE_GENERATED
from messaging.runtime import Runtime
from stack.paths import REPO

__all__ = ["QUIX_PINS", "Workload", "contend", "measure_bare", "measure_quix", "quix_python", "workload"]

QUIX_PINS = ("quixstreams==3.28.1", "confluent-kafka==2.12.2", "fastavro==1.13.1")
QUIX_VENV = REPO / ".cache" / "quix-venv"
PREFIX = "bench-peer-"
USERS = 1000


def quix_python() -> Path:
    """The interpreter of the Quix Streams environment, made (or remade, when the pins changed) on first use."""
    python = QUIX_VENV / "bin" / "python"
    marker = QUIX_VENV / ".installed"
    wanted = "\n".join(QUIX_PINS)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    print(f"  making {QUIX_VENV.relative_to(REPO)} for {QUIX_PINS[0]} (once)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(QUIX_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off",
                    *QUIX_PINS], check=True)
    marker.write_text(wanted)
    return python


@dataclass
class Workload:
    """One run's scratch request topic, filled, and what every contender's job needs to know."""

    runtime: Runtime
    count: int
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    request_ids: set[str] = field(default_factory=set)
    groups: list[str] = field(default_factory=list)

    def name(self, part: str) -> str:
        return f"{PREFIX}{self.run}-{part}"

    def job(self, contender: str, scratch: Path) -> dict[str, Any]:
        """What a contender process reads from its job file: where to read and write, and the contracts."""
        runtime = self.runtime
        requests = runtime.manifest.topic(GENERATE_INVOICE)
        replies = runtime.manifest.topic(INVOICE_GENERATED)
        key, value = runtime.codec(replies.key), runtime.codec(replies.value)
        self.groups.append(self.name(contender))
        return {
            "kafka": runtime.settings.kafka_client, "registry": runtime.settings.registry_client,
            # The project's producer settings, so that no contender gains by sending differently.
            "producer": {k: v for k, v in runtime.producer_config().items()
                         if k not in runtime.settings.kafka_client and k != "client.id"},
            "requests": self.name("requests"), "replies": self.name(f"{contender}-replies"),
            "group": self.name(contender), "count": self.count,
            "result": str(scratch / f"{contender}.json"), "state_dir": str(scratch / f"{contender}-state"),
            "writer_schemas": {str(runtime.codec(s).schema_id): json.dumps(runtime.codec(s).contract)
                               for s in requests.subjects},
            "key_subject": replies.key.name, "key_schema": json.dumps(key.contract), "key_schema_id": key.schema_id,
            "value_subject": replies.value.name, "value_schema": json.dumps(value.contract),
            "value_schema_id": value.schema_id,
        }


def invoice_request(user: uuid.UUID, index: int) -> dict[str, Any]:
    """A valid two-item request, the same for every contender."""
    return {
        "request_id": uuid.uuid4(), "user_id": user, "requested_at": datetime.now(UTC),
        "customer": {"name": f"Cliente {index}", "tax_id": "11.222.333/0001-81"},
        "items": [{"description": "Consultoria", "quantity": Decimal("2.000"), "unit_price": Decimal("150.00")},
                  {"description": "Deslocamento", "quantity": Decimal("1.000"), "unit_price": Decimal("80.50")}],
    }


def _create(admin: AdminClient, name: str, like: Topic) -> None:
    admin.create_topics([NewTopic(name, like.partitions, like.replication_factor)])[name].result(timeout=30)


def _fill(work: Workload, admin: AdminClient) -> None:
    """N requests from 1,000 users, shaped like `pipeline.invoice`'s, keyed and encoded as the dashboard does."""
    runtime = work.runtime
    topic = runtime.manifest.topic(GENERATE_INVOICE)
    _create(admin, work.name("requests"), topic)
    key, value = runtime.codec(topic.key), runtime.codec(topic.value)
    users = [uuid.uuid4() for _ in range(USERS)]
    for index in range(work.count):
        user = users[index % USERS]
        request = invoice_request(user, index)
        work.request_ids.add(str(request["request_id"]))
        runtime.producer.produce(work.name("requests"), key=key.encode({"user_id": user}), value=value.encode(request))
        if index % 1000 == 0:
            runtime.producer.poll(0)
            print(f"  filling {work.name('requests')}: {index:,}/{work.count:,}", end="\r", flush=True)
    runtime.producer.flush(120)
    print(f"  filled {work.name('requests')} with {work.count:,} requests      ", flush=True)


@contextmanager
def workload(count: int) -> Iterator[Workload]:
    """A filled scratch request topic; afterwards every topic and group of the run is deleted."""
    work = Workload(Runtime("bench-peers"), count)
    admin = AdminClient({**work.runtime.settings.kafka_client})
    try:
        _fill(work, admin)
        yield work
    finally:
        mine = [t for t in admin.list_topics(timeout=10).topics if f"{PREFIX}{work.run}" in t]  # changelogs too
        if mine:
            for future in admin.delete_topics(mine).values():
                future.result(timeout=30)
        if work.groups:
            for future in admin.delete_consumer_groups(work.groups).values():
                try:
                    future.result(timeout=30)
                except KafkaException:  # a contender that failed before its first commit left no group
                    pass
        work.runtime.close()


def _watcher(kafka: dict[str, str], topic: str, partitions: int) -> Consumer:
    consumer = Consumer({**kafka, "group.id": f"{topic}-watch", "enable.auto.commit": False,
                         "isolation.level": "read_committed"})  # what a downstream reader sees
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    return consumer


def contend(
    work: Workload, contender: str, python: Path, module: str, extra: dict[str, Any], *, numbered: bool,
    processes: int = 1, tree: Path = REPO, env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Run one contender (in `processes` processes of one group) until N replies are visible and check them;
    its rate and CPU per record. A contender that does not stop by itself at N is sent SIGTERM then. `tree` is the
    source tree it runs from (another commit's, checked out beside this one, to compare with it); `env`, variables it
    runs with besides the bench's own (TRACING=1, say)."""
    runtime = work.runtime
    replies = runtime.manifest.topic(INVOICE_GENERATED)
    with tempfile.TemporaryDirectory(prefix=PREFIX) as scratch:
        job = {**work.job(contender, Path(scratch)), **extra}
        admin = AdminClient(dict(job["kafka"]))
        _create(admin, job["replies"], replies)
        watcher = _watcher(job["kafka"], job["replies"], replies.partitions)
        log = Path(scratch) / "log"
        print(f"  {contender}: draining {work.count:,} requests", flush=True)
        running = []
        with log.open("w") as output:
            for n in range(processes):
                mine = {**job, "result": f"{job['result']}.{n}", "state_dir": f"{job['state_dir']}/{n}",
                        "instance": f"{contender}-{n}"}
                (Path(scratch) / f"job{n}.json").write_text(json.dumps(mine))
                running.append(subprocess.Popen([str(python), "-m", module, str(Path(scratch) / f"job{n}.json")],
                                                cwd=tree, env={**os.environ, **(env or {}), "PYTHONPATH": str(tree)},
                                                stdout=output, stderr=output))
        try:
            seen, visible_at = _await_replies(watcher, running, work.count, log)
            for process in running:
                if extra.get("stop") == "terminate":
                    process.terminate()
                process.wait(timeout=120)
                if process.returncode != 0:
                    raise RuntimeError(f"{contender} exited with {process.returncode}: {_tail(log)}")
            seen += _rest(watcher)
        finally:
            for process in running:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            watcher.close()
        results = [json.loads(Path(f"{job['result']}.{n}").read_text()) for n in range(processes)]
    _check(work, contender, seen, numbered=numbered)
    seconds = visible_at - min(r["first_at"] for r in results if r["first_at"] is not None)
    rate, cpu = work.count / seconds, sum(r["cpu_seconds"] for r in results) / work.count * 1e6
    print(f"  {contender}: {rate:,.0f} msg/s, {cpu:,.0f} us CPU per record", flush=True)
    return {"unit": "msg/s", "value": round(rate), "n": work.count, "cpu_us_per_record": round(cpu, 1),
            "seconds": round(seconds, 2)}


def _await_replies(
    watcher: Consumer, processes: list[subprocess.Popen[bytes]], count: int, log: Path
) -> tuple[list[Message], float]:
    """The replies read until `count` are visible, and the moment they were."""
    seen: list[Message] = []
    deadline = time.monotonic() + 120 + count / 100  # far beyond the slowest contender measured
    while len(seen) < count:
        seen += [m for m in watcher.consume(10_000, timeout=0.1) if m.error() is None]
        if any(p.poll() not in (None, 0) for p in processes) or time.monotonic() > deadline:
            raise RuntimeError(f"{len(seen):,} of {count:,} replies, then the contender stopped or stalled: "
                               f"{_tail(log)}")
    return seen, time.monotonic()


def _rest(watcher: Consumer) -> list[Message]:
    """Whatever came after the N-th reply (nothing, unless a contender answered a request twice)."""
    rest: list[Message] = []
    while batch := watcher.consume(10_000, timeout=2.0):
        rest += [m for m in batch if m.error() is None]
    return rest


def _tail(log: Path) -> str:
    return " | ".join(log.read_text(errors="replace").strip().splitlines()[-8:])


def _check(work: Workload, contender: str, seen: list[Message], *, numbered: bool) -> None:
    """Every reply decodes with the contract, one per request, all generated; numbered 1..k per user."""
    replies = work.runtime.manifest.topic(INVOICE_GENERATED)
    key, value = work.runtime.codec(replies.key), work.runtime.codec(replies.value)
    decoded = [(key.decode(m.key()), value.decode(m.value())) for m in seen]
    answered = {str(reply["request_id"]) for _, reply in decoded}
    if len(decoded) != work.count or answered != work.request_ids:
        raise AssertionError(f"{contender}: {len(decoded):,} replies for {len(answered):,} of {work.count:,} requests")
    if any(reply["status"] != "GENERATED" or k["user_id"] != reply["user_id"] for k, reply in decoded):
        raise AssertionError(f"{contender}: a reply was rejected or keyed by another user")
    if numbered:
        numbers: dict[str, list[int]] = defaultdict(list)
        for _, reply in decoded:
            numbers[str(reply["user_id"])].append(reply["invoice"]["number"])
        if any(sorted(n) != list(range(1, len(n) + 1)) for n in numbers.values()):
            raise AssertionError(f"{contender}: a user's invoice numbers have a gap or a repeat")


def measure_quix(count: int = 50_000) -> list[dict[str, Any]]:
    """Quix Streams doing the invoice work exactly once, then at least once, on the same N waiting requests."""
    python = quix_python()
    entries = []
    with workload(count) as work:
        for guarantee in ("exactly-once", "at-least-once"):
            contender = f"quix-{guarantee}"
            entry = contend(work, contender, python, "bench.quix_invoice", {"guarantee": guarantee}, numbered=True)
            entries.append({"name": f"peer.quix.{guarantee.replace('-', '_')}", **entry,
                            "peer": f"{QUIX_PINS[0]}, {guarantee}, its default 5 s commit interval"})
    return entries


def measure_bare(count: int = 50_000) -> list[dict[str, Any]]:
    """A bare confluent-kafka loop doing decode, validation, totals and encode at least once, without state."""
    with workload(count) as work:
        entry = contend(work, "bare", Path(sys.executable), "bench.bare", {}, numbered=False)
    return [{"name": "peer.bare", **entry, "peer": "confluent-kafka + fastavro loop, at least once, no state"}]


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("BENCH_N", "50000"))
    print(json.dumps(measure_quix(n) + measure_bare(n), indent=2))
