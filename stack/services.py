"""The project's own services as local processes under the supervisor, each with its health endpoint."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

import httpx

from stack import procs, registry, security, supervision, supervisor
from stack.paths import REPO

__all__ = ["Service", "services"]


@dataclass(frozen=True)
class Service:
    name: str  # also the process's INSTANCE_ID: its static identity in its consumer groups
    module: str
    port: int  # the health (and, for the dashboard, web) port
    port_variable: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def principal(self) -> str:
        """Who it is to the broker: every process of one service shares the service's principal."""
        return self.module.rpartition(".")[2]

    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self, timeout: float = 2.0) -> bool:
        try:
            return httpx.get(f"{self.address()}/readyz", timeout=timeout).is_success
        except httpx.HTTPError:
            return False

    def troubles(self) -> list[str]:
        """Each client that keeps the service from being ready, why and since when, as its /readyz says."""
        try:
            body = httpx.get(f"{self.address()}/readyz", timeout=2.0).json()
        except (httpx.HTTPError, ValueError) as error:
            return [f"/readyz does not answer: {error}"]
        return [f"{c['client']}: {c.get('reason')} (since {c.get('since') or 'now'})"
                for c in body.get("clients", []) if not c.get("ready")]

    def start(self) -> float:
        """Have the supervisor start the service and keep it running; the seconds it took to become ready.

        One found running is left as it is and handed to the supervisor. Its restarts run the command,
        environment and folder it is started with here.
        """
        running = procs.running_pid(self.name) is not None
        if not running:
            procs.require_free_ports(f"the {self.name} service", self.port)
        credentials = security.client_env(self.principal, os.environ["KAFKA_BOOTSTRAP_SERVERS"], registry.address())
        env = {**os.environ, **credentials, self.port_variable: str(self.port), "INSTANCE_ID": self.name, **self.env}
        supervision.want(supervision.Program(self.name, [sys.executable, "-m", self.module], env, str(REPO)))
        supervisor.start()
        if running:
            return 0.0
        # Up to 60 s to become ready, which outlasts the longest wait between two attempts (30 s).
        return supervisor.await_ready(self.name, self.healthy, f"the {self.name} service", 60)


def _name(base: str, index: int) -> str:
    return base if index == 1 else f"{base}-{index}"


def services(workers: int = 1, dashboards: int = 1, database_url: str | None = None) -> list[Service]:
    """`workers` invoice generators and score calculators (one consumer group each), `dashboards` dashboards.

    The dashboards share one reply consumer group, so each reply is read and stored once, and one database:
    `database_url`, or by default their SQLite file; whichever holds a user's page learns of the reply from the
    database (services/dashboard/live.py).
    """
    database = {"DATABASE_URL": database_url} if database_url else {}
    found = []
    for i in range(1, workers + 1):
        found.append(Service(_name("invoice", i), "services.invoice", 8101 + 10 * (i - 1), "HEALTH_PORT"))
        found.append(Service(_name("score", i), "services.score", 8102 + 10 * (i - 1), "HEALTH_PORT"))
    for i in range(1, dashboards + 1):
        found.append(Service(_name("dashboard", i), "services.dashboard", 8000 + (i - 1), "DASHBOARD_PORT", database))
    return found
