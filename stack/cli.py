"""`python -m stack up|down|status|logs`: the local stack behind the Makefile."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from confluent_kafka.admin import AdminClient

from contracts.manifest import load_manifest
from contracts.provision import give_rights
from stack import broker, mail, postgres, procs, registry, security, supervision, supervisor, zipkin
from stack.errors import StackError
from stack.paths import STATE
from stack.services import Service, services

__all__ = ["main"]


@dataclass(frozen=True)
class Component:
    name: str
    start: Callable[[], float]
    healthy: Callable[[], bool]
    address: Callable[[], str]
    troubles: Callable[[], list[str]] = list  # what keeps it from being ready, as it says itself


@dataclass(frozen=True)
class Shape:
    """How many of each: BROKERS (1 or 3), WORKERS (invoice and score processes), DASHBOARDS; DB, the dashboards'
    database: sqlite (a file, the default) or postgres (the stack's PostgreSQL server, stack/postgres.py); and TRACING=1,
    the services traced into the trace viewer (stack/zipkin.py)."""

    brokers: int
    workers: int
    dashboards: int
    database: str = "sqlite"
    tracing: bool = False

    @classmethod
    def from_env(cls) -> Shape:
        brokers, workers, dashboards = (int(os.environ.get(name) or 1) for name in ("BROKERS", "WORKERS", "DASHBOARDS"))
        traced = os.environ.get("TRACING") or "0"
        shape = cls(brokers, workers, dashboards, os.environ.get("DB") or "sqlite", traced == "1")
        if shape.brokers not in (1, 3) or shape.workers < 1 or shape.dashboards < 1 or shape.database not in DATABASES \
                or traced not in ("0", "1"):
            raise StackError(f"BROKERS must be 1 or 3, WORKERS and DASHBOARDS at least 1, DB sqlite or postgres, TRACING"
                             f" 0 or 1; got {shape}")
        return shape

    def nodes(self) -> list[broker.Node]:
        return broker.nodes(self.brokers)

    def infrastructure(self) -> list[Component]:
        nodes = [Component(n.name, n.start, n.healthy, n.address) for n in self.nodes()]
        database = [POSTGRES] if self.database == "postgres" else []
        viewer = [ZIPKIN] if self.tracing else []
        return [*nodes, Component(registry.NAME, registry.start, registry.healthy, registry.address), MAIL, *database,
                *viewer]

    def processes(self) -> list[Service]:
        """The services to run; the dashboards' database is the stack's PostgreSQL with DB=postgres."""
        return services(self.workers, self.dashboards, postgres.url() if self.database == "postgres" else None)

    def application(self) -> list[Component]:
        return [Component(s.name, s.start, s.healthy, s.address, s.troubles) for s in self.processes()]


DATABASES = ("sqlite", "postgres")
POSTGRES = Component(postgres.NAME, postgres.start, postgres.healthy, postgres.address)
ZIPKIN = Component(zipkin.NAME, zipkin.start, zipkin.healthy, zipkin.address)
MAIL = Component(mail.NAME, mail.start, mail.healthy, mail.address)


SUPERVISOR = Component(supervisor.NAME, supervisor.start, supervisor.healthy, lambda: "-")


def components() -> list[Component]:
    shape = Shape.from_env()
    return [*shape.infrastructure(), SUPERVISOR, *shape.application()]


def _show(name: str, seconds: float, address: str) -> None:
    state = f"ready in {seconds:4.1f} s" if seconds else "already running"
    print(f"{name:<12} {state:<18} {address:<42} log {procs.log_file(name)}")


def up(_: argparse.Namespace) -> int:
    began = time.monotonic()
    shape = Shape.from_env()
    security.lock_down(STATE)  # what an earlier version of the stack left readable by others
    # Everything started from here talks to this cluster unless told otherwise.
    bootstrap = os.environ.setdefault("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap_servers(shape.brokers))
    _start_brokers(shape.nodes())
    # The registry's rights, before it starts (provisioning, which reconciles everyone's, needs the registry).
    give_rights(AdminClient(security.client_config(security.ADMIN, bootstrap)), load_manifest(), security.REGISTRY, print)
    _show(registry.NAME, registry.start(), registry.address())
    if shape.database == "postgres":
        _show(postgres.NAME, postgres.start(), postgres.address())
    if shape.tracing:  # the services started from here send their spans to the trace viewer
        _show(zipkin.NAME, zipkin.start(), zipkin.address())
        os.environ.update({"OTEL_TRACES_EXPORTER": "zipkin", "OTEL_EXPORTER_ZIPKIN_ENDPOINT": zipkin.endpoint()})
        os.environ.setdefault("TRACING_UI_URL", zipkin.address())
    _show(mail.NAME, mail.start(), mail.address())
    os.environ["SMTP_PORT"] = str(mail.PORT)  # the dashboards mail the catcher (STACK_SMTP_PORT moves both)
    folder = security.write_credentials(bootstrap, registry.address())
    print(f"client settings for {', '.join(security.principals())} in {folder} ({security.protocol()})")
    print("provisioning principals, rights, topics and schemas from contracts/topics.toml")
    durability = {"TOPIC_REPLICATION_FACTOR": "3", "TOPIC_MIN_INSYNC_REPLICAS": "2"} if shape.brokers == 3 else {}
    admin = security.client_env(security.ADMIN, bootstrap, registry.address())
    subprocess.run([sys.executable, "-m", "contracts", "provision"], check=True, env={**os.environ, **admin, **durability})
    for component in [SUPERVISOR, *shape.application()]:
        _show(component.name, component.start(), component.address())
    print(f"up in {time.monotonic() - began:.1f} s; the dashboard is at http://127.0.0.1:8000")
    return 0


def _start_brokers(nodes: list[broker.Node]) -> None:
    # The nodes of a quorum are launched together: none is ready before a majority of them runs.
    began = time.monotonic()
    launched = {node: node.launch() for node in nodes}
    for node, pid in launched.items():
        ready = 0.0 if pid is None else procs.wait_until(node.healthy, node.name, "the Kafka broker", 120, pid)
        _show(node.name, ready and time.monotonic() - began, node.address())


def down(_: argparse.Namespace) -> int:
    # The supervisor first, so nothing is started again behind us; then whatever shape was started:
    # services, then what they use (PostgreSQL, the registry, the trace viewer), then the brokers.
    supervisor_ran = procs.stop(supervisor.NAME, timeout=10)
    if supervisor_ran:
        print(f"{supervisor.NAME:<12} stopped")
    running = procs.running_names()
    brokers = [name for name in running if name.startswith("kafka")]
    for name in sorted(set(running) - set(brokers),
                       key=lambda name: (name in (postgres.NAME, registry.NAME, zipkin.NAME, mail.NAME), name)):
        procs.stop(name, timeout=60)
        print(f"{name:<12} stopped")
    # The brokers of a quorum stop together: one left alone waits for a majority that is gone.
    with ThreadPoolExecutor(max(1, len(brokers))) as pool:
        for name, _ in zip(brokers, pool.map(lambda name: procs.stop(name, timeout=60), brokers), strict=True):
            print(f"{name:<12} stopped")
    supervision.clear()
    if not running and not supervisor_ran:
        print("nothing was running")
    # Whatever lost its pid file (a crashed `up`, a deleted var/) is found by its environment marker.
    for pid in procs.leftovers():
        print(f"stopping leftover process {pid}")
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    if survivors := procs.leftovers():
        print(f"error: processes still running after down: {survivors}", file=sys.stderr)
        return 1
    return 0


def status(_: argparse.Namespace) -> int:
    print(f"{'component':<12} {'state':<10} {'pid':>7}  {'address':<42} {'health':<9} {'restarts':>8}  last exit")
    all_well = True
    expected = components()
    wanted = supervision.programs()
    supervised = supervision.supervised()
    restarting = supervisor.healthy()  # a wanted service that is down comes back only while it runs
    extra = [Component(n, lambda: 0.0, lambda: True, lambda: "-") for n in sorted({*procs.running_names(), *supervised})
             if n not in {c.name for c in expected}]
    now = time.time()
    for component in expected + extra:
        pid = procs.running_pid(component.name)
        health = "healthy" if pid and component.healthy() else "unhealthy" if pid else "-"
        all_well &= health == "healthy"
        state = "running" if pid else "restarting" if restarting and component.name in wanted else "stopped"
        record = supervision.status(component.name)
        restarts = str(record.restarts) if component.name in supervised else "-"
        print(f"{component.name:<12} {state:<10} {pid or '-':>7}  {component.address():<42} {health:<9} {restarts:>8}  "
              f"{record.last_exit_text(now)}")
        if health == "unhealthy":
            for trouble in component.troubles():
                print(f"{'':<12} {trouble}")
    return 0 if all_well else 1


def logs(args: argparse.Namespace) -> int:
    names = [args.component] if args.component else [c.name for c in components()]
    for name in names:
        path = procs.log_file(name)
        print(f"==> {path} <==")
        if path.exists():
            print("".join(path.read_text(errors="replace").splitlines(keepends=True)[-args.lines :]), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the broker, the registry and the services; provision").set_defaults(run=up)
    commands.add_parser("down", help="stop everything the stack started").set_defaults(run=down)
    commands.add_parser("status", help="show each component; exit 1 if one is down").set_defaults(run=status)
    log_parser = commands.add_parser("logs", help="show the end of each log")
    log_parser.add_argument("component", nargs="?", choices=[c.name for c in components()])
    log_parser.add_argument("-n", "--lines", type=int, default=40)
    log_parser.set_defaults(run=logs)
    args = parser.parse_args(argv)
    # What the stack and its processes write (passwords, keys, data, logs) is theirs alone: files 0600, folders 0700.
    os.umask(0o077)
    try:
        return args.run(args)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as error:
        return error.returncode or 1


if __name__ == "__main__":
    raise SystemExit(main())
