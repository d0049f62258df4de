"""The dashboard application: wiring of pages, API, live events, Kafka, the database and the metrics port."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from contracts.bindings import Binding
from contracts.records import CALCULATE_SCORE, GENERATE_INVOICE, INVOICE_GENERATED, SCORE_CALCULATED
from contracts.registry import RegistryError
from messaging import tracing
from messaging.health import ClientStatus, readiness
from messaging.metrics import serve_health
from messaging.runtime import Runtime
from messaging.serde import SchemaNotRegistered
from messaging.settings import SettingsError
from services.dashboard import account_pages, api, operator_view, pages
from services.dashboard.accounts import Accounts
from services.dashboard.actions import IDEMPOTENCY_TTL_SECONDS, BadBody
from services.dashboard.appstate import AppState, app_state, attach
from services.dashboard.asyncapi import asyncapi
from services.dashboard.auth import SessionLookup
from services.dashboard.bodies import BodyLimits
from services.dashboard.catalog import Catalog
from services.dashboard.credentials import Credentials
from services.dashboard.db import Database, OffLoop
from services.dashboard.db.pending import PendingWriter
from services.dashboard.events import Hub
from services.dashboard.headers import SecurityHeaders
from services.dashboard.invoice_form import InvoiceForm
from services.dashboard.live import Live
from services.dashboard.mailer import Mailer
from services.dashboard.openapi import document
from services.dashboard.operations import Operations
from services.dashboard.origins import SameOriginOnly
from services.dashboard.replies import Replies, expire_forever
from services.dashboard.rules import ContractRules
from services.dashboard.sender import DELIVERY_TIMEOUT_MS, Sender
from services.dashboard.sessions import Sessions
from services.dashboard.settings import DashboardSettings
from services.dashboard.templating import LOCALE
from services.dashboard.throttle import Throttle
from services.dashboard.traced import TracedRequests

__all__ = ["CONTRACTS", "StartupError", "connect", "create_app"]

CONTRACTS: tuple[Binding[Any, Any], ...] = (GENERATE_INVOICE, CALCULATE_SCORE, INVOICE_GENERATED, SCORE_CALCULATED)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")


def statuses(runtime: Runtime, replies: Replies, sender: Sender, live: Live) -> list[ClientStatus]:
    """Every Kafka client of the dashboard, the threads that drive them and the live updates, and whether a broker
    answers."""
    threads = [ClientStatus(name, alive, None if alive else "its thread has stopped", None)
               for name, alive in (("reply thread", replies.alive), ("delivery thread", sender.alive),
                                   ("live updates", live.alive))]
    broker = ClientStatus("broker", sender.broker_reachable,
                          None if sender.broker_reachable else "no broker answers the producer", None)
    return [*runtime.health.statuses(), *threads, broker]


async def readyz(request: Request) -> Response:
    ready, body = readiness(app_state(request).statuses())
    return JSONResponse(body, status_code=200 if ready else 503)


async def bad_body(request: Request, error: Exception) -> Response:
    assert isinstance(error, BadBody)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": str(error)}, status_code=error.status)
    return PlainTextResponse(f"{error}\n", status_code=error.status)


async def forget_expired(db: OffLoop[Database], sessions: Sessions) -> None:
    """Every hour, forget idempotency keys older than their lifetime (a retry that late is a new request) and
    expired sessions (which already sign no one in) and mailed links."""
    while True:
        await db.run(lambda database: database.keys.forget_older_than(int((time.time() - IDEMPOTENCY_TTL_SECONDS) * 1000)))
        await db.run(lambda database: database.tokens.forget_expired())
        await sessions.forget_expired()
        await asyncio.sleep(3600)


def connect() -> Runtime:
    """The dashboard's Kafka and registry connection, every contract it uses resolved now, so that a missing
    registry or schema stops start-up with one sentence (StartupError)."""
    try:
        runtime = Runtime("dashboard", producer_overrides={"message.timeout.ms": DELIVERY_TIMEOUT_MS})
        runtime.prepare(*(runtime.manifest.topic(binding) for binding in CONTRACTS))
    except (SettingsError, RegistryError, SchemaNotRegistered, LookupError) as error:
        raise StartupError(f"dashboard cannot start: {error}") from None
    return runtime


class StartupError(Exception):
    """The dashboard cannot start; the message says why, in one sentence."""


def open_database(settings: DashboardSettings) -> Database:
    """The database, migrated (the pending migrations applied); StartupError when it cannot be opened.

    DATABASE_POOL_SIZE threads serve the handlers, a connection each; the reply consumer's thread, the expiry chore,
    the live updates' thread and the writer of new submissions have one of their own (and on PostgreSQL the live
    updates listen on one more).
    """
    try:
        return Database(settings.database_url, settings.database_pool_size + 4)
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]  # the driver's words, never the URL
        raise StartupError(f"dashboard cannot start: its database (DATABASE_URL) cannot be opened: {reason}") from None


def create_app(settings: DashboardSettings, connected: Callable[[], Runtime] = connect) -> Starlette:
    """The app. Its lifespan makes the runtime (`connected`), the database, the sender of requests and the
    consumer of replies, and closes them in the other order. The rules the handlers apply come from the runtime's
    manifest (ContractRules), and reach them with the rest through the app's state (appstate.AppState)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            runtime = connected()
            database = open_database(settings)
        except StartupError as error:
            app.state.startup_error = error  # for __main__ to say last, once the server has given up
            raise
        rules, group = ContractRules.of(runtime.manifest), settings.reply_group(runtime.manifest)
        db = OffLoop(database, settings.database_pool_size)
        pending = PendingWriter(database)
        hub = Hub()
        sender = Sender(runtime)
        live = Live(database, hub, rules.scale, settings.database_url)
        replies = Replies(runtime, database, live, group)
        credentials = Credentials(
            db, settings.password_threads,
            per_account=Throttle(settings.account_attempts, settings.account_window_seconds),
            per_address=Throttle(settings.address_attempts, settings.address_window_seconds),
        )
        sessions = Sessions(db, settings.session_max_age_seconds)
        mailer = Mailer(settings.mail)
        accounts = Accounts(db, credentials, mailer, settings.public_url, settings.operators)
        await accounts.bootstrap_operators()
        try:
            health = serve_health(settings.metrics_port, lambda: statuses(runtime, replies, sender, live))
        except OSError as error:
            raise SettingsError(f"the dashboard cannot serve its metrics on DASHBOARD_METRICS_PORT"
                                f" {settings.metrics_port}: {error.strerror}") from None
        attach(app, AppState(rules=rules, openapi=document(rules),
                             invoice_form=InvoiceForm.of(runtime.manifest, rules, LOCALE), db=db, pending=pending,
                             hub=hub, sender=sender, replies=replies, live=live, credentials=credentials,
                             sessions=sessions, catalog=Catalog(runtime),
                             accounts=accounts,
                             operations=Operations(runtime, group, settings.trace_viewer if tracing.active else None),
                             statuses=lambda: statuses(runtime, replies, sender, live)))
        sender.start()
        live.start(asyncio.get_running_loop())
        replies.start()
        chores = [asyncio.create_task(expire_forever(database, live, settings.request_timeout_seconds)),
                  asyncio.create_task(forget_expired(db, sessions))]
        try:
            yield
        finally:
            for chore in chores:
                chore.cancel()
            health.shutdown()
            health.server_close()
            await mailer.drain()
            credentials.close()
            await asyncio.to_thread(replies.stop)
            await asyncio.to_thread(live.stop)
            await asyncio.to_thread(pending.close)
            await asyncio.to_thread(sender.stop)
            runtime.close()
            db.close()
            database.close()

    return Starlette(
        routes=[
            *pages.routes,
            *account_pages.routes,
            *operator_view.routes,
            *api.routes,
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/asyncapi.json", asyncapi),
            Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
        ],
        middleware=[
            *([Middleware(TracedRequests)] if tracing.active else []),  # tracing: a span per request
            Middleware(SecurityHeaders),
            Middleware(SameOriginOnly),
            Middleware(BodyLimits, max_bytes=settings.max_body_bytes, timeout_seconds=settings.body_timeout_seconds),
            Middleware(SessionLookup),
        ],
        exception_handlers={BadBody: bad_body},
        lifespan=lifespan,
    )
