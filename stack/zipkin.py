"""The trace viewer of `make up TRACING=1`: Zipkin's server, the executable jar from Maven Central (its Lens UI inside),
keeping traces in memory and listening on loopback only; the services send it their spans with OpenTelemetry's Zipkin
exporter (messaging/tracing.py)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from stack import procs
from stack.errors import StackError
from stack.fetch import zipkin_jar
from stack.java import find_java

__all__ = ["NAME", "PORT", "address", "argv", "endpoint", "environment", "healthy", "running", "start"]

NAME = "zipkin"
# STACK_ZIPKIN_PORT moves it, as STACK_POSTGRES_PORT moves PostgreSQL.
PORT = int(os.environ.get("STACK_ZIPKIN_PORT") or 9411)
HEAP = os.environ.get("ZIPKIN_HEAP_OPTS", "-Xms64m -Xmx512m")


def address(port: int = PORT) -> str:
    """Its UI, where people look at traces (TRACING_UI_URL)."""
    return f"http://127.0.0.1:{port}/zipkin"


def endpoint(port: int = PORT) -> str:
    """Where spans are sent (OTEL_EXPORTER_ZIPKIN_ENDPOINT)."""
    return f"http://127.0.0.1:{port}/api/v2/spans"


def healthy(port: int = PORT, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=timeout).is_success
    except httpx.HTTPError:
        return False


def argv(java: Path, jar: Path, port: int) -> list[str]:
    """Its command line: the server on 127.0.0.1 only (its default is every address)."""
    return [str(java), *HEAP.split(), "-jar", str(jar),
            "--armeria.ports[0].ip=127.0.0.1", f"--armeria.ports[0].port={port}", "--armeria.ports[0].protocols=http"]


def environment(port: int) -> dict[str, str]:
    """Zipkin reads its settings from the environment: traces in memory, spans taken over HTTP alone. Its Kafka collector
    would start on KAFKA_BOOTSTRAP_SERVERS, which the stack sets for everything else: it is switched off, like the
    other collectors and the service discovery it does not need."""
    return {
        "QUERY_PORT": str(port), "STORAGE_TYPE": "mem", "SELF_TRACING_ENABLED": "false", "KAFKA_BOOTSTRAP_SERVERS": "",
        **{f"COLLECTOR_{name}_ENABLED": "false" for name in ("KAFKA", "GRPC", "RABBITMQ", "ACTIVEMQ", "PULSAR", "SCRIBE")},
        "DISCOVERY_EUREKA_ENABLED": "false",
    }


@contextmanager
def running(port: int, log: Path) -> Iterator[None]:
    """A Zipkin apart from the stack's (no pid file, not stopped by `make down`) on `port`, for a test or a measurement,
    until the block ends; its output goes to `log`."""
    java = find_java(17, "The trace viewer (Zipkin 3)", "JAVA_HOME")
    _, jar = zipkin_jar()
    with log.open("wb") as output:
        process = subprocess.Popen(argv(java, jar, port), env={**os.environ, **environment(port)}, stdout=output,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not healthy(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise StackError(f"Zipkin did not start on port {port}; see {log}")
            time.sleep(0.3)
        yield
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start() -> float:
    """Start Zipkin unless it runs (fetched the first time); the seconds it took to become ready."""
    if procs.running_pid(NAME):
        return 0.0
    java = find_java(17, "The trace viewer (Zipkin 3)", "JAVA_HOME")
    procs.require_free_ports("the trace viewer (Zipkin)", PORT)
    _, jar = zipkin_jar()
    pid = procs.start(NAME, argv(java, jar, PORT), environment(PORT))
    return procs.wait_until(healthy, NAME, "the trace viewer (Zipkin)", 120, pid)
