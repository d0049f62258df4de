"""The worker loop itself, on scratch copies of the manifest's topics: a record whose output the broker would
refuse, or whose handler fails, is set aside alone, inside the batch's transaction, and the loop goes on."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from contracts.manifest import Topic
from contracts.records import GENERATE_INVOICE, INVOICE_GENERATED
from messaging.records import Incoming, Outgoing, route
from messaging.runtime import Runtime
from messaging.worker import Worker
from tests.integration.kafka_tools import Tail
from tests.integration.test_services_over_kafka import invoice_request


@pytest.fixture
def scratch() -> Iterator[tuple[Runtime, Topic, Topic]]:
    """Copies of generate-invoice and invoice-generated (and a dead-letter topic) under fresh names."""
    runtime = Runtime("tests")
    run = uuid.uuid4().hex[:8]
    requests = dataclasses.replace(runtime.manifest.topic(GENERATE_INVOICE), name=f"test-{run}-requests",
                                   dead_letter_topic=f"test-{run}-dead-letters")
    replies = dataclasses.replace(runtime.manifest.topic(INVOICE_GENERATED), name=f"test-{run}-replies")
    names = [requests.name, replies.name, str(requests.dead_letter_topic)]
    admin = AdminClient({**runtime.settings.kafka_client})
    for future in admin.create_topics([NewTopic(name, 1, 1) for name in names]).values():
        future.result(timeout=30)
    yield runtime, requests, replies
    for future in admin.delete_topics(names).values():
        future.result(timeout=30)
    runtime.close()


def test_an_oversized_output_and_a_failing_handler_are_dead_lettered_and_the_loop_goes_on(
    scratch: tuple[Runtime, Topic, Topic],
) -> None:
    runtime, requests, replies = scratch
    names = {"huge": "an output too large", "boom": "a handler error", "fine": "a valid record"}

    def handle(incoming: Incoming[Any, Any], _: None) -> list[Outgoing[object, object]]:
        name = incoming.value["customer"]["name"]
        reply: dict[str, Any] = {"request_id": incoming.value["request_id"], "user_id": incoming.value["user_id"],
                                 "status": "REJECTED", "invoice": None, "processed_at": incoming.value["requested_at"],
                                 "rejection_reasons": [{"field": "x", "message": "y"}]}
        if name == "huge":
            reply["rejection_reasons"] = [{"field": "x", "message": "y" * 2_000_000}]
        if name == "boom":
            raise RuntimeError("the handler tripped")
        # The huge one's first output fits: it must not be sent without the second.
        extra = [Outgoing(replies, {"user_id": incoming.value["user_id"]}, {**reply, "rejection_reasons": []})]
        return [*extra, Outgoing(replies, {"user_id": incoming.value["user_id"]}, reply)]

    dead, answers = Tail(runtime, str(requests.dead_letter_topic)), Tail(runtime, replies.name)
    user = uuid.uuid4()
    sent = {}
    for name in names:
        request = invoice_request(user)
        request["customer"]["name"] = name
        sent[name] = request["request_id"]
        runtime.produce(Outgoing(requests, {"user_id": user}, request))
    assert runtime.producer.flush(10) == 0
    stop = threading.Event()
    worker: Worker[None] = Worker(runtime, f"test-{uuid.uuid4().hex[:8]}", [route(requests, handle)])
    loop = threading.Thread(target=worker.run, args=(stop,))
    loop.start()
    try:
        lettered = dead.messages(lambda _: True, count=2, timeout=30)
        answered = answers.records(replies, lambda _: True, count=3, timeout=10)
    finally:
        stop.set()
        loop.join(30)
        dead.close()
        answers.close()
    reasons = {dict(m.headers())["dlq.source.offset"]: dict(m.headers())["dlq.error.message"].decode() for m in lettered}
    assert sorted(reasons) == [b"0", b"1"]
    assert reasons[b"0"].startswith("an output to ") and "more than the" in reasons[b"0"]
    assert reasons[b"1"] == "handling failed: RuntimeError: the handler tripped"
    assert [r["request_id"] for r in answered] == [sent["fine"], sent["fine"]]  # nothing of the huge one
