"""The project's own services as local processes, each with its health endpoint."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import httpx

from stack import procs

__all__ = ["Service", "services"]


@dataclass(frozen=True)
class Service:
    name: str  # also the process's INSTANCE_ID: its static identity in its consumer groups
    module: str
    port: int  # the health (and, for the dashboard, web) port
    port_variable: str
    env: dict[str, str] = field(default_factory=dict)

    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self, timeout: float = 2.0) -> bool:
        try:
            return httpx.get(f"{self.address()}/readyz", timeout=timeout).is_success
        except httpx.HTTPError:
            return False

    def start(self) -> float:
        if procs.running_pid(self.name):
            return 0.0
        procs.require_free_ports(f"the {self.name} service", self.port)
        env = {self.port_variable: str(self.port), "INSTANCE_ID": self.name, **self.env}
        pid = procs.start(self.name, [sys.executable, "-m", self.module], env=env)
        return procs.wait_until(self.healthy, self.name, f"the {self.name} service", 60, pid)


def _name(base: str, index: int) -> str:
    return base if index == 1 else f"{base}-{index}"


def services(workers: int = 1, dashboards: int = 1) -> list[Service]:
    """`workers` invoice generators and score calculators (one consumer group each), `dashboards` dashboards.

    Every dashboard reads every reply (a consumer group of its own), so a reply reaches the browser
    waiting for it whichever dashboard that browser is connected to.
    """
    found = []
    for i in range(1, workers + 1):
        found.append(Service(_name("invoice", i), "services.invoice", 8101 + 10 * (i - 1), "HEALTH_PORT"))
        found.append(Service(_name("score", i), "services.score", 8102 + 10 * (i - 1), "HEALTH_PORT"))
    for i in range(1, dashboards + 1):
        found.append(Service(_name("dashboard", i), "services.dashboard", 8000 + (i - 1), "DASHBOARD_PORT",
                             {"DASHBOARD_GROUP": _name("dashboard", i)}))
    return found
