"""What the dashboard stores, as the rest of it sees it: plain frozen records, no SQL."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Change", "Claim", "Session", "State", "Submission", "User"]


class State(StrEnum):
    """A submission's life: pending until its answer (generated or rejected, calculated) or its time-out. Said once
    here; the first migration's CHECK is a snapshot of it, as migrations are."""

    PENDING = "pending"
    GENERATED = "generated"
    REJECTED = "rejected"
    CALCULATED = "calculated"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class User:
    id: str
    email: str
    password_hash: str
    verified: bool  # its owner opened a link mailed to the address
    operator: bool  # granted the operator view (db/operators.py)


@dataclass(frozen=True)
class Session:
    """A signed-in browser: whose it is, and the token its forms carry."""

    user: User
    csrf: str


@dataclass(frozen=True)
class Submission:
    """A request a user made (an invoice or a score) as stored, with its answer once it came. Not called a request,
    so that it is never mistaken for the HTTP request that made it."""

    request_id: str
    kind: str  # "invoice" or "score"
    user_id: str
    status: str  # a State
    created_at: int  # epoch milliseconds, UTC
    updated_at: int
    request: dict[str, Any]  # what was asked, as JSON
    reply: dict[str, Any] | None  # the answer, as JSON, once it came


@dataclass(frozen=True)
class Claim:
    """An idempotency key already used: for what, which request it made, and whether Kafka has that request."""

    fingerprint: str
    request_id: str
    state: str  # 'sending' until Kafka has the request, then 'accepted'
    created_at: int


@dataclass(frozen=True)
class Change:
    """That a submission changed, without its content: what a notification or a glance at the table tells."""

    user_id: str
    request_id: str
    updated_at: int | None  # None: not known (read the submission to see)
