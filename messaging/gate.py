"""What a stateful worker may do with a record before it touches a partition's state.

- **Placement.** A record belongs to the partition its key's bytes pick under the topic's partitioner (the
  manifest's, see contracts/partitioning.py). One found elsewhere (a producer with another partitioner, or a
  partition written by hand) would meet the wrong partition's state: it is forwarded, untouched, to its key's
  partition, once; one that still is not where its key belongs is set aside.
- **Partitions still being filled.** While a move to more partitions (messaging/repartition.py) copies the state of
  the users who move, the new partitions hold records those users' state has not reached yet: a worker given one
  holds it, paused, until the move says the copying is over (`Filling`).
- **Order across co-partitioned topics** (`after`): a record of the first topic is handled only once partition p of
  the second has been read to where it ended at that moment, so an answer counts everything written there before
  the question was asked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from contracts.moves import COPYING, SWITCHING, Move
from contracts.partitioning import MURMUR2, murmur2

__all__ = ["After", "Filling", "Placement"]

log = logging.getLogger(__name__)

# Hashes remembered by key bytes: a user's key is the same on each of their records, so a busy worker hashes each
# user once (a cleared table costs one hash per user again).
REMEMBERED = 100_000
ASK_SECONDS = 0.5  # how often a worker holding partitions asks whether the move has filled them


class Placement:
    """Where each topic's records belong: partition counts as the cluster has them, partitioners as the manifest says."""

    def __init__(self, partitioners: Mapping[str, str]) -> None:
        self.partitioners = {topic: p for topic, p in partitioners.items() if p == MURMUR2}
        self.partitions: dict[str, int] = {}  # topic -> its partition count now (set on every assignment)
        self._hashes: dict[bytes, int] = {}

    def owner(self, topic: str, key: bytes | None) -> int | None:
        """The partition `key` belongs to; None when the topic is not placed by key or the record has no key."""
        count = self.partitions.get(topic)
        if key is None or count is None or topic not in self.partitioners:
            return None
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= REMEMBERED:
                self._hashes.clear()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return hashed % count


class Filling:
    """The partitions this worker holds, paused, because a move is still filling them. Only a partition the manifest
    does not list (numbered from `listed` up: the mover writes the new count into the manifest once it is done) may be,
    and only then is the move asked (`read_move`, one admin request): at the assignment, then every ASK_SECONDS while
    any is held."""

    def __init__(self, read_move: Callable[[], Move | None], listed: int) -> None:
        self.read_move = read_move
        self.listed = listed
        self.held: set[int] = set()
        self._asked = 0.0

    def hold(self, partitions: Iterable[int]) -> set[int]:
        """Of the partitions just assigned, those to hold."""
        unlisted = {p for p in partitions if p >= self.listed}
        self.held = {p for p in unlisted if p >= self._filled_from()} if unlisted else set()
        return set(self.held)

    def release(self, now: float) -> set[int]:
        """The held partitions no longer being filled (which the worker restores and resumes)."""
        if not self.held or now - self._asked < ASK_SECONDS:
            return set()
        self._asked = now
        below = self._filled_from()
        released = {p for p in self.held if p < below}
        self.held -= released
        return released

    def forget(self, partitions: Iterable[int]) -> None:
        self.held -= set(partitions)

    def _filled_from(self) -> int:
        """The first partition being filled (one past any partition there is, when none is)."""
        try:
            move = self.read_move()
        except Exception as error:  # the broker, or a right missing: hold what is unlisted, ask again in a second
            log.warning("could not read whether a move to more partitions is under way: %s", error)
            return self.listed
        return move.old if move is not None and move.step in (COPYING, SWITCHING) else 1 << 31


class After:
    """How far each partition has been read, and whether a record of a topic with `after` may be handled yet."""

    def __init__(self, after: Mapping[str, str], end_of: Callable[[str, int], int]) -> None:
        self.after = dict(after)  # topic -> the co-partitioned topic it waits for
        self.end_of = end_of  # (topic, partition) -> where that partition ends now
        self.reached: dict[tuple[str, int], int] = {}  # (topic, partition) -> the offset read up to
        self._ends: dict[int, int] = {}  # partition -> its end in the awaited topic, asked once per batch

    def new_batch(self) -> dict[tuple[str, int], int]:
        """Start a batch; returns what to put back with `undo` if the batch is abandoned."""
        self._ends.clear()
        return dict(self.reached)

    def undo(self, reached: dict[tuple[str, int], int]) -> None:
        self.reached = reached

    def reach(self, topic: str, partition: int, offset: int) -> None:
        if self.reached.get((topic, partition), -1) < offset:
            self.reached[(topic, partition)] = offset

    def forget(self, topic: str, partition: int) -> None:
        self.reached.pop((topic, partition), None)

    def may_handle(self, topic: str, partition: int) -> bool:
        other = self.after.get(topic)
        if other is None:
            return True
        if partition not in self._ends:
            self._ends[partition] = self.end_of(other, partition)
        return self.reached.get((other, partition), -1) >= self._ends[partition]
