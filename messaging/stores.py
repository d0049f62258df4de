"""The stores of the partitions one worker owns: opened and restored on assignment, closed on revocation."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from contracts.manifest import Topic
from messaging.metrics import RESTORE_SECONDS, RESTORED
from messaging.offsets import coordinates
from messaging.runtime import Runtime
from messaging.state import PartitionState

__all__ = ["StateSpec", "Stores"]

log = logging.getLogger(__name__)
S = TypeVar("S", bound=PartitionState[Any, Any])
RESTORE_DEADLINE_SECONDS = 300.0


@dataclass(frozen=True)
class StateSpec(Generic[S]):
    """A worker's state: the changelog topic (from the manifest) and the store class for one partition."""

    changelog: Topic[object, object]
    store: Callable[[Path, int], S]


class Stores(Generic[S]):
    """The open stores of one worker, by partition."""

    def __init__(self, runtime: Runtime, spec: StateSpec[S], directory: Path) -> None:
        self.runtime = runtime
        self.spec = spec
        self.directory = directory
        self.open: dict[int, S] = {}
        self._restorer: Consumer | None = None

    def __getitem__(self, partition: int) -> S:
        return self.open[partition]

    def take(self, partitions: Iterable[int]) -> None:
        """Open and restore the stores of newly owned partitions, before any of their records is handled."""
        new = {p: self.spec.store(self.directory / f"{self.spec.changelog.name}-{p}.sqlite3", p)
               for p in sorted(set(partitions) - self.open.keys())}
        if new:
            self._restore(new)
            self.open.update(new)

    def release(self, partitions: Iterable[int]) -> None:
        for partition in set(partitions) & self.open.keys():
            self.open.pop(partition).close()

    def reopen(self, partitions: Iterable[int]) -> None:
        """Drop the local copies' open state and bring them up to their changelog again (together)."""
        partitions = list(partitions)
        self.release(partitions)
        self.take(partitions)

    def close(self) -> None:
        self.release(list(self.open))
        if self._restorer is not None:
            self._restorer.close()

    def _restore(self, stores: dict[int, S]) -> None:
        """Bring each store up to its changelog partition's committed end: from its checkpoint when it has
        one, from the beginning when it has not (a new host, or a deleted state directory). The
        partitions are read together, so a rebalance waits for the slowest one, not for their sum."""
        changelog = self.spec.changelog
        key_codec, value_codec = self.runtime.codec(changelog.key), self.runtime.codec(changelog.value)
        starts = {p: store.checkpoint for p, store in stores.items()}
        consumer = self._restore_consumer()
        consumer.assign([TopicPartition(changelog.name, p, OFFSET_BEGINNING if start is None else start)
                         for p, start in starts.items()])
        began = time.perf_counter()
        deadline = time.monotonic() + RESTORE_DEADLINE_SECONDS
        applied = dict.fromkeys(stores, 0)
        ends: dict[int, int] = {}
        for store in stores.values():
            store.begin()
        try:
            while len(ends) < len(stores):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"restoring {changelog.name} partitions {sorted(set(stores) - ends.keys())}"
                                       f" did not reach their end in {RESTORE_DEADLINE_SECONDS:.0f} s")
                for message in consumer.consume(10_000, timeout=0.05):
                    _, partition, offset = coordinates(message)
                    error = message.error()
                    if error is not None and error.code() == KafkaError._PARTITION_EOF:
                        ends[partition] = offset
                    elif error is not None:
                        raise KafkaException(error)
                    elif message.value() is None:  # a tombstone: the key's user moved to another partition
                        stores[partition].remove(key_codec.decode(message.key()))
                        applied[partition] += 1
                    else:
                        stores[partition].apply(key_codec.decode(message.key()), value_codec.decode(message.value()))
                        applied[partition] += 1
            for partition, store in stores.items():
                store.commit(ends[partition])
        except BaseException:
            for store in stores.values():
                store.close()
            raise
        finally:
            consumer.unassign()
        seconds = time.perf_counter() - began
        RESTORED.labels(self.runtime.service, changelog.name).inc(sum(applied.values()))
        RESTORE_SECONDS.labels(self.runtime.service, changelog.name).observe(seconds)
        log.info("restored state", extra={
            "changelog": changelog.name, "partitions": {p: f"{starts[p]}..{ends[p]}" for p in stores},
            "entries": sum(applied.values()), "seconds": round(seconds, 3)})

    def _restore_consumer(self) -> Consumer:
        if self._restorer is None:
            # The end of a partition is told by the fetch that finds nothing more: the broker would hold that fetch
            # for fetch.wait.max.ms (500 by default) in case something comes, the whole restore waiting on it.
            self._restorer = self.runtime.reader(**{"enable.partition.eof": True, "fetch.wait.max.ms": 10})
        return self._restorer
