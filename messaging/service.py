"""Running a worker service: start-up checks, signals, threads, and the health endpoint."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from confluent_kafka import KafkaException

from contracts.registry import RegistryError
from messaging import logs, tracing
from messaging.health import ClientStatus
from messaging.metrics import serve_health
from messaging.runtime import Runtime
from messaging.serde import SchemaNotRegistered
from messaging.settings import SettingsError

__all__ = ["run_service"]

log = logging.getLogger(__name__)
EXIT_HUNG = 75  # EX_TEMPFAIL: try again
STARTUP_ERRORS = (RegistryError, SchemaNotRegistered, SettingsError, KafkaException, LookupError, OSError)


def broker_status(runtime: Runtime) -> ClientStatus:
    """Whether a broker answers a metadata request now: not ready while cut off, even with partitions."""
    try:
        runtime.producer.list_topics(timeout=1.0)
    except KafkaException as error:
        return ClientStatus("broker", False, f"no broker answers: {error.args[0].str()}", None)
    return ClientStatus("broker", True, None, None)


class Loop(Protocol):
    """What a service runs on a thread of its own: a worker (messaging.worker.Worker)."""

    group: str

    def run(self, stop: threading.Event) -> None: ...

    def hung(self) -> bool: ...


def run_service(name: str, build: Callable[[Runtime], Sequence[Loop]], health_port: int) -> int:
    """Build the service's workers and run them until SIGTERM or SIGINT; returns the exit status.

    A service that cannot start (registry down, schemas not provisioned, bad settings) says why in
    one sentence and exits 1 at once rather than limping along.
    """
    logs.configure(name)
    try:
        tracing.setup(name)  # TRACING=1: spans to the receiver OTEL_TRACES_EXPORTER names
        runtime = Runtime(name)
        workers = build(runtime)
        server = serve_health(health_port, lambda: [*runtime.health.statuses(), broker_status(runtime)])
    except STARTUP_ERRORS as error:
        print(f"{name} cannot start: {error}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    failures: list[BaseException] = []

    def run(worker: Loop) -> None:
        try:
            worker.run(stop)
        except BaseException as error:  # one dead loop stops the service, so a supervisor restarts it whole
            log.exception("worker %s died", worker.group)
            failures.append(error)
            stop.set()

    threads = [threading.Thread(target=run, args=(w,), name=w.group) for w in workers]
    for thread in threads:
        thread.start()
    log.info("started", extra={"health_port": health_port, "groups": [w.group for w in workers]})
    while any(thread.is_alive() for thread in threads):
        stop.wait(0.5)
        if any(worker.hung() for worker in workers):
            # Its thread cannot be interrupted: exit, so the supervisor starts a new process, whose
            # producer fences this one's transaction. Nothing of the hung batch was committed.
            log.critical("a Kafka call hung past its timeout; exiting to be restarted",
                         extra={"groups": [w.group for w in workers if w.hung()]})
            os._exit(EXIT_HUNG)
    for thread in threads:
        thread.join()
    server.shutdown()
    runtime.close()
    tracing.shutdown()  # what is still buffered goes out
    log.info("stopped")
    return 1 if failures else 0
