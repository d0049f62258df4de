"""The dashboard application: wiring of pages, API, live events, Kafka, the database and the metrics port."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from messaging.metrics import serve_health
from messaging.runtime import Runtime
from messaging.settings import SettingsError
from services.dashboard import api, pages
from services.dashboard.actions import IDEMPOTENCY_TTL_SECONDS, BadBody
from services.dashboard.asyncapi import asyncapi
from services.dashboard.bodies import BodyLimits
from services.dashboard.bus import Bus
from services.dashboard.credentials import Credentials
from services.dashboard.db import Database
from services.dashboard.events import Hub
from services.dashboard.headers import SecurityHeaders
from services.dashboard.origins import SameOriginOnly
from services.dashboard.sessions import Sessions
from services.dashboard.settings import DashboardSettings
from services.dashboard.throttle import Throttle

__all__ = ["create_app"]


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")


async def readyz(request: Request) -> Response:
    bus: Bus = request.app.state.bus
    ready = bus.ready and bus.broker_reachable
    return JSONResponse({"ready": ready, "consuming_replies": bus.ready, "kafka_reachable": bus.broker_reachable},
                        status_code=200 if ready else 503)


async def bad_body(request: Request, error: Exception) -> Response:
    assert isinstance(error, BadBody)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": str(error)}, status_code=error.status)
    return PlainTextResponse(f"{error}\n", status_code=error.status)


async def forget_expired(db: Database, sessions: Sessions) -> None:
    """Every hour, forget idempotency keys older than their lifetime (a retry that late is a new request) and
    expired sessions (which already sign no one in)."""
    while True:
        db.forget_keys(int((time.time() - IDEMPOTENCY_TTL_SECONDS) * 1000))
        sessions.forget_expired()
        await asyncio.sleep(3600)


def create_app(settings: DashboardSettings, runtime: Runtime) -> Starlette:
    """The app; `runtime` is made (and its contracts resolved) before, so start-up fails in one sentence."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(settings.database)
        hub = Hub()
        bus = Bus(
            runtime, db, hub, settings.consumer_group,
        )
        credentials = Credentials(
            db, settings.password_threads,
            per_account=Throttle(settings.account_attempts, settings.account_window_seconds),
            per_address=Throttle(settings.address_attempts, settings.address_window_seconds),
        )
        sessions = Sessions(db, settings.session_max_age_seconds)
        try:
            health = serve_health(settings.metrics_port, lambda: bus.ready and bus.broker_reachable)
        except OSError as error:
            raise SettingsError(f"the dashboard cannot serve its metrics on DASHBOARD_METRICS_PORT"
                                f" {settings.metrics_port}: {error.strerror}") from None
        app.state.db, app.state.hub, app.state.bus, app.state.credentials = db, hub, bus, credentials
        app.state.sessions = sessions
        bus.start(asyncio.get_running_loop())
        chores = [asyncio.create_task(bus.expire_forever(settings.request_timeout_seconds)),
                  asyncio.create_task(forget_expired(db, sessions))]
        try:
            yield
        finally:
            for chore in chores:
                chore.cancel()
            health.shutdown()
            health.server_close()
            credentials.close()
            await asyncio.to_thread(bus.stop)
            db.close()

    return Starlette(
        routes=[
            *pages.routes,
            *api.routes,
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/asyncapi.json", asyncapi),
            Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
        ],
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(SameOriginOnly),
            Middleware(BodyLimits, max_bytes=settings.max_body_bytes, timeout_seconds=settings.body_timeout_seconds),
        ],
        exception_handlers={BadBody: bad_body},
        lifespan=lifespan,
    )
