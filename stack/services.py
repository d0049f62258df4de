"""The project's own services as local processes, each with its health endpoint."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import httpx

from stack import procs

__all__ = ["SERVICES", "Service"]


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    port: int  # the health (and, for the dashboard, web) port
    port_variable: str

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
        env = {self.port_variable: str(self.port), "INSTANCE_ID": self.name}
        pid = procs.start(self.name, [sys.executable, "-m", self.module], env=env)
        return procs.wait_until(self.healthy, self.name, f"the {self.name} service", 60, pid)


SERVICES = (
    Service("invoice", "services.invoice", 8101, "HEALTH_PORT"),
    Service("score", "services.score", 8102, "HEALTH_PORT"),
    Service("dashboard", "services.dashboard", 8000, "DASHBOARD_PORT"),
)
