"""The supervisor: one background process that restarts the project's services when they exit, with backoff.

It supervises the services only. Kafka and the registry are the platform the services run on: a broker
is started with its quorum (`up` launches the nodes together and formats storage first), and the fault
tests kill and restart brokers and the registry on purpose, on their own schedule, which a supervisor
bringing them back behind their backs would race.

Run as `python -m stack.supervisor`; `up` starts it before the services and `down` stops it first.
Stopping it leaves the services running (a supervisor restarted after an upgrade takes them over again).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from stack import procs, supervision
from stack.errors import StackError

__all__ = ["NAME", "Backoff", "await_ready", "describe_exit", "healthy", "run", "start"]

NAME = "supervisor"
TICK_SECONDS = 0.25
HEARTBEAT = supervision.FOLDER / "heartbeat"  # touched every tick: a wedged loop shows as unhealthy


@dataclass
class Backoff:
    """How long to wait before starting a service again: `first` after a quick exit, doubling up to `cap`.

    A process that stayed up `stable` seconds had a good run, so its next exit waits `first` again; a
    process that keeps exiting soon after it starts (a crash loop) is tried less and less often.
    """

    first: float = 1.0
    cap: float = 30.0
    stable: float = 10.0
    quick_exits: int = 0

    def after_exit(self, uptime: float) -> float:
        self.quick_exits = 1 if uptime >= self.stable else self.quick_exits + 1
        return min(self.first * 2.0 ** (self.quick_exits - 1), self.cap)


def describe_exit(returncode: int) -> str:
    """'exit 1' or 'killed by SIGKILL', from a Popen return code (negative for a signal)."""
    if returncode >= 0:
        return f"exit {returncode}"
    try:
        return f"killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"killed by signal {-returncode}"


@dataclass
class _Watch:
    """One supervised service as the supervisor knows it."""

    status: supervision.Status
    backoff: Backoff = field(default_factory=Backoff)
    process: subprocess.Popen[bytes] | None = None  # when this supervisor started it
    pid: int | None = None  # while it runs, started here or taken over
    started: float = 0.0  # monotonic
    due: float = 0.0  # monotonic: not started again before this


def _say(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {message}", flush=True)


def _exit_of(name: str, watch: _Watch) -> str | None:
    """How the watched process ended, or None while it runs."""
    if watch.process is not None:
        returncode = watch.process.poll()
        return None if returncode is None else describe_exit(returncode)
    if watch.pid is None or procs.running_pid(name) == watch.pid:
        return None
    return "exited, status unknown (not started by this supervisor)"  # only a parent learns the status


def _tick(watches: dict[str, _Watch]) -> None:
    exits = {name: end for name, watch in watches.items() if (end := _exit_of(name, watch))}
    # Read after the exits: `stop` releases a program before it kills, so a stopped one is gone by now.
    wanted = supervision.programs()
    for name, end in exits.items():
        _ended(name, watches[name], end, restart=name in wanted)
    for name in [name for name, watch in watches.items() if name not in wanted and watch.pid is None]:
        watch = watches.pop(name)  # released while waiting to start again
        _save(name, watch, replace(watch.status, next_start_at=None))
    for name, program in wanted.items():
        watch = watches.setdefault(name, _Watch(supervision.status(name)))
        if watch.pid is not None:
            continue
        if pid := procs.running_pid(name):  # started before this supervisor, or by hand: watch it as it is
            watch.pid, watch.started = pid, time.monotonic()
            _save(name, watch, replace(watch.status, next_start_at=None))
            _say(f"{name} is running (pid {pid}); watching it")
        elif time.monotonic() >= watch.due:
            _launch(program, watch)


def _ended(name: str, watch: _Watch, end: str, restart: bool) -> None:
    uptime = time.monotonic() - watch.started
    watch.process = watch.pid = None
    if not restart:
        _save(name, watch, replace(watch.status, last_exit=end, exited_at=time.time()))
        _say(f"{name} stopped on purpose ({end})")
        return
    delay = watch.backoff.after_exit(uptime)
    watch.due = time.monotonic() + delay
    _save(name, watch, replace(watch.status, last_exit=end, exited_at=time.time(), next_start_at=time.time() + delay))
    _say(f"{name} {end} after {uptime:.1f} s; starting it again in {delay:.0f} s")


def _save(name: str, watch: _Watch, updated: supervision.Status) -> None:
    if updated != watch.status:
        watch.status = updated
        supervision.save_status(name, updated)


def _launch(program: supervision.Program, watch: _Watch) -> None:
    restart = watch.status.next_start_at is not None  # it exited without being asked to
    watch.started = time.monotonic()
    try:
        watch.process = procs.spawn(program.name, program.argv, program.env, Path(program.cwd))
    except OSError as error:  # a program that cannot run at all waits its turn like one that crashed
        _ended(program.name, watch, f"could not start ({error})", restart=True)
        return
    watch.pid = watch.process.pid
    _save(program.name, watch, replace(watch.status, restarts=watch.status.restarts + restart, next_start_at=None))
    _say(f"{program.name} {'restarted' if restart else 'started'} (pid {watch.pid})")


def run() -> int:
    """Supervise until SIGTERM or SIGINT."""
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    watches: dict[str, _Watch] = {}
    _say("supervising the services")
    while not stopping.is_set():
        with supervision.lock():
            _tick(watches)
        HEARTBEAT.touch()
        stopping.wait(TICK_SECONDS)
    _say("stopped; the services keep running")
    return 0


def healthy() -> bool:
    """The supervisor runs and its loop went round in the last few seconds."""
    try:
        fresh = time.time() - HEARTBEAT.stat().st_mtime < 5
    except FileNotFoundError:
        return False
    return fresh and procs.running_pid(NAME) is not None


def start() -> float:
    """Start the supervisor unless it runs; returns the seconds it took to go round once."""
    with supervision.lock():  # two callers at once start one supervisor
        if procs.running_pid(NAME):
            return 0.0
        HEARTBEAT.unlink(missing_ok=True)
        pid = procs.start(NAME, [sys.executable, "-m", "stack.supervisor"])
    return procs.wait_until(healthy, NAME, "the supervisor", 30, pid)


def await_ready(name: str, ready: Callable[[], bool], what: str, deadline_seconds: float) -> float:
    """Poll `ready` while the supervisor starts `name`; fail in one sentence if it exits or time runs out."""
    since, started = time.time(), time.monotonic()
    while not ready():
        status = supervision.status(name)
        if status.exited_at is not None and status.exited_at >= since:
            raise StackError(
                f"{what} exited during start-up ({status.last_exit}) and is restarted with backoff; "
                f"see {procs.log_file(name)}"
            )
        if not healthy():
            raise StackError(f"the supervisor is not running, so {what} is not started; see {procs.log_file(NAME)}")
        if time.monotonic() - started > deadline_seconds:
            raise StackError(f"{what} was not ready after {deadline_seconds:.0f} s; see {procs.log_file(name)}")
        time.sleep(0.25)
    return time.monotonic() - started


if __name__ == "__main__":
    raise SystemExit(run())
