"""What the supervisor is asked to keep running, and what it saw happen: small files beside the pid files.

A program file says "keep this running" and is written by whoever starts a service; a status file holds
the restarts and the last exit and is written by the supervisor alone, so no file has two writers.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from stack.paths import PIDS

__all__ = [
    "FOLDER", "Program", "Status", "clear", "lock", "programs", "release", "save_status", "status", "supervised", "want",
]

FOLDER = PIDS / "supervised"


@dataclass(frozen=True)
class Program:
    """A service as it was started: restarts run exactly this again."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: str


@dataclass(frozen=True)
class Status:
    restarts: int = 0
    last_exit: str | None = None  # "exit 1", "killed by SIGKILL"
    exited_at: float | None = None  # seconds since the epoch
    next_start_at: float | None = None  # while waiting to start it again

    def last_exit_text(self, now: float) -> str:
        """'exit 1 at 2026-12-01T10:00:09Z; next start in 8 s', or '-' when it never exited."""
        if self.last_exit is None or self.exited_at is None:
            return "-"
        text = f"{self.last_exit} at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(self.exited_at))}"
        if self.next_start_at is not None:
            text += f"; next start in {max(0.0, self.next_start_at - now):.0f} s"
        return text


def _program_file(name: str) -> Path:
    return FOLDER / f"{name}.program.json"


def _status_file(name: str) -> Path:
    return FOLDER / f"{name}.status.json"


def _write(path: Path, data: dict[str, object]) -> None:
    # Written aside and renamed, so a reader never sees half a file; private, as it holds an environment.
    FOLDER.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        json.dump(data, handle)
    os.replace(partial, path)


@contextmanager
def lock() -> Iterator[None]:
    """Held by the supervisor while it decides to start something, and by `release`: a service released
    while the supervisor starts it is either never started or already has the pid file `stop` reads."""
    FOLDER.mkdir(parents=True, exist_ok=True)
    with (FOLDER / "lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def want(program: Program) -> None:
    """Ask the supervisor to keep `program` running."""
    _write(_program_file(program.name), asdict(program))


def release(name: str) -> None:
    """Tell the supervisor that `name` stops on purpose: it is not restarted when it exits."""
    if not _program_file(name).exists():  # the common case, and no need to wait for the lock
        return
    with lock():
        _program_file(name).unlink(missing_ok=True)


def programs() -> dict[str, Program]:
    """Every program the supervisor is asked to keep running, by name."""
    found = {}
    for path in FOLDER.glob("*.program.json"):
        try:
            found[path.name.removesuffix(".program.json")] = Program(**json.loads(path.read_text()))
        except FileNotFoundError:  # released while we looked
            continue
    return found


def supervised() -> list[str]:
    """Every name the supervisor is asked to keep running, or has run since the last `down`."""
    return sorted({path.name.split(".")[0] for path in FOLDER.glob("*.json")})


def status(name: str) -> Status:
    try:
        return Status(**json.loads(_status_file(name).read_text()))
    except FileNotFoundError:
        return Status()


def save_status(name: str, current: Status) -> None:
    _write(_status_file(name), asdict(current))


def clear() -> None:
    """Forget every program and status: the next `up` starts with nothing wanted and no restarts counted."""
    shutil.rmtree(FOLDER, ignore_errors=True)
