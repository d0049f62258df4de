"""Hearing the answers: the replies consumed from Kafka become the submissions' new states, and live updates."""

from __future__ import annotations

import asyncio
import threading
import time

from sqlalchemy.exc import SQLAlchemyError

from contracts.records import INVOICE_GENERATED, SCORE_CALCULATED, InvoiceReply, ScoreReply, UserKey
from messaging import tracing
from messaging.records import Incoming, Outgoing, route
from messaging.runtime import Runtime
from messaging.worker import Retry, Worker
from services.dashboard.db import Database, State
from services.dashboard.db.submissions import Answer
from services.dashboard.live import Live
from services.dashboard.views import jsonable

__all__ = ["Replies", "expire_forever"]


class Replies:
    """A thread consuming the invoice and score replies in the dashboards' one group: each batch answers its pending
    submissions in one database transaction (which tells every dashboard, db.changes) before its offsets commit, and
    this dashboard's live updates learn of them at once."""

    def __init__(self, runtime: Runtime, db: Database, live: Live, group: str) -> None:
        self.db = db
        self.live = live
        manifest = runtime.manifest
        # It produces nothing and applies each reply idempotently: at least once is exact here. A group seen for the
        # first time starts at the end of the replies: what came before it was applied by the dashboards before it,
        # and years of replies to skip one by one would hold up every new answer.
        self.worker: Worker[None] = Worker(
            runtime, group,
            [route(manifest.topic(INVOICE_GENERATED), self._on_invoice), route(manifest.topic(SCORE_CALCULATED), self._on_score)],
            exactly_once=False, new_group_starts_at_end=True, before_commit=self._store,
        )
        self._batch: list[Answer] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.worker.run, args=(self._stop,), name="replies", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _on_invoice(self, incoming: Incoming[UserKey, InvoiceReply], _: None) -> list[Outgoing[object, object]]:
        reply = incoming.value
        status = State.GENERATED if reply["status"] == "GENERATED" else State.REJECTED
        self._batch.append(Answer(str(reply["request_id"]), "invoice", str(reply["user_id"]), status, jsonable(reply)))
        return []

    def _on_score(self, incoming: Incoming[UserKey, ScoreReply], _: None) -> list[Outgoing[object, object]]:
        reply = incoming.value
        self._batch.append(Answer(str(reply["request_id"]), "score", str(reply["user_id"]), State.CALCULATED,
                                  jsonable(reply)))
        return []

    def _store(self) -> None:
        """The batch's answers, in one transaction, before its offsets commit (a crash in between answers them again,
        which changes nothing); replies to submissions made elsewhere (another database, a test) change nothing."""
        batch, self._batch = self._batch, []
        traced = self.worker.checkpoint.batch  # tracing: both steps are children of the batch's span
        try:
            with tracing.step(traced, "store answers"):
                answered = self.db.submissions.answer(batch)
        except SQLAlchemyError as error:
            reason = str(getattr(error, "orig", None) or error).splitlines()[0]
            raise Retry(f"the database refused the replies: {reason}") from None
        with tracing.step(traced, "live updates"):
            self.live.changed(answered)


async def expire_forever(db: Database, live: Live, timeout_seconds: int) -> None:
    """Every second, time out what waited too long, so no request stays pending forever."""
    while True:
        expired = await asyncio.to_thread(db.submissions.expire, int((time.time() - timeout_seconds) * 1000))
        live.changed(expired)
        await asyncio.sleep(1)
