"""The schema registry: Apicurio Registry 3, used only through its Confluent-compatible API."""

from __future__ import annotations

import os

import httpx

from stack import broker, procs
from stack.fetch import registry_home
from stack.java import find_java
from stack.paths import STATE

__all__ = ["NAME", "PORT", "address", "healthy", "start"]

NAME = "registry"
PORT = 8081
MANAGEMENT_PORT = 9081
HEAP = os.environ.get("REGISTRY_HEAP_OPTS", "-Xms128m -Xmx512m")
# Apicurio enforces no compatibility unless told; Confluent's registry defaults to BACKWARD.
GLOBAL_COMPATIBILITY = "BACKWARD"


def address() -> str:
    return f"http://127.0.0.1:{PORT}/apis/ccompat/v7"


def healthy(timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{MANAGEMENT_PORT}/health/ready", timeout=timeout).is_success
    except httpx.HTTPError:
        return False


def _settings() -> dict[str, str]:
    return {
        "quarkus.http.host": "127.0.0.1",
        "quarkus.http.port": str(PORT),
        "quarkus.management.host": "127.0.0.1",
        "quarkus.management.port": str(MANAGEMENT_PORT),
        # Schemas live in a Kafka topic (like Confluent's _schemas), so they survive restarts.
        "apicurio.storage.kind": "kafkasql",
        "apicurio.kafkasql.bootstrap.servers": os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or broker.bootstrap_servers(1),
        "apicurio.rules.global.compatibility": GLOBAL_COMPATIBILITY,
    }


def start() -> float:
    """Start the registry unless it runs; returns the seconds it took to become ready."""
    if procs.running_pid(NAME):
        return 0.0
    java = find_java(21, "The schema registry (Apicurio Registry 3)", "REGISTRY_JAVA_HOME")
    procs.require_free_ports("the schema registry", PORT, MANAGEMENT_PORT)
    _, home = registry_home()
    workdir = STATE / "registry"
    workdir.mkdir(parents=True, exist_ok=True)
    properties = [f"-D{key}={value}" for key, value in _settings().items()]
    pid = procs.start(
        NAME,
        [str(java), *HEAP.split(), *properties, "-jar", str(home / "quarkus-run.jar")],
        cwd=workdir,
    )
    return procs.wait_until(healthy, NAME, "the schema registry", 180, pid)
