"""The baseline of `dashboard.accept`: the least a Starlette endpoint can do to take an invoice request.

POST /api/invoices parses the same JSON (decimals as Decimal), builds the same invoice_request record and has the
project's Runtime encode and produce it with the dashboard's producer settings (its Runtime, acks=all, idempotent,
the dashboard's message.timeout.ms), then awaits the broker's acknowledgement as the dashboard does (a thread serves
the delivery reports, the event loop awaits a future) and answers 202 with the request's id. No session, database,
validation or idempotency key: the user is named by an X-User-Id header. Run it as the dashboard's principal:
`python -m bench.bare_intake PORT`, served by uvicorn with its HTTP/1.1 implementation (h11), as the dashboard is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import uvicorn
from confluent_kafka import KafkaError, Message
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from contracts.records import GENERATE_INVOICE
from messaging.runtime import Outgoing, Runtime
from services.dashboard.sender import DELIVERY_TIMEOUT_MS

__all__ = ["create_app"]


def create_app(runtime: Runtime) -> Starlette:
    topic = runtime.manifest.topic(GENERATE_INVOICE)
    runtime.prepare(topic)
    stop = threading.Event()

    def serve_deliveries() -> None:
        while not stop.is_set():
            runtime.producer.poll(0.1)

    async def accept(request: Request) -> Response:
        data = json.loads(await request.body(), parse_float=Decimal)
        user_id = request.headers["x-user-id"]
        request_id = uuid.uuid4()
        value = {
            "request_id": request_id,
            "user_id": uuid.UUID(user_id),
            "requested_at": datetime.now(UTC),
            "customer": {"name": data["customer"]["name"], "tax_id": data["customer"]["tax_id"]},
            "items": [{"description": item["description"], "quantity": Decimal(item["quantity"]),
                       "unit_price": Decimal(item["unit_price"])} for item in data["items"]],
        }
        loop = asyncio.get_running_loop()
        delivered: asyncio.Future[KafkaError | None] = loop.create_future()

        def settle(error: KafkaError | None) -> None:
            if not delivered.done():
                delivered.set_result(error)

        def report(error: KafkaError | None, _: Message) -> None:  # on the delivery thread
            loop.call_soon_threadsafe(settle, error)

        runtime.produce(Outgoing(topic, {"user_id": user_id}, value, str(request_id)), report)
        error = await asyncio.wait_for(delivered, DELIVERY_TIMEOUT_MS / 1000 + 5)
        if error is not None:
            return JSONResponse({"error": error.str()}, status_code=503)
        url = f"/api/invoices/{request_id}"
        return JSONResponse({"request_id": str(request_id), "status": "pending", "url": url}, 202, {"Location": url})

    async def readyz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        thread = threading.Thread(target=serve_deliveries, name="deliveries", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=30)
            runtime.close()

    return Starlette(routes=[Route("/api/invoices", accept, methods=["POST"]), Route("/readyz", readyz)],
                     lifespan=lifespan)


def main(port: int) -> int:
    runtime = Runtime("dashboard", producer_overrides={"message.timeout.ms": DELIVERY_TIMEOUT_MS})
    uvicorn.run(create_app(runtime), host="127.0.0.1", port=port, http="h11", log_config=None, access_log=False,
                server_header=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1])))
