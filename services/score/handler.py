"""The score calculator's two handlers: remember invoice replies, answer score requests."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from contracts.manifest import Topic
from contracts.records import CountedReply, InvoiceReply, ScoreFactor, ScoreReply, ScoreRequest, UserKey
from messaging.records import Handler, Incoming, Outgoing
from services.score.history import History
from services.score.scoring import WINDOW, Scale, calculate_score

__all__ = ["make_history_handler", "make_request_handler"]

log = logging.getLogger(__name__)


def make_history_handler() -> Handler[UserKey, InvoiceReply, History]:
    def remember(incoming: Incoming[UserKey, InvoiceReply], history: History) -> list[Outgoing[object, object]]:
        history.remember(incoming.value, incoming.offset)
        return []

    return remember


def make_request_handler(
    scale: Scale, replies: Topic[UserKey, ScoreReply], contract_version: int, clock: Callable[[], datetime],
) -> Handler[UserKey, ScoreRequest, History]:
    def answer(incoming: Incoming[UserKey, ScoreRequest], history: History) -> list[Outgoing[object, object]]:
        request = incoming.value
        told = history.of(request["user_id"])
        # The window ends now, or at the newest reply if this host's clock is behind the generator's:
        # a reply the user was told of is never "in the future" of their score.
        now = max([clock(), *(fact.processed_at for fact, _ in told[-1:])])
        counted = [(fact, number) for fact, number in told if fact.processed_at > now - WINDOW]
        score = calculate_score(scale, [fact for fact, _ in counted], now)
        reply = ScoreReply(
            request_id=request["request_id"],
            user_id=request["user_id"],
            score=score.score,
            tier=score.tier,
            factors=[
                ScoreFactor(name=f.name, points=f.points, max_points=f.max_points, explanation=f.explanation)
                for f in score.factors
            ],
            invoices_considered=score.invoices_considered,
            calculated_at=now,
        )
        if contract_version >= 2:
            newest = counted[-1] if counted else None
            reply["newest_counted"] = None if newest is None else CountedReply(
                request_id=newest[0].request_id, number=newest[1], processed_at=newest[0].processed_at)
        log.debug("scored", extra={"score": score.score, "tier": score.tier})
        return [Outgoing(replies, UserKey(user_id=request["user_id"]), reply, str(request["request_id"]))]

    return answer
