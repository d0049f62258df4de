"""The partition gate without Kafka: where a key belongs, which partitions a move is still filling, and when a record
of a topic with `after` may be handled."""

from __future__ import annotations

from contracts.moves import COPYING, DONE, SWITCHING, TOMBSTONING, Move
from contracts.partitioning import CHANGELOG, MURMUR2, partition_for
from messaging.gate import After, Filling, Placement


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


class Moves:
    """What a move's record says, as Filling asks it, counting the asks."""

    def __init__(self, move: Move | None) -> None:
        self.move: Move | None = move
        self.asked = 0
        self.failing = False

    def __call__(self) -> Move | None:
        self.asked += 1
        if self.failing:
            raise RuntimeError("the broker is away")
        return self.move


def move(step: str) -> Move:
    return Move("invoice", 6, 12, step, {})


def test_the_partitions_a_move_is_filling_are_held_until_its_copying_is_over() -> None:
    moves = Moves(move(SWITCHING))
    filling = Filling(moves, listed=6)
    assert filling.hold([1, 6, 7]) == {6, 7}
    assert filling.release(now=10.0) == set()  # still switching
    moves.move = move(TOMBSTONING)
    assert filling.release(now=10.2) == set(), "asked at most every ASK_SECONDS"
    assert filling.release(now=10.6) == {6, 7}
    assert filling.held == set()


def test_partitions_the_manifest_lists_are_never_held_nor_is_the_move_asked_for_them() -> None:
    moves = Moves(move(COPYING))
    filling = Filling(moves, listed=6)
    assert filling.hold(range(6)) == set()
    assert moves.asked == 0


def test_a_finished_move_or_none_holds_nothing() -> None:
    for said in (move(TOMBSTONING), move(DONE), None):
        assert Filling(Moves(said), listed=6).hold([6, 11]) == set()


def test_when_the_move_cannot_be_read_the_unlisted_partitions_wait_until_it_can() -> None:
    moves = Moves(None)
    moves.failing = True
    filling = Filling(moves, listed=6)
    assert filling.hold([0, 6, 9]) == {6, 9}
    assert filling.release(now=5.0) == set()
    moves.failing = False
    assert filling.release(now=6.0) == {6, 9}


def test_revoked_partitions_are_no_longer_held() -> None:
    filling = Filling(Moves(move(COPYING)), listed=6)
    filling.hold([6, 7])
    filling.forget([7])
    assert filling.held == {6}
