"""The score calculator's two handlers: remember invoice replies, answer score requests."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from contracts.manifest import Topic
from messaging.runtime import Outgoing
from messaging.worker import Incoming
from services.score.history import History
from services.score.scoring import WINDOW, InvoiceFact, calculate_score

__all__ = ["fact_of", "make_history_handler", "make_request_handler"]

log = logging.getLogger(__name__)


def fact_of(reply: dict[str, Any]) -> InvoiceFact:
    invoice = reply.get("invoice")
    return InvoiceFact(
        request_id=str(reply["request_id"]),
        status=str(reply["status"]),
        processed_at=reply["processed_at"],
        total=invoice["total"] if invoice else None,
        customer_tax_id=invoice["customer"]["tax_id"] if invoice else None,
    )


def make_history_handler(history: History) -> Callable[[Incoming], list[Outgoing]]:
    def remember(incoming: Incoming) -> list[Outgoing]:
        reply = incoming.value
        added = history.add(str(reply["user_id"]), fact_of(reply))
        log.debug("remembered an invoice reply", extra={"new": added})
        return []

    return remember


def make_request_handler(
    history: History, replies: Topic, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
) -> Callable[[Incoming], list[Outgoing]]:
    def answer(incoming: Incoming) -> list[Outgoing]:
        request = incoming.value
        user_id = str(request["user_id"])
        now = clock()
        score = calculate_score(history.of(user_id, now - WINDOW), now)
        reply = {
            "request_id": request["request_id"],
            "user_id": request["user_id"],
            "score": score.score,
            "tier": score.tier,
            "factors": [
                {"name": f.name, "points": f.points, "max_points": f.max_points, "explanation": f.explanation}
                for f in score.factors
            ],
            "invoices_considered": score.invoices_considered,
            "calculated_at": now,
        }
        log.debug("scored", extra={"score": score.score, "tier": score.tier})
        return [Outgoing(replies, {"user_id": request["user_id"]}, reply, str(request["request_id"]))]

    return answer
