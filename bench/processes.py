"""Servers of the dashboard's measurements: the stack's dashboards found by name, the bench's own started and
stopped here, and the CPU time a process has used, from its own counters in /proc."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from contracts.env import principal_env
from contracts.manifest import load_manifest
from stack import procs
from stack.paths import REPO
from stack.services import services

__all__ = ["Server", "cpu_seconds", "parse_cpu_seconds", "running_dashboards", "started"]

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    database: str  # the scheme of the DATABASE_URL it runs on: sqlite, postgresql, ...
    group: str | None = None  # the consumer group a dashboard reads the replies in


def parse_cpu_seconds(stat: str, ticks: int = TICKS) -> float:
    """utime + stime (every thread of the process) from the text of /proc/<pid>/stat, in seconds."""
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": the name may hold spaces and parentheses
    return (int(fields[11]) + int(fields[12])) / ticks


def cpu_seconds(pid: int) -> float:
    return parse_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())


def _started_with(pid: int, name: str) -> str | None:
    """The value of the environment variable `name` the process was started with."""
    for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        if entry.startswith(f"{name}=".encode()):
            return entry.split(b"=", 1)[1].decode()
    return None


def running_dashboards(count: int) -> list[Server]:
    """The stack's first `count` dashboards (as `make up DASHBOARDS=N` names and numbers them), each ready."""
    found = []
    for service in [s for s in services(1, count) if s.module == "services.dashboard"]:
        pid = procs.running_pid(service.name)
        if pid is None or not service.healthy():
            raise RuntimeError(f"the {service.name} service is not running and ready at {service.address()}: the"
                               f" measurement wants {count} dashboards (`make up DASHBOARDS={count}`)")
        database = (_started_with(pid, "DATABASE_URL") or "sqlite").split(":", 1)[0]  # the dashboard's default
        group = _started_with(pid, "DASHBOARD_GROUP") or load_manifest().consumer_groups["dashboard"]
        found.append(Server(service.address(), pid, database, group))
    return found


@contextmanager
def started(argv: list[str], port: int, env: Mapping[str, str], principal: str = "dashboard",
            timeout: float = 60) -> Iterator[Server]:
    """A server of the bench's own, run as `principal` and listening on `port`, until the block ends.

    RuntimeError, carrying the last line it wrote, when it stops before /readyz answers 200.
    """
    if not procs.port_is_free(port):
        raise RuntimeError(f"port {port} is taken: the bench's own servers need it")
    # Not marked as the stack's (STACK_*): `make down` and the stack's checks must not take it for one of theirs.
    base = {k: v for k, v in os.environ.items() if not k.startswith("STACK_")}
    log = Path(tempfile.mkdtemp(prefix="bench-server-")) / "server.log"
    with log.open("w") as output:
        process = subprocess.Popen([sys.executable, *argv], cwd=REPO, env={**base, **principal_env(principal), **env},
                                   stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not _ready(url):
            if process.poll() is not None or time.monotonic() > deadline:
                lines = log.read_text(errors="replace").strip().splitlines() or ["(it wrote nothing)"]
                raise RuntimeError(f"{' '.join(argv)} did not become ready: {lines[-1]} (log: {log})")
            time.sleep(0.3)
        yield Server(url, process.pid, env.get("DATABASE_URL", "sqlite").split(":", 1)[0], env.get("DASHBOARD_GROUP"))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    shutil.rmtree(log.parent)  # kept when it failed: the error names it


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
