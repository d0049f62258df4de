"""Faults across hosts: the workers run on two hosts (network namespaces of their own, each with its own
state directory, nothing shared but Kafka and the registry), and one host is killed, cut off, or loses
its state, under the same load and the same accounting as every other fault."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient

from chaos.hosts import Host
from contracts.env import principal_env
from messaging.runtime import Runtime
from stack import procs
from stack.paths import LOGS
from stack.services import services

__all__ = ["HOST_FAULTS", "two_hosts"]

# service -> (module, consumer group, health port inside the host)
WORKERS = {"invoice": ("services.invoice", "invoice-generator", 8101),
           "score": ("services.score", "score-calculator", 8102)}
STATE_ROOT = Path(tempfile.gettempdir()) / "accounting-chaos-hosts"


class Machine:
    """One host and the workers it runs: an invoice generator and a score calculator."""

    def __init__(self, number: int) -> None:
        self.name = f"acc-h{number}"
        self.host = Host(self.name, number)
        self.state_dir = STATE_ROOT / self.name

    def start_workers(self) -> None:
        for service, (module, _, port) in WORKERS.items():
            env = {**os.environ, **principal_env(service),
                   "INSTANCE_ID": f"{self.name}-{service}", "STATE_DIR": str(self.state_dir / service),
                   "HEALTH_PORT": str(port)}
            self.host.start([sys.executable, "-m", module], env, LOGS / f"{self.name}-{service}.log")

    def fenced_batches(self) -> int:
        """Batches this host's workers had to abandon (aborted or fenced transactions), from their logs."""
        return sum(path.read_text(errors="replace").count("retrying a batch")
                   for path in LOGS.glob(f"{self.name}-*.log"))


def _await_members(admin: AdminClient, count: int, deadline_s: float = 90) -> None:
    """Until each worker group is stable with `count` members: every host owns partitions."""
    deadline = time.monotonic() + deadline_s
    groups = [group for _, group, _ in WORKERS.values()]
    while time.monotonic() < deadline:
        described = [future.result() for future in admin.describe_consumer_groups(groups).values()]
        if all(g.state == ConsumerGroupState.STABLE and len(g.members) == count for g in described):
            return
        time.sleep(0.5)
    raise RuntimeError(f"the worker groups did not settle with {count} members each in {deadline_s:.0f} s")


HOSTS: list[Machine] = []


@contextmanager
def two_hosts(runtime: Runtime) -> Iterator[None]:
    """The stack's own workers stopped, two hosts running them instead; all as it was afterwards."""
    stack_workers = [s for s in services() if s.name in WORKERS]
    for service in stack_workers:
        procs.stop(service.name)
    shutil.rmtree(STATE_ROOT, ignore_errors=True)
    for log in LOGS.glob("acc-h*.log"):
        log.unlink()
    admin = AdminClient({**runtime.settings.kafka_client})
    machines = [Machine(1), Machine(2)]
    try:
        for machine in machines:
            machine.host.__enter__()
            machine.start_workers()
        _await_members(admin, 2)
        HOSTS[:] = machines
        yield
    finally:
        HOSTS.clear()
        for machine in machines:
            machine.host.__exit__(None, None, None)
        shutil.rmtree(STATE_ROOT, ignore_errors=True)
        for service in stack_workers:
            service.start()


def kill_host(runtime: Runtime, marker: str) -> None:
    """kill -9 of every process of host 1, which comes back 5 s later (a machine rebooted)."""
    time.sleep(4)
    HOSTS[0].host.kill_all()
    time.sleep(5)
    HOSTS[0].start_workers()


def cut_host(runtime: Runtime, marker: str) -> None:
    """Host 1 loses its link for 20 s: its partitions move to host 2 after the session times out, and what
    it was writing when cut off is aborted by the broker; back on the link, it is fenced and rejoins."""
    time.sleep(4)
    HOSTS[0].host.cut()
    time.sleep(20)
    HOSTS[0].host.heal()


def wipe_host_state(runtime: Runtime, marker: str) -> None:
    """Host 1 dies and comes back with an empty state directory: it restores its stores from the changelogs."""
    time.sleep(4)
    HOSTS[0].host.kill_all()
    shutil.rmtree(HOSTS[0].state_dir)
    time.sleep(2)
    HOSTS[0].start_workers()


HOST_FAULTS = [
    ("two hosts: kill -9 every process of one", kill_host),
    ("two hosts: cut one off the broker for 20 s", cut_host),
    ("two hosts: delete one's state directory", wipe_host_state),
]
