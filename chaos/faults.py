"""The faults: each takes the running stack down in one way and brings it back (a killed service is
brought back by the stack's supervisor, which the fault waits for)."""

from __future__ import annotations

import os
import signal
import struct
import time
import uuid
from collections.abc import Callable

from chaos.intruders import intrude
from contracts.records import CALCULATE_SCORE, GENERATE_INVOICE
from messaging.runtime import Runtime
from stack import broker, procs, registry, supervision, supervisor
from stack.services import Service, services

__all__ = ["FAULTS", "Fault", "kill"]

Fault = Callable[[Runtime, str], None]  # (runtime, run marker) -> None; blocks until the fault is over
SERVICE = {service.name: service for service in services()}
BROKER = broker.nodes(1)[0]
RESTART_DEADLINE_SECONDS = 90  # the supervisor's longest wait (30 s) and a slow start under load


def kill(name: str) -> None:
    pid = procs.running_pid(name)
    if pid is None:
        raise RuntimeError(f"{name} is not running; start the stack with `make up` first")
    os.kill(pid, signal.SIGKILL)
    while procs.running_pid(name) == pid:
        time.sleep(0.05)


def _kill_and_await_restart(name: str, times: int) -> Fault:
    """kill -9 the service `times` times; each time the supervisor, not the fault, must bring it back."""

    def fault(runtime: Runtime, marker: str) -> None:
        if not supervisor.healthy():
            raise RuntimeError("the supervisor is not running; start the stack with `make up` first")
        for _ in range(times):
            time.sleep(4)
            restarts = supervision.status(name).restarts
            kill(name)
            _await_restart(SERVICE[name], restarts)

    return fault


def _await_restart(service: Service, restarts_before: int) -> None:
    deadline = time.monotonic() + RESTART_DEADLINE_SECONDS
    while not (supervision.status(service.name).restarts > restarts_before and service.healthy()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the supervisor did not bring {service.name} back within {RESTART_DEADLINE_SECONDS} s;"
                               f" see `make status` and {procs.log_file(supervisor.NAME)}")
        time.sleep(0.25)


def kill_broker(runtime: Runtime, marker: str) -> None:
    time.sleep(5)
    kill(BROKER.name)
    time.sleep(5)
    BROKER.start()


def stop_registry(runtime: Runtime, marker: str) -> None:
    time.sleep(5)
    procs.stop(registry.NAME)
    time.sleep(10)
    registry.start()


def fence_every_group(runtime: Runtime, marker: str) -> None:
    """A second member joins each of our groups under the group.instance.id of one of its members, for 5 s: the
    broker fences that member's consumer for good, so the service must build a new one and rejoin."""
    manifest = runtime.manifest
    for service, group in manifest.consumer_groups.items():
        time.sleep(3)
        topics = [t.name for t in manifest.topics if service in t.consumers and t.changelog_of is None]
        intrude(runtime.settings.kafka_client, os.environ.get("DASHBOARD_GROUP", group) if service == "dashboard"
                else group, topics, seconds=5)


POISON_PER_TOPIC = 1000


def inject_poison(runtime: Runtime, marker: str) -> None:
    """1,000 unreadable records into each request topic, of three kinds, amid the valid traffic."""
    time.sleep(2)
    unknown_id = struct.pack(">bI", 0, 2_000_000_000)
    real_id = struct.pack(">bI", 0, runtime.codec(runtime.manifest.topic(GENERATE_INVOICE).value).schema_id)
    kinds = (b"", unknown_id, real_id)  # no framing; an id the registry never gave; a real id, a body that does not match
    for topic in (runtime.manifest.topic(GENERATE_INVOICE), runtime.manifest.topic(CALCULATE_SCORE)):
        for index in range(POISON_PER_TOPIC):
            body = f"poison {marker} {index} {uuid.uuid4()}".encode()
            runtime.producer.produce(topic.name, key=b"poison", value=kinds[index % 3] + body)
            if index % 100 == 0:
                runtime.producer.poll(0)
                time.sleep(0.05)  # spread them amid the valid traffic
    runtime.producer.flush(30)


FAULTS: list[tuple[str, Fault]] = [
    ("kill -9 the invoice generator (3 times)", _kill_and_await_restart("invoice", 3)),
    ("kill -9 the score calculator (2 times)", _kill_and_await_restart("score", 2)),
    *[(f"kill -9 the broker, then restart it ({n} of 3)", kill_broker) for n in (1, 2, 3)],
    ("a second member with the instance id of each group's member", fence_every_group),
    ("stop the registry for 10 s, then start it", stop_registry),
    (f"inject {POISON_PER_TOPIC} poison records per request topic", inject_poison),
]
