"""The supervisor's policy without processes: how long it waits, and how it names an exit."""

from __future__ import annotations

import signal

from stack.supervision import Status
from stack.supervisor import Backoff, describe_exit


def test_backoff_doubles_after_each_quick_exit_up_to_the_cap() -> None:
    backoff = Backoff(first=1, cap=30, stable=10)
    assert [backoff.after_exit(uptime=0.5) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]


def test_backoff_starts_over_after_a_process_stayed_up_a_while() -> None:
    backoff = Backoff(first=1, cap=30, stable=10)
    for _ in range(4):
        backoff.after_exit(uptime=0.5)
    assert backoff.after_exit(uptime=10) == 1
    assert backoff.after_exit(uptime=0.5) == 2


def test_an_exit_is_named_by_its_status_or_its_signal() -> None:
    assert describe_exit(0) == "exit 0"
    assert describe_exit(1) == "exit 1"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(-signal.SIGTERM) == "killed by SIGTERM"
    assert describe_exit(-99) == "killed by signal 99"


def test_status_says_when_it_last_exited_and_when_it_is_tried_again() -> None:
    assert Status().last_exit_text(now=0) == "-"
    waiting = Status(restarts=3, last_exit="exit 1", exited_at=1_796_119_209.4, next_start_at=1_796_119_217.4)
    assert waiting.last_exit_text(now=1_796_119_209.5) == "exit 1 at 2026-12-01T10:00:09Z; next start in 8 s"
    killed = Status(restarts=1, last_exit="killed by SIGKILL", exited_at=1_796_119_209.4)
    assert killed.last_exit_text(now=0) == "killed by SIGKILL at 2026-12-01T10:00:09Z"
