"""What a stateful worker may do with a record before it touches a partition's state.

- **Placement.** A record belongs to the partition its key's bytes pick under the topic's partitioner (the
  manifest's, see contracts/partitioning.py). One found elsewhere (a producer with another partitioner, or a
  partition written by hand) would meet the wrong partition's state: it is forwarded, untouched, to its key's
  partition, once; one that still is not where its key belongs is set aside.
- **Order across co-partitioned topics** (`after`): a record of the first topic is handled only once partition p of
  the second has been read to where it ended at that moment, so an answer counts everything written there before
  the question was asked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from contracts.partitioning import MURMUR2, murmur2

__all__ = ["After", "Placement"]

# Hashes remembered by key bytes: a user's key is the same on each of their records, so a busy worker hashes each
# user once (a cleared table costs one hash per user again).
REMEMBERED = 100_000


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
