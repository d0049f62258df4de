"""`pipeline.invoice`: the project's own invoice generator (its worker, state and handler) on the bench's
scratch topics, run by bench/peers.py as `python -m bench.generator_job JOB.json` in a process of its own.

The manifest's topics are renamed to the scratch ones and nothing else changes: the same subjects and
schema ids, the same handler, the per-partition store and its changelog, exactly-once transactions or
at least once as the job says.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient, NewTopic

from bench.bare import ISS_RATE, Meter
from contracts.manifest import Manifest, load_manifest
from contracts.records import GENERATE_INVOICE, INVOICE_DECISIONS_CHANGELOG, INVOICE_GENERATED, InvoiceRequest, UserKey
from messaging import tracing
from messaging.records import Incoming, Outgoing, route
from messaging.runtime import Runtime
from messaging.settings import Settings
from messaging.stores import StateSpec
from messaging.worker import Worker
from services.invoice.billing import Rules
from services.invoice.handler import make_handler
from services.invoice.store import InvoiceState


def renamed(manifest: Manifest, names: Mapping[str, str]) -> Manifest:
    """The manifest with some topics under other names (the bench's scratch topics), everything else kept."""
    def new(name: str | None) -> str | None:
        return names.get(name, name) if name is not None else None

    topics = tuple(dataclasses.replace(t, name=str(new(t.name)), changelog_of=new(t.changelog_of)) for t in manifest.topics)
    groups = tuple(dataclasses.replace(g, topics=tuple(str(new(n)) for n in g.topics)) for g in manifest.co_partitioned)
    return dataclasses.replace(manifest, topics=topics, co_partitioned=groups)


def run(job: Mapping[str, Any]) -> None:
    settings = dataclasses.replace(Settings.from_env(), state_dir=Path(job["state_dir"]),
                                   exactly_once=job["guarantee"] == "exactly-once", instance_id=job.get("instance"))
    manifest = renamed(load_manifest(), {GENERATE_INVOICE.name: job["requests"], INVOICE_GENERATED.name: job["replies"],
                                         INVOICE_DECISIONS_CHANGELOG.name: job["changelog"]})
    tracing.setup("bench-generator")  # TRACING=1 (bench/tracing.py): the services' spans, to the bench's trace viewer
    runtime = Runtime("bench-generator", settings, manifest)
    requests = manifest.topic(dataclasses.replace(GENERATE_INVOICE, name=job["requests"]))
    replies = manifest.topic(dataclasses.replace(INVOICE_GENERATED, name=job["replies"]))
    changelog = manifest.named(job["changelog"])
    _create_changelog(runtime, changelog.name, changelog.partitions, changelog.config)
    runtime.prepare(requests, replies, changelog)
    meter, stop = Meter(), threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # the harness's word that every reply is visible
    handled = 0
    answer = make_handler(Rules.of(load_manifest()), replies, lambda _: ISS_RATE, runtime.codec(replies.value).version,
                          lambda: datetime.now(UTC))

    def handle(incoming: Incoming[UserKey, InvoiceRequest], state: InvoiceState) -> list[Outgoing[object, object]]:
        nonlocal handled
        meter.first()
        handled += 1
        return list(answer(incoming, state))

    worker = Worker(runtime, job["group"], [route(requests, handle)], state=StateSpec(changelog, InvoiceState))
    worker.run(stop)
    tracing.shutdown()  # traced (TRACING=1), its last spans go out before the CPU is counted
    meter.write(job["result"], handled)
    runtime.close()


def _create_changelog(runtime: Runtime, name: str, partitions: int, config: dict[str, str]) -> None:
    admin = AdminClient({**runtime.settings.kafka_client})
    if name not in admin.list_topics(timeout=10).topics:
        future = admin.create_topics([NewTopic(name, partitions, 1, config=config)])[name]
        try:
            future.result(timeout=30)
        except Exception:  # another process of the same run made it first
            if name not in admin.list_topics(timeout=10).topics:
                raise


if __name__ == "__main__":
    run(json.loads(Path(sys.argv[1]).read_text()))
