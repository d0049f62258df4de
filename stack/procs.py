"""Background processes with a pid file and a log file each."""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from stack import supervision
from stack.errors import StackError
from stack.paths import LOGS, PIDS, REPO, STATE

__all__ = [
    "as_user", "leftovers", "log_file", "port_is_free", "require_free_ports", "running_names", "running_pid", "spawn", "start",
    "stop", "wait_until",
]


def log_file(name: str) -> Path:
    return LOGS / f"{name}.log"


def _pid_file(name: str) -> Path:
    return PIDS / f"{name}.pid"


def running_pid(name: str) -> int | None:
    """The pid of our process `name` if it is alive; a stale pid file is removed."""
    path = _pid_file(name)
    try:
        pid = int(path.read_text())
        # The marker in the environment guards against a recycled pid.
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, ValueError):  # gone, or going while we look
        path.unlink(missing_ok=True)
        return None
    if f"STACK_COMPONENT={name}".encode() not in environ:
        path.unlink(missing_ok=True)
        return None
    return pid


def running_names() -> list[str]:
    """Every component of ours with a live pid file."""
    return sorted(path.stem for path in PIDS.glob("*.pid") if running_pid(path.stem))


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def require_free_ports(what: str, *ports: int) -> None:
    for port in ports:
        if not port_is_free(port):
            raise StackError(f"port {port} is taken by another process, so {what} cannot listen on it: stop that process")


def as_user(user: str | None) -> dict[str, Any]:
    """subprocess's arguments that run a program as `user`, in its own group and no other; none for None."""
    if user is None:
        return {}
    account = pwd.getpwnam(user)
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def start(
    name: str, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path = REPO, user: str | None = None
) -> int:
    """Start `argv` in its own session (as `user`, when given), output appended to its log file; returns the pid."""
    return spawn(name, argv, env, cwd, user).pid


def spawn(
    name: str, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path = REPO, user: str | None = None
) -> subprocess.Popen[bytes]:
    """`start`, keeping the process object: its parent alone learns how it exited (the supervisor)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    PIDS.mkdir(parents=True, exist_ok=True)
    with log_file(name).open("ab") as log:
        log.write(f"\n---- started {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} ----\n".encode())
        log.flush()
        process = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env={**os.environ, **(env or {}), "STACK_COMPONENT": name, "STACK_HOME": str(STATE)},
            start_new_session=True,
            **as_user(user),
        )
    _pid_file(name).write_text(str(process.pid))
    return process


def stop(name: str, timeout: float = 30.0) -> bool:
    """SIGTERM the process group, SIGKILL it after `timeout`; False if it was not running.

    A stop is deliberate: the supervisor is told first, so it neither restarts the process nor starts one
    it was about to restart.
    """
    supervision.release(name)
    pid = running_pid(name)
    if pid is None:
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
    _pid_file(name).unlink(missing_ok=True)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of ours is dead for our purposes; reap it if it is ours.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    if state == "Z":
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return False
    return True


def wait_until(
    ready: Callable[[], bool], name: str, what: str, deadline_seconds: float, pid: int
) -> float:
    """Poll `ready` until true; fail with one sentence if the process dies or time runs out."""
    started = time.monotonic()
    while True:
        if ready():
            return time.monotonic() - started
        if not _alive(pid):
            raise StackError(f"{what} exited during start-up; see {log_file(name)}")
        if time.monotonic() - started > deadline_seconds:
            raise StackError(f"{what} was not ready after {deadline_seconds:.0f} s; see {log_file(name)}")
        time.sleep(0.25)


def leftovers(state: Path = STATE) -> list[int]:
    """Pids of processes the stack with this state folder started that are still alive, pid file or not.

    They carry the stack's state folder as their marker, so a second stack (STACK_STATE) is not ours.
    """
    marker = f"STACK_HOME={state}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0") and _alive(int(environ.parent.name)):
                found.append(int(environ.parent.name))
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    return found
