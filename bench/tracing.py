"""`pipeline.tracing`: what tracing costs the invoice generator, off (the default) and on (TRACING=1), against the
generator of the commit before tracing (BENCH_TRACING_BEFORE), interleaved in one run on one filled scratch topic.

Each round runs the three contenders one after another, in an order that rotates from round to round, each draining
the same N requests in a fresh group (bench/peers.py measures them: rate, and the process's own CPU per record). Off
costs a test of a flag per hook: the before/off ratio says whether that shows. On, spans go with the SDK's default
batching to a Zipkin of the bench's own (stack/zipkin.py, on a free port), whose counters say how many arrived and
whether any were dropped. Reported: every round's figures, the same-round ratios, and their medians. On a shared
machine the end-to-end figures move by more than what is measured, so the hooks are also timed in-process, alone:
what a record's hooks cost off and on (no export), and what the exporter's thread spends encoding a span.

`python -m bench.tracing [N] [ROUNDS]` runs it alone (N defaults to BENCH_N, else 20,000; 3 rounds);
`python -m bench.tracing hooks` the in-process timing alone; `python -m bench.tracing paired [N] [ROUNDS]` runs the
generator before tracing and the one with tracing off at the same time, round after round: both then see the same
machine, so their ratio holds stiller than that of runs one after the other.
"""

from __future__ import annotations

import json
import os
import re
import socket
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from bench import peers, pipeline
from messaging import tracing
from stack import zipkin
from stack.paths import REPO

__all__ = ["measure"]

# The commit before tracing: its generator is the baseline for tracing off.
BEFORE = os.environ.get("BENCH_TRACING_BEFORE", "384fc20")
SPANS = re.compile(r'^zipkin_collector_spans(_dropped)?_total\{transport="http",?\} ([0-9.E]+)$', re.MULTILINE)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _received(port: int) -> tuple[int, int]:
    """Spans Zipkin has taken so far, and dropped."""
    counts = {dropped: int(float(value)) for dropped, value in SPANS.findall(httpx.get(
        f"http://127.0.0.1:{port}/prometheus", timeout=10).text)}
    return counts.get("", 0), counts.get("_dropped", 0)


def measure(count: int = 20_000, rounds: int = 3) -> list[dict[str, Any]]:
    tree = pipeline.tree_at(BEFORE)
    port = _free_port()
    traced = {"TRACING": "1", "OTEL_TRACES_EXPORTER": "zipkin", "OTEL_EXPORTER_ZIPKIN_ENDPOINT": zipkin.endpoint(port)}
    results: dict[str, list[dict[str, Any]]] = {"before": [], "off": [], "on": []}
    spans: list[tuple[int, int]] = []
    with tempfile.TemporaryDirectory(prefix=peers.PREFIX) as scratch, zipkin.running(port, Path(scratch) / "zipkin.log"), \
            peers.workload(count) as work:

        def run(kind: str, round_: int) -> None:
            if kind == "before" and tree is None:
                return
            contender = f"generator-{kind}-{round_}"
            extra = {"guarantee": "exactly-once", "changelog": work.name(f"{contender}-changelog"), "stop": "terminate"}
            taken = _received(port)
            results[kind].append(peers.contend(work, contender, Path(sys.executable), pipeline.GENERATOR, extra,
                                               numbered=True, tree=tree if kind == "before" and tree else REPO,
                                               env=traced if kind == "on" else None))
            if kind == "on":
                now = _received(port)
                spans.append((now[0] - taken[0], now[1] - taken[1]))

        kinds = ["before", "off", "on"]
        for round_ in range(rounds):
            for kind in kinds[round_ % 3:] + kinds[: round_ % 3]:
                run(kind, round_)
    return _entries(results, spans, count) + _hooks()


def paired(count: int = 10_000, rounds: int = 4) -> list[dict[str, Any]]:
    """The generator before tracing and the one with tracing off, draining the same requests at the same time."""
    tree = pipeline.tree_at(BEFORE)
    if tree is None:
        return []
    pairs: list[tuple[float, float]] = []
    with peers.workload(count) as work, ThreadPoolExecutor(2) as pool:

        def run(kind: str, round_: int) -> float:
            contender = f"generator-paired-{kind}-{round_}"
            extra = {"guarantee": "exactly-once", "changelog": work.name(f"{contender}-changelog"), "stop": "terminate"}
            found = peers.contend(work, contender, Path(sys.executable), pipeline.GENERATOR, extra, numbered=True,
                                  tree=tree if kind == "before" else REPO)
            return float(found["cpu_us_per_record"])

        for round_ in range(rounds):
            before, off = pool.submit(run, "before", round_), pool.submit(run, "off", round_)
            pairs.append((before.result(), off.result()))
    ratios = [off / before for before, off in pairs]
    entry = {"name": "pipeline.tracing.off_paired", "unit": "us", "value": round(statistics.median(o for _, o in pairs), 1),
             "n": count, "rounds": [o for _, o in pairs],
             "baseline": {"name": f"the generator at {BEFORE}, drained at the same time",
                          "value": round(statistics.median(b for b, _ in pairs), 1), "rounds": [b for b, _ in pairs]},
             "ratio": round(statistics.median(ratios), 3), "ratios": [round(r, 3) for r in ratios],
             "note": "TRACING unset, side by side with the generator before tracing", "target": "1.0x within noise"}
    print(f"  {entry['name']}: {entry['value']} us CPU per record, {entry['ratio']}x the generator before tracing"
          f" ({entry['baseline']['value']} us; ratios {entry['ratios']})", flush=True)
    return [entry]


@dataclass
class _Record:
    """A consumed record as the worker's hooks see it."""

    _value: bytes = b"v" * 400
    _headers: list[tuple[str, bytes]] = field(default_factory=lambda: [
        ("request_id", b"5b35f689-5f30-49a3-94d2-658b281beb1d"),
        ("traceparent", b"00-66b7952bf776a7103fa2d5e557c4e1e3-508e76f25b49099a-01")])

    def topic(self) -> str:
        return "generate-invoice"

    def partition(self) -> int:
        return 3

    def offset(self) -> int:
        return 7361

    def value(self) -> bytes:
        return self._value

    def headers(self) -> list[tuple[str, bytes]]:
        return self._headers


class _Kept(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Any) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def _per_record(records: int, batch_size: int = 100) -> float:
    """Microseconds of CPU per record for the hooks a record of the generator passes: its span in its batch, and the
    trace context of its two outputs (the reply and the changelog entry); each batch's span and its three calls."""
    record: Any = _Record()
    began = time.process_time()
    for _ in range(records // batch_size):
        batch = tracing.Batch("invoice-generator", True) if tracing.active else None
        for _ in range(batch_size):
            with tracing.processing(record, "invoice-generator", batch):
                for _ in range(2):
                    if tracing.active:
                        tracing.inject([("request_id", "5b35f689-5f30-49a3-94d2-658b281beb1d")])
        for call in ("begin_transaction", "send_offsets_to_transaction", "commit_transaction"):
            with tracing.step(batch, call):
                pass
        if batch is not None:
            batch.close()
    return (time.process_time() - began) / records * 1e6


def _hooks(records: int = 100_000) -> list[dict[str, Any]]:
    """The hooks alone, in this process: off; on, spans batched to an exporter that keeps them; and the Zipkin
    exporter's encoding of those spans, the work of the processor's thread."""
    from opentelemetry.exporter.zipkin.json.v2 import JsonV2Encoder
    from opentelemetry.exporter.zipkin.node_endpoint import NodeEndpoint

    off = _per_record(records)
    kept = _Kept()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(kept, max_queue_size=records * 2))
    tracing.activate(provider)
    try:
        on = _per_record(records)
        provider.force_flush()
    finally:
        tracing.deactivate()
    began = time.process_time()
    JsonV2Encoder().serialize(kept.spans, NodeEndpoint())
    encode = (time.process_time() - began) / len(kept.spans) * 1e6
    entries = [
        {"name": "pipeline.tracing.hooks_off", "unit": "us", "value": round(off, 2), "n": records,
         "note": "per record, in-process: the hooks with TRACING unset"},
        {"name": "pipeline.tracing.hooks_on", "unit": "us", "value": round(on, 1), "n": records,
         "note": "per record, in-process: its span, two injections, its share of the batch's spans; export not counted"},
        {"name": "pipeline.tracing.zipkin_encoding", "unit": "us", "value": round(encode, 1), "n": len(kept.spans),
         "note": "per span, in-process: the exporter thread's JSON for Zipkin"},
    ]
    for entry in entries:
        print(f"  {entry['name']}: {entry['value']} us ({entry['note']})", flush=True)
    return entries


def _entries(results: dict[str, list[dict[str, Any]]], spans: list[tuple[int, int]], count: int) -> list[dict[str, Any]]:
    cpu = {kind: [r["cpu_us_per_record"] for r in found] for kind, found in results.items()}
    rate = {kind: [r["value"] for r in found] for kind, found in results.items()}
    on_off = [on / off for on, off in zip(cpu["on"], cpu["off"], strict=True)]
    entries = [
        {"name": "pipeline.tracing.on", "unit": "us", "value": round(statistics.median(cpu["on"]), 1), "n": count,
         "rounds": cpu["on"], "rates": rate["on"], "spans_per_record": [round(s / count, 2) for s, _ in spans],
         "spans_dropped": [d for _, d in spans],
         "baseline": {"name": "tracing off, CPU per record, same rounds", "value": round(statistics.median(cpu["off"]), 1)},
         "ratio": round(statistics.median(on_off), 3), "ratios": [round(r, 3) for r in on_off],
         "note": "TRACING=1, spans to Zipkin with the SDK's default batching", "target": "reported"},
    ]
    if cpu["before"]:
        off_before = [off / before for off, before in zip(cpu["off"], cpu["before"], strict=True)]
        entries.append(
            {"name": "pipeline.tracing.off", "unit": "us", "value": round(statistics.median(cpu["off"]), 1), "n": count,
             "rounds": cpu["off"], "rates": rate["off"],
             "baseline": {"name": f"the generator at {BEFORE}, before tracing", "value": round(
                 statistics.median(cpu["before"]), 1), "rounds": cpu["before"], "rates": rate["before"]},
             "ratio": round(statistics.median(off_before), 3), "ratios": [round(r, 3) for r in off_before],
             "note": "TRACING unset (the default)", "target": "1.0x within noise"})
    for entry in entries:
        print(f"  {entry['name']}: {entry['value']} us CPU per record, {entry['ratio']}x its baseline"
              f" ({entry['baseline']['value']} us; same-round ratios {entry['ratios']})", flush=True)
    return entries


if __name__ == "__main__":
    if sys.argv[1:] == ["hooks"]:  # the in-process part alone: no stack needed
        print(json.dumps(_hooks(), indent=2))
    elif sys.argv[1:2] == ["paired"]:
        print(json.dumps(paired(*(int(a) for a in sys.argv[2:4])), indent=2))
    else:
        n = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("BENCH_N", "20000"))
        print(json.dumps(measure(n, int(sys.argv[2]) if len(sys.argv) > 2 else 3), indent=2))
