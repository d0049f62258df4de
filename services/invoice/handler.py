"""Turning one InvoiceRequest into its InvoiceReply: validation, arithmetic, numbering."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from contracts.manifest import Topic
from contracts.records import Invoice, InvoiceCustomer, InvoiceLine, InvoiceReply, InvoiceRequest, RejectionReason, UserKey
from messaging.records import Handler, Incoming, Outgoing
from services.invoice.billing import (
    Problem,
    Rules,
    Totals,
    check_request,
    compute_totals,
    digits_of,
    verification_code,
)
from services.invoice.store import Decision, InvoiceState

__all__ = ["MAX_REASONS", "build_reply", "fingerprint", "make_handler", "rejection"]

log = logging.getLogger(__name__)

# A rejection lists the first reasons and how many more there were: one reply per request must stay
# far below what the broker takes, whatever the request holds.
MAX_REASONS = 20


def fingerprint(request: InvoiceRequest) -> str:
    """What the request asks for (customer and items, fields in the contract's order), so a request_id
    reused for another invoice is told apart from a repeat of the same request, even one whose
    requested_at was set anew when it was sent again."""
    return hashlib.sha256(repr((request["customer"], request["items"])).encode()).hexdigest()


def build_reply(
    rules: Rules, request: InvoiceRequest, problems: list[Problem], decision: Decision, contract_version: int = 2,
    totals: Totals | None = None,
) -> InvoiceReply:
    """The reply for a decided request; pure, so a repeated request gets the identical reply.

    `contract_version` is the invoice_reply version this generator writes: v2 added verification_code. `totals` are
    the request's at the decision's rate when the caller has them already.
    """
    if problems:
        return rejection(request, problems, decision.decided_at)
    number = decision.number
    assert number is not None, "an accepted request is numbered when it is decided"
    if totals is None or totals.iss_rate != decision.iss_rate:
        totals = compute_totals(rules, request["items"], decision.iss_rate)
    invoice = Invoice(
        number=number,
        issued_at=decision.decided_at,
        customer=InvoiceCustomer(name=request["customer"]["name"].strip(), tax_id=digits_of(request["customer"]["tax_id"])),
        lines=[
            InvoiceLine(description=line.description, quantity=line.quantity, unit_price=line.unit_price, total=line.total)
            for line in totals.lines
        ],
        subtotal=totals.subtotal,
        iss_rate=totals.iss_rate,
        iss_amount=totals.iss_amount,
        total=totals.total,
    )
    if contract_version >= 2:
        invoice["verification_code"] = verification_code(str(request["user_id"]), number, str(request["request_id"]))
    return InvoiceReply(
        request_id=request["request_id"], user_id=request["user_id"], status="GENERATED", invoice=invoice,
        rejection_reasons=[], processed_at=decision.decided_at,
    )


def rejection(request: InvoiceRequest, problems: list[Problem], processed_at: datetime) -> InvoiceReply:
    """A rejection that decides nothing: it takes no number and is not remembered."""
    return InvoiceReply(
        request_id=request["request_id"], user_id=request["user_id"], status="REJECTED", invoice=None,
        rejection_reasons=_bounded(problems), processed_at=processed_at,
    )


def _bounded(problems: list[Problem]) -> list[RejectionReason]:
    shown = [RejectionReason(field=p.field, message=p.message) for p in problems[:MAX_REASONS]]
    if len(problems) > MAX_REASONS:
        shown.append(RejectionReason(field="request", message=f"and {len(problems) - MAX_REASONS} more problems not listed"))
    return shown


def make_handler(
    rules: Rules, replies: Topic[UserKey, InvoiceReply], rate_for: Callable[[str], Decimal], contract_version: int,
    clock: Callable[[], datetime],
) -> Handler[UserKey, InvoiceRequest, InvoiceState]:
    def handle(incoming: Incoming[UserKey, InvoiceRequest], state: InvoiceState) -> list[Outgoing[object, object]]:
        request = incoming.value
        user_id = request["user_id"]
        refused = _refusal(incoming)
        if refused is not None:
            return [_reply(replies, rejection(request, [refused], clock()))]
        content = fingerprint(request)
        decision = state.find(user_id, request["request_id"])
        if decision is not None and decision.fingerprint != content:
            problem = Problem("request_id", "was already used by this user for a request with other content;"
                                            " this one was not invoiced (send it with a new request_id)")
            return [_reply(replies, rejection(request, [problem], clock()))]
        rate = rate_for(str(user_id)) if decision is None else decision.iss_rate
        checked = check_request(rules, request["customer"], request["items"], rate)
        problems = checked.problems
        if decision is None:
            decision = state.decide(user_id, request["request_id"], content, not problems, rate, clock())
        elif decision.number is None and not problems:  # the rules changed since: the first answer stands
            problems = [Problem("request", "was rejected when it was first decided")]
        elif decision.number is not None:
            problems = []
        reply = build_reply(rules, request, problems, decision, contract_version, checked.totals)
        # Per-record lines are DEBUG: at INFO, formatting them cost more than computing the invoice.
        log.debug("answered", extra={"status": reply["status"], "number": decision.number, "repeated": decision.repeated})
        return [_reply(replies, reply)]

    return handle


def _refusal(incoming: Incoming[UserKey, InvoiceRequest]) -> Problem | None:
    """A request whose key does not name its user would be numbered in the wrong user's partition."""
    if incoming.key is None:
        return Problem("key", f"{incoming.key_problem}; the key must be the user_key of the request's user_id")
    key_user, value_user = incoming.key["user_id"], incoming.value["user_id"]
    if key_user != value_user:
        return Problem("key", f"names user {key_user} but the request is for user {value_user}; they must be equal")
    return None


def _reply(replies: Topic[UserKey, InvoiceReply], reply: InvoiceReply) -> Outgoing[UserKey, InvoiceReply]:
    return Outgoing(replies, UserKey(user_id=reply["user_id"]), reply, str(reply["request_id"]))
