"""The partition gate without Kafka: where a key belongs, and when a record of a topic with `after` may be handled."""

from __future__ import annotations

from contracts.partitioning import CHANGELOG, MURMUR2, partition_for
from messaging.gate import After, Placement


def test_a_key_belongs_to_the_partition_java_gives_it() -> None:
    placement = Placement({"requests": MURMUR2})
    placement.partitions["requests"] = 6
    for key in (b"\x00\x00\x00\x00\x01\x48" + bytes(range(n)) for n in range(40)):
        assert placement.owner("requests", key) == partition_for(key, 6)


def test_the_owner_follows_the_partition_count_the_cluster_has_now() -> None:
    placement = Placement({"requests": MURMUR2})
    key = b"a user's key"
    placement.partitions["requests"] = 6
    before = placement.owner("requests", key)
    placement.partitions["requests"] = 12
    assert placement.owner("requests", key) == partition_for(key, 12)
    assert before == partition_for(key, 6)


def test_no_owner_without_a_key_a_known_count_or_a_key_partitioner() -> None:
    placement = Placement({"requests": MURMUR2, "changelog": CHANGELOG})
    placement.partitions.update({"requests": 6, "changelog": 6})
    assert placement.owner("requests", None) is None
    assert placement.owner("changelog", b"k") is None
    assert placement.owner("elsewhere", b"k") is None


def test_a_record_waits_until_the_other_topics_partition_is_read_to_its_end() -> None:
    ends = {("replies", 2): 10}
    after = After({"questions": "replies"}, lambda topic, partition: ends[(topic, partition)])
    after.new_batch()
    assert not after.may_handle("questions", 2)
    after.reach("replies", 2, 9)
    assert not after.may_handle("questions", 2)
    after.reach("replies", 2, 10)
    assert after.may_handle("questions", 2)
    assert after.may_handle("replies", 2)  # no `after` of its own


def test_the_end_is_asked_once_per_batch_and_an_abandoned_batch_forgets_what_it_read() -> None:
    asked: list[tuple[str, int]] = []

    def end_of(topic: str, partition: int) -> int:
        asked.append((topic, partition))
        return 5

    after = After({"questions": "replies"}, end_of)
    before = after.new_batch()
    after.reach("replies", 0, 5)
    assert after.may_handle("questions", 0) and after.may_handle("questions", 0)
    assert asked == [("replies", 0)]
    after.undo(before)
    assert not after.may_handle("questions", 0)
    after.new_batch()
    after.may_handle("questions", 0)
    assert asked == [("replies", 0), ("replies", 0)]
