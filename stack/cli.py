"""`python -m stack up|down|status|logs`: the local stack behind the Makefile."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from stack import broker, procs, registry
from stack.services import SERVICES
from stack.errors import StackError

__all__ = ["main"]


@dataclass(frozen=True)
class Component:
    name: str
    start: Callable[[], float]
    healthy: Callable[[], bool]
    address: Callable[[], str]


INFRASTRUCTURE = (
    Component(broker.NAME, broker.start, broker.healthy, broker.address),
    Component(registry.NAME, registry.start, registry.healthy, registry.address),
)


APPLICATION = tuple(Component(s.name, s.start, s.healthy, s.address) for s in SERVICES)


def components() -> tuple[Component, ...]:
    return INFRASTRUCTURE + APPLICATION


def _start(component: Component) -> None:
    seconds = component.start()
    state = f"ready in {seconds:4.1f} s" if seconds else "already running"
    print(f"{component.name:<10} {state:<18} {component.address():<42} log {procs.log_file(component.name)}")


def up(_: argparse.Namespace) -> int:
    began = time.monotonic()
    for component in INFRASTRUCTURE:
        _start(component)
    print("provisioning topics and schemas from contracts/topics.toml")
    subprocess.run([sys.executable, "-m", "contracts", "provision"], check=True)
    for component in APPLICATION:
        _start(component)
    print(f"up in {time.monotonic() - began:.1f} s; the dashboard is at http://127.0.0.1:8000")
    return 0


def down(_: argparse.Namespace) -> int:
    # Stop in reverse order: services before the registry, the registry before the broker it uses.
    for component in reversed(components()):
        stopped = procs.stop(component.name, timeout=60)
        print(f"{component.name:<10} {'stopped' if stopped else 'was not running'}")
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
    print(f"{'component':<10} {'state':<8} {'pid':>7}  {'address':<42} health")
    all_well = True
    for component in components():
        pid = procs.running_pid(component.name)
        health = "healthy" if pid and component.healthy() else "unhealthy" if pid else "-"
        all_well &= health == "healthy"
        state = "running" if pid else "stopped"
        print(f"{component.name:<10} {state:<8} {pid or '-':>7}  {component.address():<42} {health}")
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
    try:
        return args.run(args)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as error:
        return error.returncode or 1


if __name__ == "__main__":
    raise SystemExit(main())
