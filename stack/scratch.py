"""A second deployment of the services beside the stack's, on the same cluster and registry: the same contracts with
every topic, consumer group and co-partitioned group name prefixed (contracts/manifest.py's `name_prefix`), its own
dashboard, database and state. For what changes the cluster for good (a move to more partitions), which must leave
the stack's own topics as they were; it connects as the admin principal, as the services' rights name the stack's
topics only. Everything it created is deleted when it ends."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol

import httpx
from confluent_kafka.admin import AdminClient

from contracts.env import principal_env
from contracts.manifest import HOME, Manifest, read_manifest
from contracts.provision import provision
from messaging.runtime import Runtime
from stack import procs
from stack.paths import LOGS

__all__ = ["Host", "Scratch"]


class Host(Protocol):
    """Another machine to run processes on (chaos/hosts.py makes them from network namespaces)."""

    name: str

    def start(self, argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> object: ...

    def kill_all(self) -> None: ...

MODULES = {"invoice": "services.invoice", "score": "services.score", "dashboard": "services.dashboard"}
PORTS = {"dashboard": 8300, "invoice": 8301, "score": 8302}  # beside the stack's 8000, 8101, 8102
READY_SECONDS = 90


class Scratch:
    """The deployment: `with Scratch() as scratch:` provisions its topics and subjects and starts a dashboard and a
    worker of each kind, here or, given `hosts`, one of each on every host (the dashboard stays here)."""

    def __init__(self, hosts: tuple[Host, ...] = ()) -> None:
        self.prefix = f"scratch-{uuid.uuid4().hex[:6]}-"
        self.root = Path(tempfile.mkdtemp(prefix="accounting-scratch-"))
        shutil.copytree(HOME / "schemas", self.root / "schemas")
        self.manifest_path = self.root / "topics.toml"
        self.manifest_path.write_text(f'name_prefix = "{self.prefix}"\n\n' + (HOME / "topics.toml").read_text())
        self.manifest: Manifest = read_manifest(self.manifest_path)
        self.hosts = hosts
        self.env = {**os.environ, **principal_env("admin"), "CONTRACTS_MANIFEST": str(self.manifest_path)}
        self.dashboard_url = f"http://127.0.0.1:{PORTS['dashboard']}"
        self.runtime = Runtime("chaos", manifest=self.manifest)
        self._local: dict[str, str] = {}  # service -> its process's name for stack.procs

    def __enter__(self) -> Scratch:
        try:
            provision(self.manifest, AdminClient({**self.runtime.settings.kafka_client}), self.runtime.registry,
                      lambda _: None, principals=False)
            self.start("dashboard")
            for host in self.hosts or (None,):
                self.start_workers(host)
            for service in MODULES:
                self.await_ready(service)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        for name in self._local.values():
            procs.stop(name, timeout=10)
        for host in self.hosts:
            host.kill_all()
        admin = AdminClient({**self.runtime.settings.kafka_client})
        names = [t.name for t in self.manifest.topics] + [t.dead_letter_topic for t in self.manifest.topics
                                                            if t.dead_letter_topic]
        for future in admin.delete_topics(names, operation_timeout=30).values():
            try:
                future.result(60)
            except Exception:  # noqa: BLE001 - one not created is nothing to delete
                pass
        self.runtime.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def start(self, service: str, host: Host | None = None) -> None:
        """Start one process of `service` (here, or on `host`)."""
        where = host.name if host is not None else "local"
        env = {**self.env, "INSTANCE_ID": f"{self.prefix}{where}-{service}",
               "STATE_DIR": str(self.root / "state" / where / service)}
        if service == "dashboard":
            env |= {"DASHBOARD_PORT": str(PORTS[service]), "DATABASE_URL": f"sqlite:///{self.root / 'dashboard.sqlite3'}"}
        else:
            env["HEALTH_PORT"] = str(PORTS[service])
        argv = [sys.executable, "-m", MODULES[service]]
        if host is not None:
            host.start(argv, env, LOGS / f"{self.prefix}{host.name}-{service}.log")
        else:
            self._local[service] = f"{self.prefix}{service}"
            procs.start(self._local[service], argv, env)

    def start_workers(self, host: Host | None = None) -> None:
        """An invoice generator and a score calculator (here, or on `host`)."""
        self.start("invoice", host)
        self.start("score", host)

    def kill(self, service: str) -> None:
        """kill -9 the local process of `service`."""
        pid = procs.running_pid(self._local[service])
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            while procs.running_pid(self._local[service]) == pid:
                time.sleep(0.05)

    def await_ready(self, service: str, host: Host | None = None) -> None:
        """Until the local process of `service` says it is ready (a host's workers are judged by their groups)."""
        if host is not None or service not in self._local:
            return
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{PORTS[service]}/readyz", timeout=2).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        log = procs.log_file(self._local[service])
        raise RuntimeError(f"the scratch {service} was not ready within {READY_SECONDS} s; see {log}")

    def group(self, name: str) -> str:
        """The scratch name of a co-partitioned group of contracts/topics.toml."""
        return self.prefix + name

