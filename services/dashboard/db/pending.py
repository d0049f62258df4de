"""New submissions written together: many requests arriving at once share one transaction (group commit), so that under
load the database commits once per handful of requests rather than once per request."""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any

from services.dashboard.db.database import Database

__all__ = ["PendingWriter"]

MOST = 200  # submissions in one transaction at most


class PendingWriter:
    """One thread writing the new submissions handed to `add`, all that are waiting at once in one transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._waiting: queue.SimpleQueue[tuple[tuple[str, str, str, dict[str, Any]], asyncio.Future[None]] | None] = (
            queue.SimpleQueue())
        self._thread = threading.Thread(target=self._write, name="pending-writer", daemon=True)
        self._thread.start()

    async def add(self, request_id: str, kind: str, user_id: str, request: dict[str, Any]) -> None:
        """Once the submission is in the database, pending (or the database's error)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.put(((request_id, kind, user_id, request), done))
        await done

    def close(self) -> None:
        self._waiting.put(None)
        self._thread.join(timeout=30)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _write(self) -> None:
        while (first := self._waiting.get()) is not None:
            batch = [first]
            while len(batch) < MOST:
                try:
                    more = self._waiting.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._waiting.put(None)  # stop after this batch
                    break
                batch.append(more)
            try:
                self._db.submissions.add_all([row for row, _ in batch])
                outcome: BaseException | None = None
            except Exception as error:  # each waiting request is told, as a call of its own would have been
                outcome = error
            for _, done in batch:
                done.get_loop().call_soon_threadsafe(_settle, done, outcome)


def _settle(done: asyncio.Future[None], outcome: BaseException | None) -> None:
    if done.done():
        return
    if outcome is None:
        done.set_result(None)
    else:
        done.set_exception(outcome)
