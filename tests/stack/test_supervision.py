"""The supervisor restarts a service that exits, with backoff, and leaves alone one stopped on purpose.

Every test runs a stack of its own: fake services (`tests/stack/fakes.py`) in a temporary state folder
(STACK_STATE), driven through `python -m stack`, so the shared stack is never touched.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from stack import procs
from tests.ports import free_port


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _eventually(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.1)


@dataclass(frozen=True)
class Fake:
    name: str
    port: int
    starts: Path

    def start_times(self) -> list[float]:
        return [float(line) for line in self.starts.read_text().split()] if self.starts.exists() else []

    def ready(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).is_success
        except httpx.HTTPError:
            return False


@dataclass(frozen=True)
class Stack:
    state: Path

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "STACK_STATE": str(self.state)}
        return subprocess.run([sys.executable, "-m", *argv], env=env, capture_output=True, text=True, timeout=90)

    def start(self, name: str, mode: str = "serve") -> tuple[Fake, subprocess.CompletedProcess[str]]:
        fake = Fake(name, free_port(), self.state / f"{name}.starts")
        return fake, self.run("tests.stack.fakes", "start", name, str(fake.port), mode, str(fake.starts))

    def pid(self, name: str) -> int | None:
        path = self.state / "run" / f"{name}.pid"
        return int(path.read_text()) if path.exists() else None

    def status(self, name: str) -> str:
        """The line `python -m stack status` shows for `name`."""
        lines = self.run("stack", "status").stdout.splitlines()
        return next(line for line in lines if line.split()[0] == name)

    def ours(self) -> list[int]:
        """Every live process that carries this stack's marker."""
        return procs.leftovers(self.state)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    own = Stack(tmp_path.resolve())
    yield own
    own.run("stack", "down")
    for pid in own.ours():  # a failed test must not leave fakes behind on a shared machine
        os.kill(pid, signal.SIGKILL)


def test_a_killed_service_is_restarted_and_status_shows_the_restart_and_its_signal(stack: Stack) -> None:
    fake, started = stack.start("fake")
    assert started.returncode == 0, started.stderr
    first = stack.pid("fake")
    assert first is not None and fake.ready()

    os.kill(first, signal.SIGKILL)

    _eventually(lambda: stack.pid("fake") not in (None, first) and fake.ready(), 10, "the fake is back")
    line = stack.status("fake")
    assert line.split()[1:3] == ["running", str(stack.pid("fake"))]
    assert line.split()[5] == "1", line  # restarts
    assert "killed by SIGKILL at " in line
    assert len(fake.start_times()) == 2


def test_a_service_that_keeps_exiting_is_tried_less_and_less_often(stack: Stack) -> None:
    fake, started = stack.start("crasher", mode="crash")
    assert started.returncode == 1
    assert "the crasher service exited during start-up (exit 1) and is restarted with backoff" in started.stderr

    _eventually(lambda: len(fake.start_times()) >= 4, 20, "three restarts")
    times = fake.start_times()
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    # 1 s, 2 s, 4 s after each quick exit, plus the time it took to start, exit and be noticed
    assert all(wait <= gap < wait + 1.5 for wait, gap in zip([1, 2, 4], gaps, strict=True)), gaps
    _eventually(lambda: "next start in" in stack.status("crasher"), 5, "the third restart's exit is recorded")
    line = stack.status("crasher")
    assert line.split()[1:3] == ["restarting", "-"]
    assert line.split()[5] == "3", line
    assert re.search(r"exit 1 at \S+Z; next start in [5-8] s$", line), line


def test_a_service_stopped_on_purpose_stays_stopped(stack: Stack) -> None:
    serving, started = stack.start("server")
    assert started.returncode == 0, started.stderr
    crashing, _ = stack.start("crasher", mode="crash")
    _eventually(lambda: len(crashing.start_times()) == 2, 10, "the first restart")

    # One stopped while it waits to be started again (2 s after its second exit), one while it runs.
    assert stack.run("tests.stack.fakes", "stop", "crasher").returncode == 0
    assert stack.run("tests.stack.fakes", "stop", "server").returncode == 0
    time.sleep(3)

    assert len(serving.start_times()) == 1 and len(crashing.start_times()) == 2
    assert stack.pid("server") is None and not serving.ready()
    for name, restarts in (("server", "0"), ("crasher", "1")):
        line = stack.status(name)
        assert line.split()[1] == "stopped" and line.split()[5] == restarts, line
        assert "next start" not in line


def test_down_stops_the_supervisor_first_and_leaves_no_process(stack: Stack) -> None:
    _, started = stack.start("fake")
    assert started.returncode == 0, started.stderr
    crashing, _ = stack.start("crasher", mode="crash")
    pids = [stack.pid("supervisor"), stack.pid("fake")]
    assert None not in pids and stack.ours()

    down = stack.run("stack", "down")

    assert down.returncode == 0, down.stdout + down.stderr
    assert down.stdout.splitlines()[0].split() == ["supervisor", "stopped"]
    assert not any(_alive(pid) for pid in pids if pid) and stack.ours() == []
    starts = len(crashing.start_times())
    time.sleep(2.5)  # longer than the crasher's wait to be started again
    assert len(crashing.start_times()) == starts and stack.ours() == []
