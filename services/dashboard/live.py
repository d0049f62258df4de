"""Live updates: a change to a submission reaches its user's open pages, whichever dashboard holds them.

The dashboards share one reply consumer group, so a reply is stored by one of them; the others learn of it:
- on PostgreSQL, by its notification (db/changes.py), sent with the transaction that stored it, on a connection of
  their own (`_listen`);
- from this process directly (`changed`: the reply thread and the expiry chore), which is all SQLite has within one
  process;
- and every POLL_SECONDS by asking the table which submissions changed lately for the users with a page open here: what
  another process changed on SQLite, or a notification lost while the listening connection was down.
A notification and a glance at the table name a change without its content: only the changes not pushed yet (by the
request's id and the time it changed) are read, together, so that the work per change stays the same at any rate.
This component's thread draws each change (the parts of the pages that show it, fragments.py) for the users with a
page open here and pushes it to the hub. An event's id is when its submission changed: a page that reconnects says
the last one it saw (Last-Event-ID) and gets what changed since (`since`).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import psycopg
from sqlalchemy import make_url

from services.dashboard import reads
from services.dashboard.db import Change, Database, State, Submission
from services.dashboard.db.changes import CHANNEL, parse
from services.dashboard.db.engine import now_ms
from services.dashboard.events import Hub
from services.dashboard.fragments import render, render_charts
from services.dashboard.rules import ScoreScale
from services.dashboard.views import event_of

__all__ = ["CHARTS_SECONDS", "POLL_SECONDS", "Live"]

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
# A poll looks this far back: changes stamped by another dashboard's clock, a little behind this one's, are found.
LOOK_BACK_MS = 10_000
CLOCK_MARGIN_MS = 2_000
CHARTS_SECONDS = 2.0  # a user's charts are drawn at most this often (they read the user's whole year)
BATCH = 1_000  # changes taken from the queue at once: the notified ones among them are read in one statement
REMEMBERED = 50_000  # pushes remembered, so that a change learned twice (notified and polled) is pushed once


class Live:
    """Changes to submissions, drawn and pushed to the pages open on this dashboard."""

    def __init__(self, db: Database, hub: Hub, scale: ScoreScale, database_url: str) -> None:
        self.db = db
        self.hub = hub
        self.scale = scale
        self._listen_url = _libpq(database_url)
        self._changes: queue.SimpleQueue[Submission | Change | None] = queue.SimpleQueue()
        self._pushed: OrderedDict[str, int] = OrderedDict()  # request id -> the change pushed (its updated_at)
        self._charted: dict[str, float] = {}  # user -> when their charts were last drawn
        self._owed: set[str] = set()  # users whose charts missed a change (drawn at the next poll after the wait)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._draw, name="live", daemon=True)]
        if self._listen_url is not None:
            self._threads.append(threading.Thread(target=self._listen, name="live-listen", daemon=True))
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._changes.put(None)
        for thread in self._threads:
            thread.join(timeout=10)

    @property
    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self._threads)

    def changed(self, submissions: Sequence[Submission]) -> None:
        """Submissions this process changed (any thread): pushed to the pages open here at once."""
        for submission in submissions:
            self._changes.put(submission)

    def since(self, user_id: str, after_ms: int) -> list[dict[str, Any]]:
        """The events of `user_id`'s submissions changed after `after_ms` (less a margin for another dashboard's clock:
        a change seen twice is shown the same), drawn, for a page that (re)connects; off the event loop."""
        return [self._event(s) for s in self.db.submissions.changed_since([user_id], after_ms - CLOCK_MARGIN_MS)]

    # -- the drawing thread ---------------------------------------------------------------------------

    def _draw(self) -> None:
        next_poll = time.monotonic() + POLL_SECONDS
        while not self._stop.is_set():
            changes = self._next(max(0.0, next_poll - time.monotonic()))
            try:
                self._push([change for change in changes if isinstance(change, Submission)])
                self._push(self._unseen([change for change in changes if isinstance(change, Change)]))
                if time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + POLL_SECONDS
                    listening = self.hub.listeners()
                    self._push(self._unseen(self.db.submissions.changes_since(listening, now_ms() - LOOK_BACK_MS)))
                    self._pay_charts()
            except Exception:  # one bad change or a database hiccup must not end live updates for everyone
                log.exception("could not push a live update")

    def _next(self, timeout: float) -> list[Submission | Change]:
        """The changes waiting (at most BATCH), once the first has come or `timeout` has passed."""
        try:
            first = self._changes.get(timeout=timeout)
        except queue.Empty:
            return []
        taken = [first]
        while len(taken) < BATCH:
            try:
                taken.append(self._changes.get_nowait())
            except queue.Empty:
                break
        return [change for change in taken if change is not None]  # None: stop() woke the thread

    def _unseen(self, changes: Sequence[Change]) -> list[Submission]:
        """The submissions of the changes not pushed yet whose users have a page open here, read in one go: a change
        learned twice, or made here, is not read again."""
        wanted = {change.request_id for change in changes
                  if self.hub.listening(change.user_id) and self._pushed.get(change.request_id) != change.updated_at}
        return self.db.submissions.many(sorted(wanted)) if wanted else []

    def _push(self, submissions: Sequence[Submission]) -> None:
        loop = self._loop
        for submission in submissions:
            if loop is None or not self.hub.listening(submission.user_id):
                continue  # no page of this user's is open here (a racy glance: at worst the next poll pushes it)
            if self._pushed.get(submission.request_id) == submission.updated_at:
                continue
            self._remember(submission)
            loop.call_soon_threadsafe(self.hub.publish, submission.user_id, self._event(submission))

    def _event(self, submission: Submission) -> dict[str, Any]:
        """The change drawn; with the user's charts when it adds to them, at most once per CHARTS_SECONDS per user (a
        change drawn without them leaves them owed, drawn at a poll once the wait is over)."""
        charts = False
        if submission.status in (State.GENERATED, State.CALCULATED):
            charts = self._may_chart(submission.user_id)
            if not charts:
                self._owed.add(submission.user_id)
        return {**event_of(submission), "id": submission.updated_at,
                "fragments": render(reads.update(self.db, submission, with_charts=charts), self.scale)}

    def _may_chart(self, user_id: str) -> bool:
        now = time.monotonic()
        if now - self._charted.get(user_id, float("-inf")) < CHARTS_SECONDS:
            return False
        self._charted[user_id] = now
        self._owed.discard(user_id)
        return True

    def _pay_charts(self) -> None:
        loop = self._loop
        for user_id in list(self._owed):
            if loop is None or not self.hub.listening(user_id):
                self._owed.discard(user_id)
            elif self._may_chart(user_id):
                event = {"kind": "charts", "fragments": render_charts(reads.charts(self.db, user_id), self.scale)}
                loop.call_soon_threadsafe(self.hub.publish, user_id, event)

    def _remember(self, submission: Submission) -> None:
        self._pushed[submission.request_id] = submission.updated_at
        self._pushed.move_to_end(submission.request_id)
        if len(self._pushed) > REMEMBERED:
            self._pushed.popitem(last=False)

    # -- PostgreSQL's notifications --------------------------------------------------------------------

    def _listen(self) -> None:
        """Hand every notification of a change to the drawing thread; reconnect when the connection drops."""
        assert self._listen_url is not None
        pause = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._listen_url, autocommit=True, connect_timeout=5) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    pause = 0.5
                    while not self._stop.is_set():
                        for notice in connection.notifies(timeout=1.0):
                            self._changes.put(parse(notice.payload))
            except psycopg.Error as error:
                log.warning("listening for changes: %s; again in %.1f s", error, pause)
                self._stop.wait(pause)
                pause = min(pause * 2, 10.0)


def _libpq(database_url: str) -> str | None:
    """DATABASE_URL as psycopg takes it, for a PostgreSQL database; None for SQLite (no notifications)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)
