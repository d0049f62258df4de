"""The CPU a server used, from its own counters in /proc/<pid>/stat."""

from __future__ import annotations

import os

from bench.processes import cpu_seconds, parse_cpu_seconds


def test_cpu_is_user_plus_system_time_in_ticks() -> None:
    stat = "4242 (python) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 130 0 0 20 0 9 0 100 0 0"
    assert parse_cpu_seconds(stat, ticks=100) == 3.8


def test_a_process_name_with_spaces_and_parentheses_does_not_shift_the_fields() -> None:
    stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 130 0 0 20 0 9 0 100 0 0"
    assert parse_cpu_seconds(stat, ticks=100) == 3.8


def test_this_process_has_used_some_cpu() -> None:
    assert cpu_seconds(os.getpid()) > 0
