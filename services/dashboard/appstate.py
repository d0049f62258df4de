"""What the handlers share, made once by the app's lifespan: one typed object on `app.state`, read through
`app_state(request)` and nowhere else."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request

from messaging.health import ClientStatus
from services.dashboard.accounts import Accounts
from services.dashboard.catalog import Catalog
from services.dashboard.credentials import Credentials
from services.dashboard.db import Database, OffLoop
from services.dashboard.db.pending import PendingWriter
from services.dashboard.events import Hub
from services.dashboard.invoice_form import InvoiceForm
from services.dashboard.live import Live
from services.dashboard.operations import Operations
from services.dashboard.replies import Replies
from services.dashboard.rules import ContractRules
from services.dashboard.sender import Sender
from services.dashboard.sessions import Sessions

__all__ = ["AppState", "app_state", "attach"]


@dataclass(frozen=True)
class AppState:
    rules: ContractRules  # from the runtime's manifest
    openapi: dict[str, Any]  # /openapi.json, made from `rules`
    invoice_form: InvoiceForm  # what the invoice form reads, as its locale writes it
    db: OffLoop[Database]  # the database, for the event loop
    pending: PendingWriter  # new submissions, written together
    hub: Hub
    sender: Sender
    replies: Replies
    live: Live
    credentials: Credentials
    sessions: Sessions
    accounts: Accounts
    catalog: Catalog
    operations: Operations
    statuses: Callable[[], list[ClientStatus]]  # each Kafka client's health, for /readyz


def attach(app: Starlette, state: AppState) -> None:
    app.state.dashboard = state


def app_state(request: Request) -> AppState:
    """The state the lifespan attached to the app serving `request`."""
    state = request.app.state.dashboard
    assert isinstance(state, AppState), "the app's lifespan has not attached its state"
    return state
