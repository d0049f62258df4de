"""State owned per input partition: a local SQLite store backed by a compacted changelog topic.

A worker keeps one store per partition it owns, in a file of its own under its state directory; no
file is shared between processes. Every write goes to the local tables and to the changelog, in the
same Kafka transaction as the outputs and the consumer offsets it belongs with. The local file is a
cache of the changelog: it records the changelog offset it reflects (its checkpoint) and is committed
only after the Kafka transaction is, so it may lag the changelog (then the tail is replayed) but never
holds a change the changelog lacks.
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
    (`SCHEMA`), `apply` (how one changelog entry is written to them) and its queries; its writes go through `put`."""

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
        self.changes: list[tuple[K, V]] = []  # (key, value) written since the last take_changes()

    def apply(self, key: K, value: V) -> None:
        """Write one changelog entry to the local tables (from a handler, or while restoring)."""
        raise NotImplementedError

    def put(self, key: K, value: V) -> None:
        """Change the state: applied here at once, sent to the changelog with the batch's outputs."""
        self.apply(key, value)
        self.changes.append((key, value))

    def take_changes(self) -> list[tuple[K, V]]:
        changes, self.changes = self.changes, []
        return changes

    @property
    def checkpoint(self) -> int | None:
        """The changelog offset to restore from; None when this file reflects none of it."""
        row = self.db.execute("SELECT changelog_offset FROM checkpoint").fetchone()
        return None if row is None else int(row[0])

    def begin(self) -> None:
        """Open the batch's transaction on first use; held until the Kafka transaction is decided."""
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")

    @contextmanager
    def record(self) -> Iterator[None]:
        """One record's changes, undone (locally and for the changelog) if handling it fails."""
        self.begin()
        already = len(self.changes)
        self.db.execute("SAVEPOINT record")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK TO record")
            self.db.execute("RELEASE record")
            del self.changes[already:]
            raise
        self.db.execute("RELEASE record")

    def commit(self, changelog_offset: int | None) -> None:
        """Keep the batch: called once the Kafka transaction holding its changelog entries committed."""
        self.begin()
        if changelog_offset is not None:
            self.db.execute("INSERT OR REPLACE INTO checkpoint VALUES (0, ?)", (changelog_offset,))
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        """Forget the batch: its Kafka transaction was aborted."""
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")
        self.changes.clear()

    def close(self) -> None:
        self.rollback()
        self.db.close()
