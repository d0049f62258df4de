"""What a handler is given and gives back: a consumed record, a record to produce, and the bytes that go out."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from contracts.manifest import Topic

__all__ = ["Encoded", "Handler", "Headers", "Incoming", "Outgoing", "Route", "route"]

K = TypeVar("K", covariant=True)
V = TypeVar("V", covariant=True)
S = TypeVar("S")  # a worker's state for one partition (a PartitionState), or None for a worker without state
KeyT = TypeVar("KeyT")
ValueT = TypeVar("ValueT")
Headers = list[tuple[str, str | bytes | None]]


@dataclass(frozen=True)
class Incoming(Generic[K, V]):
    """A consumed record, its key and value read with the consumer's own contract version."""

    topic: Topic[K, V]
    partition: int
    offset: int
    key: K | None  # None when the key could not be read: key_problem says why
    value: V
    key_problem: str | None = None


@dataclass(frozen=True)
class Outgoing(Generic[K, V]):
    """A record to produce: the topic comes from the manifest, key and value are its contract's records."""

    topic: Topic[K, V]
    key: K
    value: V
    request_id: str | None = None
    partition: int | None = None  # None: chosen from the key (a changelog names its partition)


@dataclass(frozen=True)
class Encoded:
    """A record serialized, ready to hand to the producer."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers | None
    partition: int | None = None

    @property
    def size(self) -> int:
        """Roughly what the producer counts against message.max.bytes."""
        return len(self.key or b"") + len(self.value or b"") + sum(len(k) + len(v or b"") for k, v in self.headers or [])


Handler = Callable[[Incoming[KeyT, ValueT], S], Iterable[Outgoing[object, object]]]


@dataclass(frozen=True)
class Route(Generic[S]):
    """A topic a worker consumes and the handler of its records; made by `route`, which checks their types agree."""

    topic: Topic[object, object]
    _handler: Callable[..., Iterable[Outgoing[object, object]]]

    def handle(self, incoming: Incoming[object, object], state: S) -> Iterable[Outgoing[object, object]]:
        """The handler's outputs for one record of the topic (read with the topic's codecs, so of its types)."""
        return self._handler(incoming, state)


def route(topic: Topic[KeyT, ValueT], handler: Handler[KeyT, ValueT, S]) -> Route[S]:
    """Handle `topic`'s records with `handler`, whose Incoming must carry the topic's key and value records."""
    return Route(topic, handler)
