"""Stand-ins for librdkafka's objects, for the worker's parts tested without a broker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException


@dataclass
class FakeMessage:
    """A consumed record, or a produced one handed to a delivery report."""

    _topic: str
    _partition: int
    _offset: int
    _key: bytes | None = None
    _value: bytes | None = None
    _headers: list[tuple[str, bytes]] = field(default_factory=list)

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]]:
        return self._headers

    def error(self) -> None:
        return None


@dataclass
class FakeProducer:
    """Records what it is asked; delivers at once (offsets counting per partition) unless told to fail."""

    calls: list[str] = field(default_factory=list)
    produced: list[dict[str, Any]] = field(default_factory=list)
    fail_with: dict[str, KafkaError] = field(default_factory=dict)  # method name -> the error it raises
    undeliverable: KafkaError | None = None
    _next: dict[tuple[str, int], int] = field(default_factory=dict)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.fail_with:
            raise KafkaException(self.fail_with[name])

    def begin_transaction(self) -> None:
        self._call("begin_transaction")

    def send_offsets_to_transaction(self, offsets: Any, metadata: Any, timeout: float) -> None:
        self._call("send_offsets_to_transaction")

    def commit_transaction(self, timeout: float) -> None:
        self._call("commit_transaction")

    def abort_transaction(self, timeout: float) -> None:
        self._call("abort_transaction")

    def produce(self, topic: str, key: bytes | None = None, value: bytes | None = None, headers: Any = None,
                on_delivery: Callable[[KafkaError | None, Any], None] | None = None, partition: int = 0) -> None:
        self.produced.append({"topic": topic, "key": key, "value": value, "headers": headers, "partition": partition})
        offset = self._next.get((topic, partition), 0)
        self._next[(topic, partition)] = offset + 1
        if on_delivery is not None:
            on_delivery(self.undeliverable, FakeMessage(topic, partition, offset))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        self.calls.append("flush")
        return 0


class FakeConsumer:
    def __init__(self) -> None:
        self.committed: list[Any] = []

    def consumer_group_metadata(self) -> str:
        return "group metadata"

    def commit(self, offsets: Any, asynchronous: bool) -> None:
        self.committed.append(offsets)
