"""Attempts per key: a burst, then one back every window / attempts seconds, and no memory of quiet keys."""

from __future__ import annotations

import pytest

from services.dashboard.throttle import Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_allowed_then_the_next_attempt_waits_for_one_to_come_back() -> None:
    clock = Clock()
    throttle = Throttle(3, 60, clock)
    for _ in range(3):
        assert throttle.wait("ana") == 0
        throttle.take("ana")
    assert throttle.wait("ana") == 20  # one of three comes back every 20 s
    clock.now += 19.5
    assert throttle.wait("ana") == 1  # rounded up: a client told to wait is never early
    clock.now += 0.5
    assert throttle.wait("ana") == 0
    assert throttle.wait("bob") == 0  # keys are counted apart


def test_a_given_back_attempt_does_not_count() -> None:
    throttle = Throttle(1, 60, Clock())
    throttle.take("ana")
    throttle.give_back("ana")
    assert throttle.wait("ana") == 0
    throttle.give_back("ana")
    throttle.take("ana")
    assert throttle.wait("ana") == 60  # never more than the burst


def test_keys_quiet_for_a_window_are_forgotten_so_made_up_keys_cannot_fill_memory() -> None:
    clock = Clock()
    throttle = Throttle(5, 60, clock)
    for n in range(1000):
        throttle.take(f"made-up-{n}")
    assert len(throttle) == 1000
    clock.now += 60
    throttle.take("ana")
    assert len(throttle) == 1


def test_within_a_window_the_keys_are_capped_the_least_recently_touched_forgotten_first() -> None:
    throttle = Throttle(1, 60, Clock(), max_keys=100)
    throttle.take("ana")
    for n in range(1000):  # a flood of made-up keys inside one window
        throttle.take(f"made-up-{n}")
        assert len(throttle) <= 100
    assert throttle.wait("made-up-999") > 0 and throttle.wait("ana") == 0  # ana's bucket went first


def test_a_throttle_needs_a_positive_rate() -> None:
    with pytest.raises(ValueError):
        Throttle(0, 60)
