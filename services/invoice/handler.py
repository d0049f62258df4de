"""Turning one InvoiceRequest into its InvoiceReply: validation, arithmetic, numbering."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from contracts.manifest import Topic
from messaging.runtime import Outgoing
from messaging.worker import Incoming
from services.invoice.billing import Problem, compute_totals, digits_of, validate_request, verification_code
from services.invoice.store import Decision, InvoiceStore

__all__ = ["build_reply", "make_handler"]

log = logging.getLogger(__name__)


def build_reply(
    request: Mapping[str, Any], problems: list[Problem], decision: Decision, contract_version: int = 2
) -> dict[str, Any]:
    """The reply for a decided request; pure, so a repeated request gets the identical reply.

    `contract_version` is the invoice_reply version this generator writes: v2 added verification_code.
    """
    reply: dict[str, Any] = {
        "request_id": request["request_id"],
        "user_id": request["user_id"],
        "status": "REJECTED" if problems else "GENERATED",
        "invoice": None,
        "rejection_reasons": [{"field": p.field, "message": p.message} for p in problems],
        "processed_at": decision.decided_at,
    }
    if not problems:
        totals = compute_totals(request["items"], decision.iss_rate)
        reply["invoice"] = {
            "number": decision.number,
            "issued_at": decision.decided_at,
            "customer": {"name": request["customer"]["name"].strip(), "tax_id": digits_of(request["customer"]["tax_id"])},
            "lines": [
                {"description": line.description, "quantity": line.quantity, "unit_price": line.unit_price,
                 "total": line.total}
                for line in totals.lines
            ],
            "subtotal": totals.subtotal,
            "iss_rate": totals.iss_rate,
            "iss_amount": totals.iss_amount,
            "total": totals.total,
        }
        if contract_version >= 2:
            reply["invoice"]["verification_code"] = verification_code(
                str(request["user_id"]), decision.number or 0, str(request["request_id"])
            )
    return reply


def make_handler(
    store: InvoiceStore, replies: Topic, rate_for: Callable[[str], Decimal], contract_version: int
) -> Callable[[Incoming], list[Outgoing]]:
    def handle(incoming: Incoming) -> list[Outgoing]:
        request = incoming.value
        user_id = str(request["user_id"])
        problems = validate_request(request["customer"], request["items"])
        decision = store.decide(str(request["request_id"]), user_id, not problems, rate_for(user_id))
        reply = build_reply(request, problems, decision, contract_version)
        # Per-record lines are DEBUG: at INFO, formatting them cost more than computing the invoice.
        log.debug(
            "answered", extra={"status": reply["status"], "number": decision.number, "repeated": decision.repeated}
        )
        return [Outgoing(replies, {"user_id": request["user_id"]}, reply, str(request["request_id"]))]

    return handle
