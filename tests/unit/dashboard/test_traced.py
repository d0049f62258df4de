"""The dashboard's HTTP spans (TRACING=1): one per request, named by its route, the child of a client's traceparent;
none for the event streams, probes and files."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from messaging import tracing
from services.dashboard.traced import TracedRequests

TRACE, PARENT = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


async def invoice(request: Request) -> Response:
    headers = tracing.inject(None)  # what a record produced now would carry
    return PlainTextResponse(dict(headers).get("traceparent", "") if headers else "", status_code=202)


async def broken(request: Request) -> Response:
    return PlainTextResponse("no", status_code=503)


async def events(request: Request) -> Response:
    return PlainTextResponse("")


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.activate(provider)
    yield exporter
    tracing.deactivate()


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = Starlette(routes=[Route("/api/invoices/{request_id}", invoice, methods=["POST"]), Route("/broken", broken),
                            Route("/events", events)], middleware=[Middleware(TracedRequests)])
    with TestClient(app) as test_client:
        yield test_client


def test_a_request_is_a_server_span_named_by_its_route_and_child_of_the_clients_context(
    spans: InMemorySpanExporter, client: TestClient
) -> None:
    answer = client.post("/api/invoices/123", headers={"traceparent": f"00-{TRACE}-{PARENT}-01"})
    (span,) = spans.get_finished_spans()
    assert span.name == "POST /api/invoices/{request_id}" and span.kind is SpanKind.SERVER
    assert format(span.context.trace_id, "032x") == TRACE and span.parent is not None
    assert format(span.parent.span_id, "016x") == PARENT
    assert (span.attributes or {})["http.response.status_code"] == 202
    assert (span.attributes or {})["url.path"] == "/api/invoices/123"
    assert answer.text.startswith(f"00-{TRACE}-{format(span.context.span_id, '016x')}-")  # records carry this span


def test_a_server_error_is_an_error_span(spans: InMemorySpanExporter, client: TestClient) -> None:
    client.get("/broken")
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR and span.parent is None


def test_the_event_stream_is_not_traced(spans: InMemorySpanExporter, client: TestClient) -> None:
    client.get("/events")
    assert not spans.get_finished_spans()
