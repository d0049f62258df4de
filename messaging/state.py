"""State owned per input partition: a local SQLite store backed by a compacted changelog topic.

A worker keeps one store per partition it owns, in a file of its own under its state directory; no
file is shared between processes. Every change goes to the changelog, in the same Kafka transaction as
the outputs and the consumer offsets it belongs with; the local file is a cache of the changelog: it
records the changelog offset it reflects (its checkpoint) and is written only after the Kafka
transaction committed, so it may lag the changelog (then the tail is replayed) but never holds a change
the changelog lacks.

Within a batch the changes stay in memory (`put` stages them, the subclass keeps what its queries need
in `on_put`): the file is written once per transaction, in `commit`. A record that fails takes its
own changes back (`record`, then `on_dropped`), an aborted batch all of them (`rollback`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

__all__ = ["PartitionState"]

K = TypeVar("K")  # the changelog's key record
V = TypeVar("V")  # the changelog's value record

_CHECKPOINT = """
CREATE TABLE IF NOT EXISTS checkpoint (
    only_row         INTEGER PRIMARY KEY CHECK (only_row = 0),
    changelog_offset INTEGER NOT NULL  -- the next changelog offset this file does not reflect yet
);
"""


class PartitionState(Generic[K, V]):
    """One partition's state, whose changelog entries are K keys and V values. A service subclasses it with its tables
    (`SCHEMA`), `apply` and `remove` (how one changelog entry, or its tombstone, is written to them), `on_put`,
    `on_dropped` and `on_written` (what its queries keep in memory of the batch's changes) and its queries; its writes
    go through `put`."""

    SCHEMA: ClassVar[str] = ""

    def __init__(self, path: Path, partition: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.partition = partition
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        # The changelog is the durable copy; a commit lost in a power cut is replayed from it.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_CHECKPOINT + self.SCHEMA)
        self.changes: list[tuple[K, V]] = []  # staged since the last take_changes(): for the changelog
        self.staged: list[tuple[K, V]] = []  # staged in this batch: for the file, once the batch commits

    def apply(self, key: K, value: V) -> None:
        """Write one changelog entry to the file's tables (at commit, and while restoring)."""
        raise NotImplementedError

    def remove(self, key: K) -> None:
        """Delete one key's rows from the file (its tombstone, read while restoring: a move to more partitions took the
        key's user to another partition, messaging/repartition.py)."""
        raise NotImplementedError

    def on_put(self, key: K, value: V) -> None:
        """Keep a staged change where the queries find it before it is in the file."""

    def on_dropped(self, dropped: list[tuple[K, V]]) -> None:
        """Drop staged changes from memory: a failed record's, or an aborted batch's."""

    def on_written(self) -> None:
        """The batch's changes are in the file now: what memory held only for them may go."""

    def put(self, key: K, value: V) -> None:
        """Change the state: seen by the queries at once, sent to the changelog with the batch's outputs, and written
        to the file when the batch commits."""
        self.changes.append((key, value))
        self.staged.append((key, value))
        self.on_put(key, value)

    def take_changes(self) -> list[tuple[K, V]]:
        changes, self.changes = self.changes, []
        return changes

    @property
    def checkpoint(self) -> int | None:
        """The changelog offset to restore from; None when this file reflects none of it."""
        row = self.db.execute("SELECT changelog_offset FROM checkpoint").fetchone()
        return None if row is None else int(row[0])

    def begin(self) -> None:
        """Open a write transaction of the file (a restore's, or a commit's)."""
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")

    @contextmanager
    def record(self) -> Iterator[None]:
        """One record's changes, taken back (from memory and from the changelog) if handling it fails."""
        changed, staged = len(self.changes), len(self.staged)
        try:
            yield
        except BaseException:
            dropped = self.staged[staged:]
            del self.changes[changed:]
            del self.staged[staged:]
            self.on_dropped(dropped)
            raise

    def commit(self, changelog_offset: int | None) -> None:
        """Keep the batch: called once the Kafka transaction holding its changelog entries committed."""
        self.begin()
        for key, value in self.staged:
            self.apply(key, value)
        if changelog_offset is not None:
            self.db.execute("INSERT OR REPLACE INTO checkpoint VALUES (0, ?)", (changelog_offset,))
        self.db.execute("COMMIT")
        self.staged.clear()
        self.on_written()

    def rollback(self) -> None:
        """Forget the batch: its Kafka transaction was aborted."""
        dropped, self.staged = self.staged, []
        self.changes.clear()
        if dropped:
            self.on_dropped(dropped)
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def close(self) -> None:
        self.rollback()
        self.db.close()
