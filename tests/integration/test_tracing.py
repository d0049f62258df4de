"""Tracing across the services (TRACING=1): one request is one trace in the trace viewer, from the dashboard's POST
through the invoice generator to the dashboard's reply consumer, its batch's transaction a trace of its own that the
record's span names; a dead letter keeps its trace, and a replayed one names the trace it had.

The test runs what it traces: the stack's trace viewer (Zipkin, on a port of its own), and an invoice generator (as
admin, for a transactional id of its own) and a dashboard (as its principal) of its own, in consumer groups of their
own (the generator's starting at the end of the requests), with TRACING=1; it reads the spans through Zipkin's HTTP
API. The stack's own services answer the same requests too (each group reads every request), untraced: the assertions
look at what the traced processes sent.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from contracts.env import principal_env
from contracts.records import GENERATE_INVOICE
from messaging.offsets import end_offsets, headers_of
from messaging.runtime import Runtime
from messaging.settings import Settings
from stack import zipkin
from stack.paths import REPO
from tests.integration.accounts import sign_up, verify
from tests.integration.conftest import TWO_ITEMS, wait_for_answer
from tests.integration.kafka_tools import Tail
from tests.ports import free_port

Span = dict[str, Any]
CONVERSATION = "messaging.message.conversation_id"


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _start(argv: list[str], env: Mapping[str, str], log: Path, ready: str) -> subprocess.Popen[bytes]:
    """A process of the test's own, once `ready` answers 200; its output goes to `log`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("STACK_")}  # not one of the stack's processes
    with log.open("wb") as output:
        process = subprocess.Popen(argv, cwd=REPO, env={**base, **env}, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    deadline = time.monotonic() + 120
    while not _ready(ready):
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            pytest.fail(f"{' '.join(argv[-2:])} did not become ready: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.3)
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _start_at_end(group: str, topic: str) -> None:
    """`group` has read `topic` to its end: a new group would otherwise answer every request ever made."""
    consumer = Consumer({**Settings.from_env().kafka_client, "group.id": group, "enable.auto.commit": False})
    try:
        ends = end_offsets(consumer, topic)
        for attempt in range(20):
            try:
                consumer.commit(offsets=[TopicPartition(topic, p, end) for p, end in ends.items()], asynchronous=False)
                return
            except KafkaException as error:  # the group's coordinator may still be loading after a broker restart
                if not error.args[0].retriable() or attempt == 19:
                    raise
                time.sleep(1)
    finally:
        consumer.close()


def _forget_groups(*groups: str) -> None:
    """Delete the test's groups, once their members are gone: a static member stays until its session times out."""
    admin = AdminClient(dict(Settings.from_env().kafka_client))
    left, deadline = list(groups), time.monotonic() + 30
    while left and time.monotonic() < deadline:
        for group, future in admin.delete_consumer_groups(left).items():
            try:
                future.result(timeout=30)
                left.remove(group)
            except KafkaException as error:
                if error.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND:
                    left.remove(group)
        if left:
            time.sleep(2)


@dataclass
class Traced:
    """The traced processes: a dashboard at `dashboard`, an invoice generator in `invoice_group`, spans in Zipkin."""

    dashboard: str
    dashboard_group: str
    invoice_group: str
    operator: str
    viewer_port: int
    generator_log: Path

    @property
    def tracing_env(self) -> dict[str, str]:
        return tracing_env(self.viewer_port)

    def trace(self, trace_id: str, complete: Callable[[list[Span]], bool], timeout: float = 30) -> list[Span]:
        """The spans of one trace, once `complete` says all that is awaited has arrived."""
        spans: list[Span] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = httpx.get(f"http://127.0.0.1:{self.viewer_port}/api/v2/trace/{trace_id}", timeout=5)
            spans = answer.json() if answer.status_code == 200 else []
            if complete(spans):
                return spans
            time.sleep(0.3)
        raise AssertionError(f"trace {trace_id} is incomplete after {timeout} s: {_names(spans)}")


def tracing_env(viewer_port: int) -> dict[str, str]:
    return {"TRACING": "1", "OTEL_TRACES_EXPORTER": "zipkin", "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_EXPORTER_ZIPKIN_ENDPOINT": zipkin.endpoint(viewer_port)}


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traced]:
    folder = tmp_path_factory.mktemp("traced")
    viewer_port, health_port, web_port, metrics_port = (free_port() for _ in range(4))
    run = uuid.uuid4().hex[:8]
    invoice_group, dashboard_group = f"invoice-generator-trace-{run}", f"dashboard-trace-{run}"
    operator = f"operator-{run}@example.com"
    _start_at_end(invoice_group, GENERATE_INVOICE.name)
    started: list[subprocess.Popen[bytes]] = []
    with zipkin.running(viewer_port, folder / "zipkin.log"):
        try:
            started.append(_start([sys.executable, "-m", "services.invoice"], {
                # As admin: the invoice principal's transactional ids are its own group's (invoice-generator/*).
                **principal_env("admin"), **tracing_env(viewer_port), "INVOICE_GROUP": invoice_group,
                "INSTANCE_ID": f"trace-test-{run}", "HEALTH_PORT": str(health_port), "STATE_DIR": str(folder / "state"),
            }, folder / "invoice.log", f"http://127.0.0.1:{health_port}/readyz"))
            started.append(_start([sys.executable, "-m", "services.dashboard"], {
                **principal_env("dashboard"), **tracing_env(viewer_port), "DASHBOARD_GROUP": dashboard_group,
                "DASHBOARD_PORT": str(web_port), "DASHBOARD_METRICS_PORT": str(metrics_port), "OPERATOR_EMAILS": operator,
                "DATABASE_URL": f"sqlite:///{folder / 'dashboard.sqlite3'}", "TRACING_UI_URL": zipkin.address(viewer_port),
            }, folder / "dashboard.log", f"http://127.0.0.1:{metrics_port}/readyz"))
            yield Traced(f"http://127.0.0.1:{web_port}", dashboard_group, invoice_group, operator, viewer_port,
                         folder / "invoice.log")
        finally:
            for process in reversed(started):
                _stop(process)
            _forget_groups(invoice_group, dashboard_group)


def _names(spans: list[Span]) -> list[str]:
    return sorted(f"{s.get('localEndpoint', {}).get('serviceName')}: {s.get('name')}" for s in spans)


def _spans(spans: list[Span], service: str, name: str, parent: str | None = None) -> list[Span]:
    return [s for s in spans if s.get("localEndpoint", {}).get("serviceName") == service and s.get("name") == name
            and (parent is None or s.get("parentId") == parent)]


def _one(spans: list[Span], service: str, name: str, parent: str | None = None) -> Span:
    found = _spans(spans, service, name, parent)
    assert len(found) == 1, f"expected one {service} span {name!r} (parent {parent}), found {len(found)}: {_names(spans)}"
    return found[0]


def test_one_request_is_one_trace_from_the_dashboard_through_the_generator_to_the_reply(traced: Traced) -> None:
    trace_id, client_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    with httpx.Client(base_url=traced.dashboard, timeout=15) as client:
        sign_up(client)
        created = client.post("/api/invoices", json=TWO_ITEMS, headers={"traceparent": f"00-{trace_id}-{client_span}-01"})
        assert created.status_code == 202, created.text
        request_id = created.json()["request_id"]
        assert wait_for_answer(client, created.json()["url"])["status"] == "generated"

    def answered(spans: list[Span]) -> bool:
        return bool(_spans(spans, "dashboard", "process invoice-generated"))

    spans = traced.trace(trace_id, answered)
    # The client's traceparent is honoured: the dashboard's span is its child, and every span shares its trace id.
    server = _one(spans, "dashboard", "post /api/invoices", parent=client_span)
    assert server["kind"] == "SERVER" and server["tags"]["http.response.status_code"] == "202"
    assert {s["traceId"] for s in spans} == {trace_id}
    send = _one(spans, "dashboard", "send generate-invoice", parent=server["id"])
    assert send["kind"] == "PRODUCER" and send["tags"][CONVERSATION] == request_id
    assert {"messaging.destination.partition.id", "messaging.kafka.offset"} <= set(send["tags"])
    handled = _one(spans, "invoice", "process generate-invoice", parent=send["id"])
    assert handled["kind"] == "CONSUMER"
    assert handled["tags"]["messaging.consumer.group.name"] == traced.invoice_group
    assert handled["tags"]["messaging.system"] == "kafka" and handled["tags"][CONVERSATION] == request_id
    assert handled["tags"]["messaging.destination.partition.id"] == send["tags"]["messaging.destination.partition.id"]
    assert handled["tags"]["messaging.kafka.offset"] == send["tags"]["messaging.kafka.offset"]
    assert not [key for s in spans for key in s.get("tags", {}) if "key" in key.split(".")]  # keys name users
    # The reply, as the dashboard consumed it; its batch stored the answers and told the live updates.
    reply = _one(spans, "dashboard", "process invoice-generated", parent=handled["id"])
    assert reply["kind"] == "CONSUMER" and reply["tags"]["messaging.consumer.group.name"] == traced.dashboard_group
    answers = traced.trace(reply["tags"]["link.trace_id"],
                           lambda found: bool(_spans(found, "dashboard", f"commit {traced.dashboard_group}")))
    answering = _one(answers, "dashboard", f"commit {traced.dashboard_group}")
    steps = [s["name"] for s in answers if s.get("parentId") == answering["id"]]
    assert sorted(steps) == ["commit", "flush", "live updates", "store answers"]

    # The batch's transaction is a trace of its own, which the record's span names (Zipkin shows no links).
    transaction_trace = handled["tags"]["link.trace_id"]
    batch = traced.trace(transaction_trace, lambda found: bool(_spans(found, "invoice", f"transaction {traced.invoice_group}")))
    transaction = _one(batch, "invoice", f"transaction {traced.invoice_group}")
    assert transaction["kind"] == "CLIENT" and transaction["tags"]["messaging.kafka.transaction.outcome"] == "committed"
    assert int(transaction["tags"]["messaging.batch.message_count"]) >= 1 and "error" not in transaction["tags"]
    calls = [s["name"] for s in batch if s.get("parentId") == transaction["id"]]
    assert sorted(calls) == ["begin_transaction", "commit_transaction", "send_offsets_to_transaction"]


def test_a_dead_letter_keeps_its_trace_and_a_replayed_one_names_it(traced: Traced) -> None:
    runtime = Runtime("tests")
    requests = runtime.manifest.topic(GENERATE_INVOICE)
    assert requests.dead_letter_topic is not None
    trace_id, client_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    traceparent = f"00-{trace_id}-{client_span}-01"
    poison = b"not avro " + uuid.uuid4().bytes
    letters = Tail(runtime, requests.dead_letter_topic)
    resent = Tail(runtime, requests.name)
    try:
        runtime.producer.produce(requests.name, key=b"k", value=poison, headers=[("traceparent", traceparent.encode())])
        assert runtime.producer.flush(10) == 0
        # The stack's generator sets it aside too: every letter of it keeps the record's trace context.
        lettered = letters.messages(lambda m: m.value() == poison)
        assert lettered and all(dict(headers_of(m))["traceparent"] == traceparent.encode() for m in lettered)

        spans = traced.trace(trace_id, lambda found: bool(_spans(found, "invoice", "process generate-invoice")))
        handled = _one(spans, "invoice", "process generate-invoice", parent=client_span)
        assert handled["tags"]["messaging.consumer.group.name"] == traced.invoice_group
        assert "the value" in handled["tags"]["error"] and handled["tags"]["error.type"] == "PoisonRecord"
        events = [json.loads(a["value"]) for a in handled.get("annotations", [])]
        assert any(e.get("exception", {}).get("messaging.dead_letter.destination") == requests.dead_letter_topic
                   for e in events)
        logged = [json.loads(line) for line in traced.generator_log.read_text().splitlines() if line.startswith("{")]
        assert any(e["message"].startswith("dead-lettered a record") and e.get("trace_id") == trace_id for e in logged)

        # Sent back: a trace of its own, whose send span names the trace the letter carried.
        letter = lettered[0]
        replayed = subprocess.run(
            [sys.executable, "-m", "messaging.deadletters", "replay", "--source", requests.name,
             "--offset", str(letter.offset())],
            env={**os.environ, **traced.tracing_env}, capture_output=True, text=True, timeout=60)
        assert replayed.returncode == 0, replayed.stderr
        origin = f"{requests.dead_letter_topic}:{letter.partition()}:{letter.offset()}".encode()
        (again,) = resent.messages(lambda m: dict(headers_of(m)).get("dlq.replayed.from") == origin)
        parent = dict(headers_of(again))["traceparent"]
        assert isinstance(parent, bytes) and re.fullmatch(rb"00-[0-9a-f]{32}-[0-9a-f]{16}-0[13]", parent)
        replay_trace = parent.decode().split("-")[1]
        assert replay_trace != trace_id

        def set_aside_again(found: list[Span]) -> bool:
            return any(s.get("tags", {}).get("messaging.consumer.group.name") == traced.invoice_group
                       and "error" in s.get("tags", {}) for s in found)

        spans = traced.trace(replay_trace, set_aside_again)
        sent = _one(spans, "dead-letters", "send generate-invoice")
        assert sent["kind"] == "PRODUCER" and sent["tags"]["link.trace_id"] == trace_id
        # Still poison, it is set aside again in this trace (after a forward to its key's partition, maybe: the replay's
        # producer does not use the manifest's partitioner).
        assert {s["parentId"] for s in spans if s is not sent} <= {s["id"] for s in spans}
    finally:
        letters.close()
        resent.close()
        runtime.close()


def test_the_operator_view_links_a_request_and_a_dead_letter_to_their_traces(traced: Traced) -> None:
    runtime = Runtime("tests")
    requests = runtime.manifest.topic(GENERATE_INVOICE)
    assert requests.dead_letter_topic is not None
    trace_id = uuid.uuid4().hex
    poison = b"not avro " + uuid.uuid4().bytes
    letters = Tail(runtime, requests.dead_letter_topic)
    try:
        runtime.producer.produce(requests.name, key=b"k", value=poison,
                                 headers=[("traceparent", f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01".encode())])
        assert runtime.producer.flush(10) == 0
        assert letters.messages(lambda m: m.value() == poison)
    finally:
        letters.close()
        runtime.close()
    request_id = str(uuid.uuid4())
    with httpx.Client(base_url=traced.dashboard, timeout=30) as client:
        sign_up(client, traced.operator)
        verify(client, traced.operator)  # only a verified account named in OPERATOR_EMAILS is an operator
        page = client.get("/operator", params={"request_id": request_id}).text
    viewer = zipkin.address(traced.viewer_port)
    assert f'href="{viewer}/?annotationQuery={CONVERSATION}%3D{request_id}' in page
    assert f'href="{viewer}/traces/{trace_id}"' in page, "the dead letter does not link to its trace"
