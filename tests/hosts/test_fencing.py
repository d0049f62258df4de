"""A generator on another host, cut off from the broker in the middle of its work: its partitions move to the
stack's generator, what it was writing is never seen, and when it comes back its late writes are fenced.
Every request is answered exactly once and every user's numbers run 1..n without a gap."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient

from chaos.hosts import Host
from messaging.runtime import Outgoing, Runtime
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
    admin = AdminClient({"bootstrap.servers": runtime.settings.bootstrap_servers})
    requests, replies = runtime.manifest.carrying("invoice_request"), runtime.manifest.carrying("invoice_reply")
    log = tmp_path / "far-invoice.log"
    with Host("acc-fence", 7) as far:
        before = _members(admin)
        env = {**os.environ, "INSTANCE_ID": f"far-{uuid.uuid4().hex[:6]}", "STATE_DIR": str(tmp_path / "state"),
               "HEALTH_PORT": "8101"}
        far.start([sys.executable, "-m", "services.invoice"], env, log)
        _await(lambda: _members(admin) == before + 1 and "restored state" in log.read_text(),
               "the far generator joining and taking partitions", 60)
        tail = Tail(runtime, replies.name)
        users = [uuid.uuid4() for _ in range(USERS)]
        sent = set()
        for _ in range(EACH):
            for user in users:
                request = invoice_request(user)
                sent.add(request["request_id"])
                runtime.produce(Outgoing(requests, {"user_id": user}, request))
            runtime.producer.poll(0)
        assert runtime.producer.flush(60) == 0
        far.cut()  # in the middle of draining its share of the backlog
        time.sleep(15)
        far.heal()
        answered = tail.records(replies, lambda r: r["request_id"] in sent, count=len(sent), timeout=180)
        tail.close()
        far_log = log.read_text()
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
    assert "retrying a batch" in far_log, "the far host never had a late write refused"
