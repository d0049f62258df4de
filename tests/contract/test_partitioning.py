"""Partitioning in the contract: Java's murmur2 exactly, and a manifest that refuses co-partitioned topics that cannot
hold the same users; librdkafka's murmur2_random places keys where contracts.partitioning says."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from contracts.manifest import ManifestError, load_manifest
from contracts.partitioning import MURMUR2, murmur2, partition_for
from messaging.settings import Settings
from tests.contract.test_manifest import manifest, topic

# Kafka's own test vectors for Utils.murmur2 (UtilsTest.testMurmur2).
VECTORS = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536,
           b"a-little-bit-longer-string": -1486304829, b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
           b"abc": 479470107}


@pytest.mark.parametrize("data", list(VECTORS))
def test_murmur2_is_javas(data: bytes) -> None:
    assert murmur2(data) == VECTORS[data]


@pytest.fixture
def probe_topic(admin: AdminClient) -> Iterator[str]:
    """A scratch topic of 6 partitions (raw keys: no contract topic may get them)."""
    name = f"test-partitioning-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(name, 6, 1)])[name].result(timeout=30)
    yield name
    admin.delete_topics([name])[name].result(timeout=30)


def test_librdkafkas_murmur2_random_puts_each_key_where_partition_for_says(settings: Settings, probe_topic: str) -> None:
    """Through the real broker: 200 keys written with the producers' setting land on their computed partition."""
    producer = Producer({**settings.kafka_client, "partitioner": "murmur2_random"})
    landed: dict[bytes, int] = {}
    for _ in range(200):
        key = b"\x00\x00\x00\x00\x01" + uuid.uuid4().bytes
        producer.produce(probe_topic, key=key, on_delivery=lambda _, m, key=key: landed.update({key: m.partition()}))
    assert producer.flush(30) == 0
    assert len(landed) == 200 and all(partition == partition_for(key, 6) for key, partition in landed.items())


def test_the_projects_manifest_declares_murmur2_and_its_co_partitioned_groups() -> None:
    loaded = load_manifest()
    assert {t.name: t.partitioner for t in loaded.topics if t.changelog_of is None} == dict.fromkeys(
        ["generate-invoice", "invoice-generated", "calculate-score", "score-calculated"], MURMUR2)
    assert {g.name: g.topics for g in loaded.co_partitioned} == {
        "invoice": ("generate-invoice", "invoice-decisions-changelog"),
        "score": ("invoice-generated", "calculate-score", "score-history-changelog")}


def test_a_co_partitioned_group_with_different_partition_counts_is_refused(tmp_path: Path) -> None:
    text = topic("asks", "web", ["worker"]) + topic("hears", "web", ["worker"]).replace("partitions = 1", "partitions = 2")
    text += '[[co_partitioned]]\nname = "both"\ntopics = ["asks", "hears"]\nwhy = "test"\n'
    with pytest.raises(ManifestError, match="co-partitioned group both: its topics must have one partition count, but"
                                            " have asks 1, hears 2"):
        load_manifest(manifest(tmp_path, text))


def test_a_topic_in_two_groups_or_an_unknown_topic_is_refused(tmp_path: Path) -> None:
    base = topic("asks", "web", ["worker"]) + topic("hears", "web", ["worker"])
    twice = base + ''.join(f'[[co_partitioned]]\nname = "{n}"\ntopics = ["asks"]\nwhy = "t"\n' for n in ("a", "b"))
    with pytest.raises(ManifestError, match="asks is already in another group"):
        load_manifest(manifest(tmp_path, twice))
    unknown = base + '[[co_partitioned]]\nname = "a"\ntopics = ["nowhere"]\nwhy = "t"\n'
    with pytest.raises(ManifestError, match="no topic nowhere"):
        load_manifest(manifest(tmp_path / "other", unknown))


def test_a_topic_without_a_known_partitioner_is_refused(tmp_path: Path) -> None:
    text = topic("asks", "web", ["worker"]).replace('partitioner = "murmur2"', 'partitioner = "consistent_random"')
    with pytest.raises(ManifestError, match="topic asks: partitioner must be one of 'murmur2'"):
        load_manifest(manifest(tmp_path, text))


def test_a_changelog_must_share_a_group_with_its_source(tmp_path: Path) -> None:
    changelog = topic("state", "worker", ["worker"]).replace('partitioner = "murmur2"\n', "").replace(
        'dead_letter_topic = "state-dead-letters"\n', "") + 'changelog_of = "asks"\nconfig = { "cleanup.policy" = "compact" }\n'
    with pytest.raises(ManifestError, match="changelog state must be in a \\[\\[co_partitioned\\]\\] group with its source asks"):
        load_manifest(manifest(tmp_path, topic("asks", "web", ["worker"]) + changelog))
