"""Attempts counted per key (an account, a client address): a token bucket per key, in memory."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["Throttle"]


class Throttle:
    """At most `attempts` in a burst per key, given back evenly over `window_seconds`.

    Every method runs on the event loop's thread, so a check and the take that follows it cannot interleave.
    """

    def __init__(self, attempts: int, window_seconds: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        if attempts < 1 or window_seconds <= 0:
            raise ValueError("a throttle needs at least one attempt per window and a window longer than zero")
        self.attempts = attempts
        self.window_seconds = window_seconds
        self._per_second = attempts / window_seconds
        self._clock = clock
        self._max_keys = max_keys
        # key -> (tokens, when they were counted), least recently touched first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def wait(self, key: str) -> int:
        """Whole seconds until `key` may try again; 0 when it may now."""
        missing = 1 - self._tokens(key, self._clock())
        return math.ceil(missing / self._per_second) if missing > 0 else 0

    def take(self, key: str) -> None:
        now = self._clock()
        self._store(key, max(0.0, self._tokens(key, now) - 1), now)

    def give_back(self, key: str) -> None:
        now = self._clock()
        self._store(key, min(self.attempts, self._tokens(key, now) + 1), now)

    def _tokens(self, key: str, now: float) -> float:
        tokens, counted = self._buckets.get(key, (self.attempts, now))
        return min(self.attempts, tokens + (now - counted) * self._per_second)

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        # A bucket untouched for a whole window is full again, the same as no bucket: forgetting it keeps
        # memory bounded by the keys seen in one window, however many an attacker makes up.
        while self._buckets:
            _, (_, counted) = next(iter(self._buckets.items()))
            if now - counted < self.window_seconds:
                break
            self._buckets.popitem(last=False)
        # And never more than `max_keys` (a few MB) even within a window: the least recently touched go first, so
        # a flood of made-up keys forgets old buckets rather than growing the process without end.
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)
