"""The reply is a pure function of the request and its recorded decision."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from contracts.manifest import load_manifest
from services.invoice.billing import Problem, Rules
from services.invoice.handler import MAX_REASONS, build_reply, fingerprint
from services.invoice.store import Decision

REQUEST = {
    "request_id": uuid.uuid4(), "user_id": uuid.uuid4(), "requested_at": datetime(2026, 1, 1, tzinfo=UTC),
    "customer": {"name": " ACME ", "tax_id": "11.222.333/0001-81"},
    "items": [{"description": "Audit", "quantity": Decimal("3"), "unit_price": Decimal("33.33")}],
}
RULES = Rules.of(load_manifest())
DECIDED = Decision(7, datetime(2026, 1, 1, 12, tzinfo=UTC), Decimal("0.05"), "f", repeated=False)


def test_an_accepted_request_becomes_a_numbered_invoice() -> None:
    reply = build_reply(RULES, REQUEST, [], DECIDED)
    assert reply["status"] == "GENERATED" and reply["rejection_reasons"] == []
    invoice = reply["invoice"]
    assert invoice["number"] == 7 and invoice["issued_at"] == DECIDED.decided_at
    assert invoice["customer"] == {"name": "ACME", "tax_id": "11222333000181"}
    totals = (invoice["subtotal"], invoice["iss_amount"], invoice["total"])
    assert totals == (Decimal("99.99"), Decimal("5.00"), Decimal("104.99"))


def test_v2_invoices_carry_a_verification_code_and_v1_ones_do_not() -> None:
    code = build_reply(RULES, REQUEST, [], DECIDED)["invoice"]["verification_code"]
    assert len(code) == 9 and code[4] == "-"
    assert "verification_code" not in build_reply(RULES, REQUEST, [], DECIDED, contract_version=1)["invoice"]


def test_a_repeated_decision_gives_the_identical_reply() -> None:
    assert build_reply(RULES, REQUEST, [], DECIDED) == build_reply(RULES, REQUEST, [], DECIDED)


def test_a_rejection_carries_every_reason_and_no_invoice() -> None:
    problems = [Problem("customer.tax_id", "bad"), Problem("items[0].quantity", "zero")]
    reply = build_reply(RULES, REQUEST, problems, Decision(None, DECIDED.decided_at, Decimal("0.05"), "f", False))
    assert reply["status"] == "REJECTED" and reply["invoice"] is None
    assert reply["rejection_reasons"] == [{"field": "customer.tax_id", "message": "bad"},
                                          {"field": "items[0].quantity", "message": "zero"}]


def test_a_rejection_lists_the_first_reasons_and_counts_the_rest() -> None:
    problems = [Problem(f"items[{i}].quantity", "zero") for i in range(5000)]
    reasons = build_reply(RULES, REQUEST, problems, Decision(None, DECIDED.decided_at, Decimal("0.05"), "f", False))[
        "rejection_reasons"]
    assert len(reasons) == MAX_REASONS + 1
    assert reasons[-1] == {"field": "request", "message": f"and {5000 - MAX_REASONS} more problems not listed"}


def test_the_fingerprint_is_the_content_asked_for_not_when_it_was_sent() -> None:
    resent = {**REQUEST, "requested_at": datetime(2026, 2, 2, tzinfo=UTC)}
    other = {**REQUEST, "items": [{**REQUEST["items"][0], "quantity": Decimal("4")}]}  # type: ignore[index]
    assert fingerprint(resent) == fingerprint(REQUEST) != fingerprint(other)
