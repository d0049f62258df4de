"""The baseline of `dashboard.accept`: the least a Starlette endpoint can do to take an invoice request.

POST /api/invoices parses the same JSON (decimals as Decimal), builds the same invoice_request record and has the
project's Runtime encode and produce it with the dashboard's producer settings (its Runtime, acks=all, idempotent,
the dashboard's message.timeout.ms), then awaits the broker's acknowledgement with the dashboard's own Sender (a
thread serves the delivery reports, the event loop awaits a future) and answers 202 with the request's id. No session, database,
validation or idempotency key: the user is named by an X-User-Id header. Run it as the dashboard's principal:
`python -m bench.bare_intake PORT`, served by uvicorn with its HTTP/1.1 implementation (h11), as the dashboard is.
"""

from __future__ import annotations

import contextlib
import json
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from contracts.records import GENERATE_INVOICE
from messaging.runtime import Runtime
from services.dashboard.sender import DELIVERY_TIMEOUT_MS, Sender, Unavailable

__all__ = ["create_app"]


def create_app(runtime: Runtime) -> Starlette:
    runtime.prepare(runtime.manifest.topic(GENERATE_INVOICE))
    sender = Sender(runtime)

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
        try:
            await sender.ask("invoice", user_id, str(request_id), value)
        except Unavailable as unavailable:
            return JSONResponse({"error": str(unavailable)}, status_code=503)
        url = f"/api/invoices/{request_id}"
        return JSONResponse({"request_id": str(request_id), "status": "pending", "url": url}, 202, {"Location": url})

    async def readyz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sender.start()
        try:
            yield
        finally:
            sender.stop()
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
