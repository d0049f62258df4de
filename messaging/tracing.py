"""Tracing with OpenTelemetry, off unless TRACING=1: W3C trace context in the headers of every record we produce, and
spans named and attributed by OpenTelemetry's messaging semantic conventions, exported over OTLP (or to Zipkin).

- A record carries the context of the span current when it was encoded (`inject`, from Runtime.encode): the
  dashboard's `send <topic>` span, or a worker's span of the record it answers.
- A worker handles each record in a CONSUMER span, `process <topic>`, the child of the context the record carries
  (`processing`): topic, partition, offset, consumer group, and the request id as the conversation id. Keys are never
  recorded: every key of ours names a user. A record set aside makes its span an error (`dead_lettered`); its dead
  letter keeps the record's trace context, or gets this span's when the record had none (`inject_missing`).
- A batch is one span, `transaction <group>` (exactly once) or `commit <group>` (at least once), opened by
  Checkpoint.begin and closed by its commit or abandon (`Batch`), with a child span per Kafka call (`step`). It links
  to every record it carries and each record's span links to it; an aborted or fenced batch is an error.
- A replayed dead letter is sent in a span of its own that links to the trace the letter had (`replaying`).
- A span with one link also names the linked trace in its `link.trace_id` attribute, for viewers that show no links
  (Zipkin's model has none).
- A log line written inside a span carries its trace and span ids (`log_ids`).

Off, every hook costs a test of `active`: no span object is made, no header is read or written, and neither the SDK
nor the exporter is imported.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING

from confluent_kafka import KafkaError, Message
from opentelemetry import context, trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from contracts.env import SettingsError
from contracts.headers import REQUEST_ID, TRACE_CONTEXT
from messaging.offsets import coordinates, headers_of
from messaging.records import Headers

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = [
    "NULL", "Batch", "activate", "active", "dead_lettered", "deactivate", "enabled", "inject",
    "inject_missing", "log_ids", "noting_delivery", "processing", "replaying", "responded", "sending", "serving",
    "setup", "shutdown", "span", "step", "trace_id_of",
]

DeliveryCallback = Callable[[KafkaError | None, Message], None]

# OpenTelemetry's semantic conventions: messaging (Kafka), HTTP and errors.
SYSTEM = "messaging.system"
DESTINATION = "messaging.destination.name"
PARTITION = "messaging.destination.partition.id"
OFFSET = "messaging.kafka.offset"
GROUP = "messaging.consumer.group.name"
OPERATION_TYPE = "messaging.operation.type"
OPERATION_NAME = "messaging.operation.name"
CONVERSATION = "messaging.message.conversation_id"  # our request_id: a reply repeats its request's
BODY_SIZE = "messaging.message.body.size"
BATCH_SIZE = "messaging.batch.message_count"
ERROR_TYPE = "error.type"
OUTCOME = "messaging.kafka.transaction.outcome"  # ours: committed, aborted or fenced
LINKED_TRACE = "link.trace_id"  # ours: the trace a span's one link points to, for viewers without links
LINKS_PER_BATCH = 1000  # a batch links to every record it carries (a worker's batch holds up to 500)
EXPORTERS = ("otlp", "zipkin")

active = False  # the one test every hook makes
NULL: AbstractContextManager[None] = nullcontext()  # what a hook gives a `with` when tracing is off
_PROPAGATOR = TraceContextTextMapPropagator()
_CONTEXT_HEADERS = frozenset(header.name for header in TRACE_CONTEXT.WRITTEN)
_tracer: trace.Tracer = trace.NoOpTracer()
_provider: TracerProvider | None = None


# -- switching it on ----------------------------------------------------------------------------------

def enabled() -> bool:
    """TRACING: 1 traces, 0 or unset does not."""
    value = os.environ.get("TRACING", "0").strip()
    if value not in ("0", "1", ""):
        raise SettingsError(f"TRACING must be 0 or 1, got {value!r}")
    return value == "1"


def setup(service: str) -> bool:
    """Trace this process as `service` when TRACING=1; whether it does.

    Spans go in batches to the exporter OpenTelemetry's own OTEL_TRACES_EXPORTER names: `otlp` (the default), over HTTP
    to OTEL_EXPORTER_OTLP_ENDPOINT, or `zipkin`, to OTEL_EXPORTER_ZIPKIN_ENDPOINT; the SDK's own variables
    (OTEL_TRACES_SAMPLER, OTEL_BSP_SCHEDULE_DELAY, ...) apply. The resource names the service and INSTANCE_ID.
    """
    if not enabled():
        return False
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip()
    if exporter not in EXPORTERS:
        raise SettingsError(f"OTEL_TRACES_EXPORTER must be one of {', '.join(EXPORTERS)} with TRACING=1, got {exporter!r}")
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanLimits, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

    attributes = {"service.name": service}
    if instance := os.environ.get("INSTANCE_ID"):
        attributes["service.instance.id"] = instance
    # Unless OTEL_SPAN_LINK_COUNT_LIMIT says otherwise, room for a link to every record of a batch.
    limits = SpanLimits(max_links=None if "OTEL_SPAN_LINK_COUNT_LIMIT" in os.environ else LINKS_PER_BATCH)
    provider = TracerProvider(resource=Resource.create(attributes), span_limits=limits)
    sink: SpanExporter
    if exporter == "zipkin":
        from opentelemetry.exporter.zipkin.json import ZipkinExporter
        sink = ZipkinExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        sink = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(sink))
    activate(provider)
    return True


def activate(provider: TracerProvider) -> None:
    """Trace with `provider` (setup's, or a test's with an in-memory exporter)."""
    global active, _tracer, _provider
    _provider, _tracer, active = provider, provider.get_tracer("messaging"), True


def deactivate() -> None:
    global active, _tracer, _provider
    _provider, _tracer, active = None, trace.NoOpTracer(), False


def shutdown() -> None:
    """Send what is still buffered, then stop tracing."""
    if _provider is not None:
        _provider.shutdown()
    deactivate()


# -- trace context in record headers ------------------------------------------------------------------

def inject(headers: Headers | None) -> Headers:
    """`headers` with the current span's trace context in place of any they carried."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return [*((k, v) for k, v in headers or () if k not in _CONTEXT_HEADERS), *carrier.items()]


def inject_missing(headers: Headers) -> Headers:
    """`headers` as they are when they carry a trace context, else with the current span's."""
    return headers if any(k == TRACE_CONTEXT.PARENT.name for k, _ in headers) else inject(headers)


def _carrier(headers: Headers) -> dict[str, str]:
    """The trace context and request id among a record's headers, as text."""
    return {k: v.decode(errors="replace") if isinstance(v, bytes) else v for k, v in headers
            if v is not None and (k in _CONTEXT_HEADERS or k == REQUEST_ID.name)}


def trace_id_of(headers: Headers) -> str | None:
    """The trace id a record's `traceparent` header names (version 00), or None."""
    parent = _carrier(headers).get(TRACE_CONTEXT.PARENT.name, "")
    parts = parent.split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and parts[1] != "0" * 32:
        return parts[1]
    return None


# -- spans --------------------------------------------------------------------------------------------

def processing(message: Message, group: str, batch: Batch | None) -> AbstractContextManager[object]:
    """The span of one record handled by `group`'s worker in `batch`, current until the `with` ends."""
    if not active:
        return NULL
    topic, partition, offset = coordinates(message)
    carrier = _carrier(headers_of(message))
    attributes: dict[str, str | int] = {
        SYSTEM: "kafka", OPERATION_TYPE: "process", OPERATION_NAME: "process", DESTINATION: topic,
        PARTITION: str(partition), OFFSET: offset, GROUP: group, BODY_SIZE: len(message.value() or b""),
    }
    if request_id := carrier.get(REQUEST_ID.name):
        attributes[CONVERSATION] = request_id
    links = None
    if batch is not None:
        links = [Link(batch.span.get_span_context())]
        attributes[LINKED_TRACE] = format(batch.span.get_span_context().trace_id, "032x")
    record = _tracer.start_span(f"process {topic}", context=_PROPAGATOR.extract(carrier), kind=SpanKind.CONSUMER,
                                attributes=attributes, links=links)
    if batch is not None:
        batch.carry(record)
    return trace.use_span(record, end_on_exit=True)


def dead_lettered(dead_letter_topic: str, error: BaseException, reason: str) -> None:
    """The record in hand was set aside: its span is an error and says where the record went."""
    record = trace.get_current_span()
    record.record_exception(error, {"messaging.dead_letter.destination": dead_letter_topic})
    record.set_attribute(ERROR_TYPE, type(error).__name__)
    record.set_status(Status(StatusCode.ERROR, reason))


class Batch:
    """The span of one batch, from Checkpoint.begin to its commit or abandon; it links to the records it carries."""

    def __init__(self, group: str, transactional: bool) -> None:
        operation = "transaction" if transactional else "commit"
        self.span = _tracer.start_span(f"{operation} {group}", context=context.Context(), kind=SpanKind.CLIENT, attributes={
            SYSTEM: "kafka", OPERATION_TYPE: "settle", OPERATION_NAME: operation, GROUP: group})
        self.records = 0

    def carry(self, record: Span) -> None:
        self.records += 1
        self.span.add_link(record.get_span_context())

    def close(self, error: BaseException | None = None, outcome: str = "committed") -> None:
        self.span.set_attributes({BATCH_SIZE: self.records, OUTCOME: outcome})
        if error is not None:
            self.span.record_exception(error)
            self.span.set_attribute(ERROR_TYPE, outcome if outcome == "fenced" else type(error).__name__)
            self.span.set_status(Status(StatusCode.ERROR, f"{outcome}: {error}"))
        self.span.end()


def step(batch: Batch | None, name: str) -> AbstractContextManager[object]:
    """A span for one Kafka call of `batch` (begin_transaction, commit_transaction, ...), its child."""
    if batch is None:
        return NULL
    return _tracer.start_as_current_span(name, context=trace.set_span_in_context(batch.span), kind=SpanKind.CLIENT,
                                         attributes={SYSTEM: "kafka", OPERATION_NAME: name})


def span(name: str, attributes: Mapping[str, str | int | bool] | None = None) -> AbstractContextManager[object]:
    """A span of some work, the child of the current one."""
    if not active:
        return NULL
    return _tracer.start_as_current_span(name, attributes=attributes)


def sending(topic: str, request_id: str) -> AbstractContextManager[object]:
    """A PRODUCER span from producing a request until the broker acknowledges it (or does not)."""
    if not active:
        return NULL
    return _tracer.start_as_current_span(f"send {topic}", kind=SpanKind.PRODUCER, attributes={
        SYSTEM: "kafka", OPERATION_TYPE: "send", OPERATION_NAME: "send", DESTINATION: topic, CONVERSATION: request_id})


def noting_delivery(callback: DeliveryCallback | None) -> DeliveryCallback | None:
    """`callback`, which first tells the current span the partition and offset the record got."""
    current = trace.get_current_span()
    if not current.is_recording():
        return callback

    def delivered(error: KafkaError | None, message: Message) -> None:
        if error is None:
            current.set_attributes({PARTITION: str(message.partition()), OFFSET: message.offset() or 0})
        if callback is not None:
            callback(error, message)

    return delivered


def replaying(topic: str, headers: Headers) -> AbstractContextManager[Headers]:
    """A PRODUCER span for a dead letter sent back to `topic`, the child of the current span (an operator's request) or
    a trace of its own, linked to the trace the letter carried; gives the headers to send, with its context in place of
    the letter's. Off: the headers as they are, so the replayed record goes on in its old trace."""
    if not active:
        return nullcontext(headers)
    return _replaying(topic, headers)


@contextmanager
def _replaying(topic: str, headers: Headers) -> Iterator[Headers]:
    carrier = _carrier(headers)
    earlier = trace.get_current_span(_PROPAGATOR.extract(carrier)).get_span_context()
    attributes = {SYSTEM: "kafka", OPERATION_TYPE: "send", OPERATION_NAME: "replay", DESTINATION: topic}
    if request_id := carrier.get(REQUEST_ID.name):
        attributes[CONVERSATION] = request_id
    links = None
    if earlier.is_valid:
        links = [Link(earlier, {"link.reason": "replay of a dead letter"})]
        attributes[LINKED_TRACE] = format(earlier.trace_id, "032x")
    with _tracer.start_as_current_span(f"send {topic}", kind=SpanKind.PRODUCER, attributes=attributes, links=links):
        yield inject(headers)


# -- HTTP ---------------------------------------------------------------------------------------------

def serving(method: str, path: str, carrier: Mapping[str, str]) -> AbstractContextManager[Span]:
    """A SERVER span for one HTTP request, the child of the trace context its client sent (`traceparent`)."""
    return _tracer.start_as_current_span(f"{method} {path}", context=_PROPAGATOR.extract(carrier), kind=SpanKind.SERVER,
                                         attributes={"http.request.method": method, "url.path": path})


def responded(server: Span, status: int, method: str, route: str | None) -> None:
    """What became of the request `server` spans: its status and, when one matched, the route that served it."""
    server.set_attribute("http.response.status_code", status)
    if route is not None:
        server.set_attribute("http.route", route)
        server.update_name(f"{method} {route}")
    if status >= 500:
        server.set_status(Status(StatusCode.ERROR))
        server.set_attribute(ERROR_TYPE, str(status))


# -- logs ---------------------------------------------------------------------------------------------

def log_ids() -> dict[str, str] | None:
    """The current span's trace and span ids, as a log line carries them; None outside a span."""
    found = trace.get_current_span().get_span_context()
    if not found.is_valid:
        return None
    return {"trace_id": format(found.trace_id, "032x"), "span_id": format(found.span_id, "016x")}
