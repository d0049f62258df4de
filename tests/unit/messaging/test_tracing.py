"""Tracing without Kafka: trace context to and from record headers, the spans of a record and of its batch, and
nothing at all when tracing is off. Spans go to an in-memory exporter."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from messaging import tracing
from messaging.checkpoint import AtLeastOnce, Transactions
from messaging.deadletters import DeadLetter, letter_for, replay
from messaging.health import Client
from messaging.logs import JsonFormatter
from messaging.settings import Settings
from tests.unit.messaging.fakes import FakeConsumer, FakeMessage, FakeProducer

REMOTE_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
REMOTE_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{REMOTE_TRACE}-{REMOTE_SPAN}-01"
OFFSETS = [TopicPartition("requests", 0, 5)]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.activate(provider)
    yield exporter
    tracing.deactivate()


def named(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    (found,) = [s for s in exporter.get_finished_spans() if s.name == name]
    return found


def ids(span: ReadableSpan) -> tuple[str, str]:
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def header(headers: Any, name: str) -> str:
    (value,) = [v for k, v in headers if k == name]
    return value.decode() if isinstance(value, bytes) else str(value)


def request(offset: int = 7, headers: list[tuple[str, bytes]] | None = None) -> FakeMessage:
    return FakeMessage("generate-invoice", 3, offset, b"key", b"value", headers or [])


def transactions(*producers: FakeProducer) -> Transactions:
    made = iter(producers)
    return Transactions("invoice", lambda: next(made), Client("producer", consumer=False), "changelog",  # type: ignore[arg-type, return-value]
                        "invoice-generator")


def test_off_no_hook_makes_a_span_or_touches_a_header() -> None:
    assert not tracing.active
    assert tracing.processing(request(), "g", None) is tracing.NULL
    assert tracing.sending("t", "r") is tracing.NULL
    assert tracing.step(None, "commit_transaction") is tracing.NULL
    batch = transactions(FakeProducer())
    batch.begin()
    assert batch.batch is None
    headers: list[tuple[str, str | bytes | None]] = [("traceparent", TRACEPARENT.encode())]
    with tracing.replaying("generate-invoice", headers) as sent:
        assert sent is headers  # a replay goes on in the trace it had


def test_a_record_carries_the_context_of_the_span_current_when_it_is_encoded(spans: InMemorySpanExporter) -> None:
    with tracing.span("send generate-invoice"):
        headers = tracing.inject([("request_id", "r-1")])
    trace_id, span_id = ids(named(spans, "send generate-invoice"))
    assert headers[0] == ("request_id", "r-1")
    assert header(headers, "traceparent").startswith(f"00-{trace_id}-{span_id}-")  # then the flags: sampled


def test_a_context_a_record_carried_is_replaced_and_other_headers_kept(spans: InMemorySpanExporter) -> None:
    with tracing.span("process generate-invoice"):
        headers = tracing.inject([("traceparent", TRACEPARENT.encode()), ("tracestate", b"a=1"), ("client.id", b"go")])
        kept = tracing.inject_missing([("traceparent", TRACEPARENT.encode())])
    assert [k for k, _ in headers] == ["client.id", "traceparent"]
    assert REMOTE_TRACE not in header(headers, "traceparent")
    assert kept == [("traceparent", TRACEPARENT.encode())]


def test_a_record_is_handled_in_a_consumer_span_child_of_the_context_it_carries(spans: InMemorySpanExporter) -> None:
    message = request(headers=[("request_id", b"r-1"), ("traceparent", TRACEPARENT.encode())])
    with tracing.processing(message, "invoice-generator", None):
        pass
    span = named(spans, "process generate-invoice")
    assert span.kind is SpanKind.CONSUMER
    assert ids(span)[0] == REMOTE_TRACE and span.parent is not None and format(span.parent.span_id, "016x") == REMOTE_SPAN
    assert dict(span.attributes or {}) == {
        "messaging.system": "kafka", "messaging.operation.type": "process", "messaging.operation.name": "process",
        "messaging.destination.name": "generate-invoice", "messaging.destination.partition.id": "3",
        "messaging.kafka.offset": 7, "messaging.consumer.group.name": "invoice-generator",
        "messaging.message.body.size": 5, "messaging.message.conversation_id": "r-1",
    }  # and no key: every key of ours names a user


def test_a_record_without_a_context_starts_a_trace(spans: InMemorySpanExporter) -> None:
    with tracing.processing(request(), "invoice-generator", None):
        pass
    assert named(spans, "process generate-invoice").parent is None


def test_a_batch_is_a_span_with_a_child_per_kafka_call_linked_to_each_record_and_back(spans: InMemorySpanExporter) -> None:
    checkpoint = transactions(FakeProducer())
    checkpoint.begin()
    for offset in (7, 8):
        with tracing.processing(request(offset), "invoice-generator", checkpoint.batch):
            pass
    checkpoint.commit(FakeConsumer(), OFFSETS)  # type: ignore[arg-type]
    batch = named(spans, "transaction invoice-generator")
    records = [s for s in spans.get_finished_spans() if s.name == "process generate-invoice"]
    assert batch.kind is SpanKind.CLIENT and batch.parent is None and batch.status.status_code is StatusCode.UNSET
    assert (batch.attributes or {})["messaging.batch.message_count"] == 2
    assert (batch.attributes or {})["messaging.kafka.transaction.outcome"] == "committed"
    assert {link.context.span_id for link in batch.links} == {r.get_span_context().span_id for r in records}
    assert all([link.context.span_id for link in r.links] == [batch.get_span_context().span_id] for r in records)
    # ... and each record names the batch's trace, for a viewer that shows no links.
    assert {(r.attributes or {})["link.trace_id"] for r in records} == {ids(batch)[0]}
    calls = [s for s in spans.get_finished_spans() if s.parent is not None and s.parent.span_id == batch.context.span_id]
    assert [c.name for c in calls] == ["begin_transaction", "send_offsets_to_transaction", "commit_transaction"]


def test_a_fenced_batch_is_an_error(spans: InMemorySpanExporter) -> None:
    checkpoint = transactions(FakeProducer(fail_with={"commit_transaction": KafkaError(KafkaError._FENCED, fatal=True)}))
    checkpoint.begin()
    with pytest.raises(KafkaException) as raised:
        checkpoint.commit(FakeConsumer(), OFFSETS)  # type: ignore[arg-type]
    checkpoint.abandon(raised.value)
    batch = named(spans, "transaction invoice-generator")
    assert batch.status.status_code is StatusCode.ERROR
    assert (batch.attributes or {})["error.type"] == "fenced"
    assert named(spans, "commit_transaction").status.status_code is StatusCode.ERROR
    assert not [s for s in spans.get_finished_spans() if s.name == "abort_transaction"]


def test_an_aborted_batch_is_an_error_with_its_abort_inside(spans: InMemorySpanExporter) -> None:
    abortable = KafkaError(KafkaError._STATE, txn_requires_abort=True)
    checkpoint = transactions(FakeProducer(fail_with={"commit_transaction": abortable}))
    checkpoint.begin()
    with pytest.raises(KafkaException) as raised:
        checkpoint.commit(FakeConsumer(), OFFSETS)  # type: ignore[arg-type]
    checkpoint.abandon(raised.value)
    batch = named(spans, "transaction invoice-generator")
    assert batch.status.status_code is StatusCode.ERROR
    assert (batch.attributes or {})["messaging.kafka.transaction.outcome"] == "aborted"
    assert named(spans, "abort_transaction").parent == batch.get_span_context()


def test_at_least_once_a_batch_is_a_flush_then_a_commit(spans: InMemorySpanExporter) -> None:
    checkpoint = AtLeastOnce("dashboard", FakeProducer, Client("producer", consumer=False), group="dashboard")  # type: ignore[arg-type]
    checkpoint.begin()
    checkpoint.commit(FakeConsumer(), OFFSETS)  # type: ignore[arg-type]
    batch = named(spans, "commit dashboard")
    assert [s.name for s in spans.get_finished_spans() if s.parent == batch.get_span_context()] == ["flush", "commit"]


def test_a_dead_letter_keeps_the_trace_of_its_record(spans: InMemorySpanExporter) -> None:
    message = request(headers=[("traceparent", TRACEPARENT.encode())])
    with tracing.processing(message, "invoice-generator", None):
        tracing.dead_lettered("generate-invoice-dead-letters", ValueError("x"), "the value is not Avro")
        letter = letter_for("generate-invoice-dead-letters", message, ValueError("x"), "the value is not Avro", "invoice")
    span = named(spans, "process generate-invoice")
    assert span.status.status_code is StatusCode.ERROR and span.status.description == "the value is not Avro"
    assert [e.name for e in span.events] == ["exception"]
    assert [v for k, v in letter.headers or [] if k == "traceparent"] == [TRACEPARENT.encode()]


def test_a_dead_letter_of_a_record_without_a_trace_gets_the_span_that_set_it_aside(spans: InMemorySpanExporter) -> None:
    with tracing.processing(request(), "invoice-generator", None):
        letter = letter_for("generate-invoice-dead-letters", request(), ValueError("x"), "not Avro", "invoice")
    trace_id = ids(named(spans, "process generate-invoice"))[0]
    dead = DeadLetter("generate-invoice-dead-letters", 0, 1, None, None, letter.headers or [])
    assert dead.trace_id == trace_id


def test_a_replayed_dead_letter_is_sent_in_a_new_trace_linked_to_its_old_one(
    spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    producer = FakeProducer()
    monkeypatch.setattr("messaging.deadletters.Producer", lambda config: producer)
    letter = DeadLetter("generate-invoice-dead-letters", 1, 9, b"k", b"v", [
        ("dlq.source.topic", b"generate-invoice"), ("request_id", b"r-1"), ("traceparent", TRACEPARENT.encode())])
    replay(Settings("127.0.0.1:9092", "http://registry"), [letter])
    span = named(spans, "send generate-invoice")
    (sent,) = producer.produced
    assert span.kind is SpanKind.PRODUCER and ids(span)[0] != REMOTE_TRACE
    assert [format(link.context.trace_id, "032x") for link in span.links] == [REMOTE_TRACE]
    assert header(sent["headers"], "traceparent").startswith("00-{}-{}-".format(*ids(span)))
    assert header(sent["headers"], "dlq.replayed.from") == "generate-invoice-dead-letters:1:9"
    assert (span.attributes or {})["messaging.message.conversation_id"] == "r-1"
    assert (span.attributes or {})["link.trace_id"] == REMOTE_TRACE


def test_the_delivery_report_tells_the_span_where_the_record_landed(spans: InMemorySpanExporter) -> None:
    reported: list[object] = []
    with tracing.span("send generate-invoice"):
        callback = tracing.noting_delivery(lambda error, message: reported.append(message))
        assert callback is not None
        callback(None, FakeMessage("generate-invoice", 4, 1234))  # type: ignore[arg-type]
    span = named(spans, "send generate-invoice")
    assert reported and (span.attributes or {})["messaging.destination.partition.id"] == "4"


def test_a_log_line_inside_a_span_carries_its_ids(spans: InMemorySpanExporter) -> None:
    formatter = JsonFormatter("invoice")
    line = logging.LogRecord("worker", logging.INFO, __file__, 1, "handled", None, None)
    assert "trace_id" not in json.loads(formatter.format(line))
    with tracing.span("process generate-invoice"):
        entry = json.loads(formatter.format(line))
    assert (entry["trace_id"], entry["span_id"]) == ids(named(spans, "process generate-invoice"))


@pytest.mark.parametrize("value", [b"", b"garbage", b"00-" + b"0" * 32 + b"-00f067aa0ba902b7-01", b"00-abc-def-01"])
def test_a_header_that_names_no_trace_gives_no_trace_id(value: bytes) -> None:
    assert tracing.trace_id_of([("traceparent", value)]) is None
    assert tracing.trace_id_of([("traceparent", TRACEPARENT.encode())]) == REMOTE_TRACE


def test_tracing_is_switched_by_TRACING(monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: N802
    monkeypatch.delenv("TRACING", raising=False)
    assert not tracing.enabled() and not tracing.setup("invoice")
    monkeypatch.setenv("TRACING", "yes")
    with pytest.raises(ValueError, match="TRACING must be 0 or 1"):
        tracing.enabled()


def test_an_exporter_other_than_otlp_or_zipkin_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACING", "1")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "jaeger")
    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER must be one of otlp, zipkin"):
        tracing.setup("invoice")
    assert not tracing.active
