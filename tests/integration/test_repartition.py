"""A move to more partitions (messaging/repartition.py), in a scratch deployment of the services beside the stack's
(stack/scratch.py): the plan and its refusals; the invoice group grown from 6 to 12 partitions while requests keep
coming, the command killed (kill -9) in the middle and run again, then the worker restarted without its local state:
every request answered once, every user's numbers 1..n, the moved users' changelog entries on their new partitions
and tombstoned on their old ones, and the manifest saying 12; provisioning, after, naming the command when the
manifest and the cluster disagree."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient

from contracts import moves
from contracts.manifest import read_manifest
from contracts.partitioning import partition_for
from contracts.provision import ProvisioningError, provision
from contracts.records import GENERATE_INVOICE, INVOICE_DECISIONS_CHANGELOG, INVOICE_GENERATED
from messaging.records import Outgoing
from messaging.runtime import Runtime
from stack.scratch import Scratch
from tests.integration.test_services_over_kafka import invoice_request

USERS = 60
OLD, NEW = 6, 12


@pytest.fixture(scope="module")
def scratch() -> Iterator[Scratch]:
    with Scratch() as deployment:
        yield deployment


def repartition(scratch: Scratch, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-u", "-m", "messaging.repartition", *args,
                             "--manifest", str(scratch.manifest_path)],
                            env=scratch.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def read_all(runtime: Runtime, topic: str) -> list[tuple[int, bytes | None, bytes | None]]:
    """(partition, key, value) of every committed record of `topic`, in each partition's order."""
    consumer = Consumer({**runtime.settings.kafka_client, "group.id": f"test-{uuid.uuid4()}",
                         "isolation.level": "read_committed", "enable.partition.eof": True, "enable.auto.commit": False})
    partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    found, ended = [], set()
    deadline = time.monotonic() + 60
    while len(ended) < len(partitions) and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        error = message.error()
        if error is not None and error.code() == KafkaError._PARTITION_EOF:
            ended.add(message.partition())
        elif error is None:
            found.append((int(message.partition() or 0), message.key(), message.value()))
    consumer.close()
    return found


@dataclass
class Moved:
    sent: dict[str, str]  # request_id -> user_id
    output: str  # what both runs of the command printed


@pytest.fixture(scope="module")
def moved(scratch: Scratch) -> Moved:
    """Requests from USERS users before, during and after the move of the invoice group to 12 partitions; the
    command killed once the changelog grew, then run again to the end."""
    runtime, topic = scratch.runtime, scratch.runtime.manifest.topic(GENERATE_INVOICE)
    users = [uuid.uuid4() for _ in range(USERS)]
    sent: dict[str, str] = {}

    def send_round() -> None:
        for user in users:
            request = invoice_request(user)
            sent[str(request["request_id"])] = str(user)
            runtime.produce(Outgoing(topic, {"user_id": user}, request))
        assert runtime.producer.flush(30) == 0

    for _ in range(2):
        send_round()
    stop = threading.Event()

    def keep_sending() -> None:
        while not stop.is_set():
            send_round()
            time.sleep(0.3)

    writer = threading.Thread(target=keep_sending)
    writer.start()
    try:
        first = repartition(scratch, scratch.group("invoice"), str(NEW), "--apply")
        assert first.stdout is not None
        output = ""
        for line in first.stdout:
            output += line
            if line.startswith("grew") and "changelog" in line:
                first.kill()  # kill -9, with the changelog grown and the copying begun
        first.wait()
        second = repartition(scratch, scratch.group("invoice"), str(NEW), "--apply")
        rest, _ = second.communicate(timeout=300)
        output += rest
        assert second.returncode == 0, output
    finally:
        stop.set()
        writer.join()
    send_round()
    # The worker restarted with no local state restores every partition from the changelogs, tombstones included.
    scratch.kill("invoice")
    shutil.rmtree(scratch.root / "state")
    scratch.start("invoice")
    scratch.await_ready("invoice")
    send_round()
    return Moved(sent, output)


def test_the_plan_is_printed_and_a_move_that_cannot_be_made_is_refused_with_why(scratch: Scratch) -> None:
    group = scratch.group("score")
    plan = repartition(scratch, group, str(NEW))
    printed, _ = plan.communicate(timeout=60)
    assert plan.returncode == 0, printed
    assert f"move {group}" in printed and "1. copying" in printed and "4. done" in printed
    assert "nothing done: run it again with APPLY=1" in printed
    shrink = repartition(scratch, group, "3", "--apply")
    said, _ = shrink.communicate(timeout=60)
    assert shrink.returncode == 1 and f"has {OLD} partitions and cannot shrink to 3" in said
    odd = repartition(scratch, group, "9", "--apply")
    said, _ = odd.communicate(timeout=60)
    assert odd.returncode == 1 and "9 is not a multiple of 6" in said
    topics = AdminClient({**scratch.runtime.settings.kafka_client}).list_topics(timeout=30).topics
    assert all(len(topics[name].partitions) == OLD for name in scratch.manifest.co_partitioned[1].topics)


def test_a_move_killed_midway_finishes_when_run_again_and_every_request_is_answered_once(
        scratch: Scratch, moved: Moved) -> None:
    assert "resume the move" in moved.output and "at step copying" in moved.output, moved.output
    runtime = scratch.runtime
    codec = runtime.codec(runtime.manifest.topic(INVOICE_GENERATED).value)
    deadline = time.monotonic() + 120
    replies: list[Any] = []
    while time.monotonic() < deadline:
        replies = [codec.decode(value) for _, _, value in read_all(runtime, runtime.manifest.topic(INVOICE_GENERATED).name)]
        if len({str(r["request_id"]) for r in replies}) >= len(moved.sent):
            break
        time.sleep(2)
    answered = [str(r["request_id"]) for r in replies]
    assert sorted(answered) == sorted(moved.sent), "every request answered exactly once"
    numbers: dict[str, list[int]] = defaultdict(list)
    for reply in replies:
        assert reply["status"] == "GENERATED", reply
        numbers[str(reply["user_id"])].append(reply["invoice"]["number"])
    for user, given in numbers.items():
        assert sorted(given) == list(range(1, len(given) + 1)), f"user {user}: numbers {sorted(given)}"


def test_the_moved_users_entries_are_on_their_new_partitions_and_tombstoned_on_the_old(
        scratch: Scratch, moved: Moved) -> None:
    runtime = scratch.runtime
    changelog = runtime.manifest.topic(INVOICE_DECISIONS_CHANGELOG)
    user_codec = runtime.codec(runtime.manifest.topic(GENERATE_INVOICE).key)
    key_codec = runtime.codec(changelog.key)
    newest: dict[tuple[int, bytes], bytes | None] = {}
    for partition, key, value in read_all(runtime, changelog.name):
        assert key is not None
        newest[(partition, key)] = value
    moved_users = 0
    for (partition, key), value in newest.items():
        user = key_codec.decode(key)["user_id"]
        owner = partition_for(user_codec.encode({"user_id": user}), NEW)
        if partition < OLD and owner != partition:
            assert value is None, f"entry of user {user} (now on partition {owner}) left on partition {partition}"
            assert newest.get((owner, key)) is not None, f"entry of user {user} not copied to partition {owner}"
            moved_users += 1
        elif value is not None:
            assert owner == partition, f"entry of user {user} on partition {partition}, not its {owner}"
    assert moved_users > 0
    move = moves.read(AdminClient({**runtime.settings.kafka_client}), scratch.group("invoice"))
    assert move is not None and (move.old, move.new, move.step) == (OLD, NEW, moves.DONE)


def test_after_the_move_the_manifest_says_so_and_provisioning_names_the_command_on_a_disagreement(
        scratch: Scratch, moved: Moved) -> None:
    group = scratch.group("invoice")
    manifest = read_manifest(scratch.manifest_path)
    grown = next(g for g in manifest.co_partitioned if g.name == group)
    assert {manifest.named(name).partitions for name in grown.topics} == {NEW}
    admin = AdminClient({**scratch.runtime.settings.kafka_client})
    text = scratch.manifest_path.read_text()
    for listed, said in ((OLD, f"`make repartition GROUP={group} PARTITIONS={NEW} APPLY=1` writes it into the manifest"),
                         (24, f"`make repartition GROUP={group} PARTITIONS=24` shows how it would be moved")):
        scratch.manifest_path.write_text(text.replace(f"partitions = {NEW}", f"partitions = {listed}"))
        try:
            with pytest.raises(ProvisioningError, match=re.escape(said)):
                provision(read_manifest(scratch.manifest_path), admin, scratch.runtime.registry, lambda _: None,
                          principals=False)
        finally:
            scratch.manifest_path.write_text(text)
    topics = admin.list_topics(timeout=30).topics
    assert all(len(topics[name].partitions) == NEW for name in grown.topics), "provisioning grew nothing"
