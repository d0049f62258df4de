"""A generator on another host, cut off from the broker in the middle of its work: its partitions move to the
stack's generator, what it was writing is never seen, and when it comes back its late writes are fenced.
Every request is answered exactly once and every user's numbers run 1..n without a gap, although a third of the
requests were written with librdkafka's default partitioner and a third with `random` (forwarded to their users'
partitions by whichever generator finds them)."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

from confluent_kafka import ConsumerGroupState, Producer
from confluent_kafka.admin import AdminClient

from chaos.hosts import Host
from contracts.env import principal_env
from contracts.records import GENERATE_INVOICE, INVOICE_GENERATED
from messaging.records import Outgoing
from messaging.runtime import Runtime
from stack import procs
from stack.services import services
from tests.integration.kafka_tools import Tail
from tests.integration.test_services_over_kafka import invoice_request

USERS, EACH = 50, 400
GROUP = "invoice-generator"


def _members(admin: AdminClient) -> int:
    group = admin.describe_consumer_groups([GROUP])[GROUP].result()
    return len(group.members) if group.state == ConsumerGroupState.STABLE else -1


def _await(condition, what: str, seconds: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds:.0f} s"
        time.sleep(0.2)


def test_a_host_cut_off_mid_transaction_is_fenced_and_nothing_is_answered_twice(tmp_path: Path) -> None:
    runtime = Runtime("tests")
    admin = AdminClient({**runtime.settings.kafka_client})
    requests, replies = runtime.manifest.topic(GENERATE_INVOICE), runtime.manifest.topic(INVOICE_GENERATED)
    near = next(s for s in services() if s.name == "invoice")
    log = tmp_path / "far-invoice.log"
    procs.stop(near.name)  # the far host alone owns every partition, and is busy with all of them
    try:
        with Host("acc-fence", 7) as far:
            env = {**os.environ, **principal_env("invoice"),
                   "INSTANCE_ID": f"far-{uuid.uuid4().hex[:6]}", "STATE_DIR": str(tmp_path / "state"),
                   "HEALTH_PORT": "8101"}
            far.start([sys.executable, "-m", "services.invoice"], env, log)
            _await(lambda: _members(admin) == 1 and "restored state" in log.read_text(), "the far generator joining", 60)
            tail, first = Tail(runtime, replies.name), Tail(runtime, replies.name)
            users = [uuid.uuid4() for _ in range(USERS)]
            backlog = [invoice_request(user) for _ in range(EACH) for user in users]
            sent = {request["request_id"] for request in backlog}
            others = [Producer({**runtime.settings.kafka_client, "partitioner": name, "acks": "all"})
                      for name in ("consistent_random", "random")]
            for index, request in enumerate(backlog):  # faster than one generator can answer: it is never idle
                encoded = runtime.encode(Outgoing(requests, {"user_id": request["user_id"]}, request))
                producer = ([runtime.producer, *others])[index % 3]
                producer.produce(encoded.topic, key=encoded.key, value=encoded.value)
                producer.poll(0)
            assert all(producer.flush(60) == 0 for producer in [runtime.producer, *others])
            assert first.messages(lambda _: True, timeout=30), "no first reply"
            first.close()
            far.cut()  # in the middle of its work
            near.start()  # takes the partitions over once the far host's session has timed out
            time.sleep(15)
            far.heal()
            answered = tail.records(replies, lambda r: r["request_id"] in sent, count=len(sent), timeout=180)
            tail.close()
            # Back on the link, the far host learns that what it was committing is gone.
            _await(lambda: "retrying a batch" in log.read_text(), "the far host's late write refused", 90)
    finally:
        near.start()
        runtime.close()
    by_request: dict[uuid.UUID, int] = defaultdict(int)
    numbers: dict[uuid.UUID, list[int]] = defaultdict(list)
    for reply in answered:
        by_request[reply["request_id"]] += 1
        numbers[reply["user_id"]].append(reply["invoice"]["number"])
    assert len(by_request) == len(sent), f"{len(sent) - len(by_request)} requests unanswered"
    assert max(by_request.values()) == 1, "a request was answered twice"
    for user in users:
        assert sorted(numbers[user]) == list(range(1, EACH + 1)), "a user's numbers have a gap or a repeat"
