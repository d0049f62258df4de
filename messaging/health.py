"""Whether each Kafka client of a process can do its work: the truth behind /readyz, `make status` and the operator
view.

A client is ready while nothing is wrong with it: a consumer must have joined its group (an assignment, possibly
empty, since it was last built) and come back from polling recently; no client may hold a fatal error or keep
failing. The thread that uses a client reports on it; readers take a snapshot from any thread.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import KafkaError

__all__ = ["STALE_SECONDS", "Client", "ClientStatus", "Health", "is_fatal", "readiness"]

# A consumer whose loop has not come back from Kafka for this long is stuck (a batch's calls are given 10 s each,
# a restore of a big state may take a while: both stay well under it).
STALE_SECONDS = 60.0


def is_fatal(error: KafkaError) -> bool:
    """Whether the client that reported `error` is unusable for good: librdkafka's fatal errors (a fenced producer, a
    static consumer fenced by another member with its group.instance.id), which consumers report as _FATAL."""
    return error.fatal() or error.code() == KafkaError._FATAL


@dataclass(frozen=True)
class ClientStatus:
    client: str
    ready: bool
    reason: str | None  # what is wrong, in words; None when ready
    since: str | None  # when it went wrong, UTC ISO 8601

    def line(self) -> str:
        return f"{self.client}: ready" if self.ready else f"{self.client}: {self.reason} (since {self.since})"


class Client:
    """One client's health, reported by the thread that uses it."""

    def __init__(self, name: str, *, consumer: bool) -> None:
        self.name = name
        self.consumer = consumer
        self._lock = threading.Lock()
        self._built_at = time.time()
        self._joined = not consumer
        self._polled_at: float | None = None  # time.monotonic() of the last return from a poll
        self._problem: str | None = None
        self._problem_at = 0.0
        self._problem_until: float | None = None  # time.monotonic() when a passing problem stops counting

    def built(self) -> None:
        """A new client replaced the last one: a consumer must join its group again."""
        with self._lock:
            self._built_at = time.time()
            self._joined = not self.consumer
            self._polled_at = None

    def joined(self) -> None:
        """The consumer was given its assignment (it may be empty): it is a member of its group, whatever ended the
        consumer before it."""
        with self._lock:
            self._joined = True
            self._problem, self._problem_until = None, None

    def polled(self) -> None:
        with self._lock:
            self._polled_at = time.monotonic()

    def failing(self, reason: str, *, for_seconds: float | None = None) -> bool:
        """Something keeps the client from working: until `working()`, or for `for_seconds` after the last report of a
        passing trouble (a consumer error, a batch that must be retried). True when that is news, so the caller logs
        it once."""
        with self._lock:
            self._expire()
            news = self._problem != reason
            if self._problem is None:
                self._problem_at = time.time()
            self._problem = reason
            self._problem_until = None if for_seconds is None else time.monotonic() + for_seconds
            return news

    def working(self) -> bool:
        """It works again; True when it had been failing."""
        with self._lock:
            was, self._problem, self._problem_until = self._problem, None, None
            return was is not None

    def _expire(self) -> None:
        if self._problem_until is not None and time.monotonic() > self._problem_until:
            self._problem, self._problem_until = None, None

    def status(self) -> ClientStatus:
        with self._lock:
            self._expire()
            if self._problem is not None:
                return ClientStatus(self.name, False, self._problem, _iso(self._problem_at))
            if not self._joined:
                return ClientStatus(self.name, False, "has not joined its consumer group yet", _iso(self._built_at))
            if self.consumer and self._polled_at is not None:
                idle = time.monotonic() - self._polled_at
                if idle > STALE_SECONDS:
                    return ClientStatus(self.name, False, f"has not come back from Kafka for {idle:.0f} s",
                                        _iso(time.time() - idle))
            return ClientStatus(self.name, True, None, None)


class Health:
    """Every client of a process; the process is ready when each one is."""

    def __init__(self) -> None:
        self._clients: dict[str, Client] = {}
        self._lock = threading.Lock()

    def client(self, name: str, *, consumer: bool) -> Client:
        with self._lock:
            found = self._clients.get(name)
            if found is None:
                found = self._clients[name] = Client(name, consumer=consumer)
            return found

    def statuses(self) -> list[ClientStatus]:
        with self._lock:
            clients = list(self._clients.values())
        return [client.status() for client in clients]

    def ready(self) -> bool:
        return all(status.ready for status in self.statuses())


def readiness(statuses: list[ClientStatus]) -> tuple[bool, dict[str, object]]:
    """Whether all are ready, and the /readyz body: each client that is not, why and since when."""
    ready = all(status.ready for status in statuses)
    return ready, {"ready": ready, "clients": [
        {"client": s.client, "ready": s.ready, **({"reason": s.reason, "since": s.since} if not s.ready else {})}
        for s in statuses]}


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")
