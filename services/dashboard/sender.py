"""Asking for work: a request produced to Kafka, and the answer that it is durably there (or why not)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message

from contracts.manifest import Topic
from contracts.records import CALCULATE_SCORE, GENERATE_INVOICE, UserKey
from messaging import tracing
from messaging.records import Outgoing
from messaging.runtime import Runtime

__all__ = ["DELIVERY_TIMEOUT_MS", "NotSent", "Sender", "Unavailable", "Unconfirmed"]

# librdkafka gives every message a final delivery report within message.timeout.ms. A success means durably in Kafka;
# a failure does not mean "not sent": a request already on its way when the broker went quiet (killed before it
# answered, say) may be in its log, and is then handled once the broker is back (Unconfirmed).
DELIVERY_TIMEOUT_MS = 5000
PROBE_SECONDS = 2.0
# While no broker answers, asked four times as often (and waited for less), so requests are taken again soon after
# it is back: until then they are refused at once (NotSent).
PROBE_SECONDS_UNREACHABLE = 0.5


class Unavailable(Exception):
    """Kafka did not confirm the request (a 503)."""


class NotSent(Unavailable):
    """The producer refused the request before it left (a full queue, no such topic): nothing was sent."""


class Unconfirmed(Unavailable):
    """The request left for the broker but no acknowledgement came: the broker may have it, and then it is
    answered as usual. Its submission stays pending (answered, or timed out), never forgotten: `kind` and
    `request_id` name it once actions.submit knows them."""

    def __init__(self, message: str, kind: str = "", request_id: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.request_id = request_id


class Sender:
    """Produces requests and awaits their delivery; a thread serves the delivery reports and, every few seconds,
    asks the broker for metadata, so the pages can say whether Kafka is there."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        invoices, scores = runtime.manifest.topic(GENERATE_INVOICE), runtime.manifest.topic(CALCULATE_SCORE)
        self.topics: dict[str, Topic[UserKey, Mapping[str, object]]] = {"invoice": invoices, "score": scores}
        self.broker_reachable = False  # until the first probe (start) says otherwise
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="deliveries", daemon=True)

    def start(self) -> None:
        self._probe()  # before the first request, so one made while Kafka is not there is refused, not left unconfirmed
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _poll(self) -> None:
        next_probe = 0.0
        while not self._stop.is_set():
            self.runtime.producer.poll(0.1)
            if time.monotonic() >= next_probe:
                self._probe()
                next_probe = time.monotonic() + (PROBE_SECONDS if self.broker_reachable else PROBE_SECONDS_UNREACHABLE)

    def _probe(self) -> None:
        try:
            self.runtime.producer.list_topics(timeout=2 if self.broker_reachable else PROBE_SECONDS_UNREACHABLE)
            self.broker_reachable = True
        except KafkaException:
            self.broker_reachable = False

    async def ask(self, kind: str, user_id: str, request_id: str, value: dict[str, Any]) -> None:
        """Produce a request and return once the broker has it (acks=all); NotSent or Unconfirmed otherwise."""
        with tracing.sending(self.topics[kind].name, request_id):  # tracing: a span until the broker's answer
            await self._ask(kind, user_id, request_id, value)

    async def _ask(self, kind: str, user_id: str, request_id: str, value: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        delivered: asyncio.Future[KafkaError | None] = loop.create_future()

        def settle(error: KafkaError | None) -> None:
            if not delivered.done():
                delivered.set_result(error)

        def report(error: KafkaError | None, _: Message) -> None:  # on the delivery thread
            loop.call_soon_threadsafe(settle, error)

        if not self.broker_reachable:
            # Refused before it leaves: handed over now it would wait out its timeout and stay unconfirmed (Kafka might
            # get it once back), where this says for sure that nothing was sent. The probe notices the broker's return.
            raise NotSent("Kafka is not answering")
        topic = self.topics[kind]
        # The intake checked the newest version's constraints: the codec need not check them again when it writes it.
        checked = self.runtime.codec(topic.value).version == topic.value.latest.version
        try:
            self.runtime.produce(Outgoing(topic, {"user_id": user_id}, value, request_id), report, checked=checked)
        except (BufferError, KafkaException) as refused:
            raise NotSent(f"Kafka is not taking requests: {refused}") from None
        outcome: KafkaError | None
        try:
            async with asyncio.timeout(DELIVERY_TIMEOUT_MS / 1000 + 5):
                outcome = await delivered
        except TimeoutError:
            outcome = KafkaError(KafkaError._MSG_TIMED_OUT)
        self.broker_reachable = outcome is None
        if outcome is None:
            self.runtime.delivered()
        else:
            raise Unconfirmed(f"Kafka did not acknowledge the request: {outcome.str()}")
