"""The Kafka broker: one KRaft node (broker and controller) on loopback."""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import uuid
from pathlib import Path
from string import Template

from confluent_kafka.admin import AdminClient

from stack import procs
from stack.errors import StackError
from stack.fetch import kafka_libs
from stack.java import find_java
from stack.paths import REPO, STATE

__all__ = ["NAME", "PORT", "address", "healthy", "start"]

NAME = "kafka"
PORT = 9092
CONTROLLER_PORT = 9093
HEAP = os.environ.get("KAFKA_HEAP_OPTS", "-Xms256m -Xmx1g")
DATA = STATE / "kafka"
TEMPLATES = REPO / "stack" / "conf" / "kafka"

# librdkafka would log every refused connection while we poll for readiness.
_SILENT = logging.getLogger("stack.kafka.probe")
_SILENT.addHandler(logging.NullHandler())
_SILENT.propagate = False


def address() -> str:
    return f"127.0.0.1:{PORT}"


def healthy(timeout: float = 2.0) -> bool:
    """The broker answers a metadata request."""
    admin = AdminClient({"bootstrap.servers": address(), "logger": _SILENT})
    try:
        admin.list_topics(timeout=timeout)
    except Exception:  # any failure means not (yet) healthy
        return False
    return True


def _config() -> Path:
    DATA.mkdir(parents=True, exist_ok=True)
    text = Template((TEMPLATES / "server.properties").read_text()).substitute(
        port=PORT, controller_port=CONTROLLER_PORT, data_dir=DATA / "data"
    )
    path = DATA / "server.properties"
    path.write_text(text)
    return path


def _format_once(java: Path, classpath: str, config: Path) -> None:
    """Format the storage the first time; later starts reuse the data (it survives restarts)."""
    if (DATA / "data" / "meta.properties").exists():
        return
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    result = subprocess.run(
        [str(java), "-cp", classpath, *_log_config(), "kafka.tools.StorageTool", "format",
         "-t", cluster_id, "-c", str(config)],
        capture_output=True, text=True, timeout=120,
    )
    if result.returncode != 0:
        procs.log_file(NAME).parent.mkdir(parents=True, exist_ok=True)
        procs.log_file(NAME).write_text(result.stdout + result.stderr)
        raise StackError(f"formatting Kafka's storage failed; see {procs.log_file(NAME)}")


def _log_config() -> list[str]:
    return [f"-Dlog4j2.configurationFile={TEMPLATES / 'log4j2.properties'}"]


def start() -> float:
    """Start the broker unless it runs; returns the seconds it took to become ready."""
    if procs.running_pid(NAME):
        return 0.0
    java = find_java(17, "Kafka", "KAFKA_JAVA_HOME")
    procs.require_free_ports("Kafka", PORT, CONTROLLER_PORT)
    _, libs = kafka_libs()
    classpath = f"{libs}/*"
    config = _config()
    _format_once(java, classpath, config)
    pid = procs.start(
        NAME,
        [str(java), *HEAP.split(), "-XX:+UseG1GC", "-Djava.awt.headless=true", *_log_config(),
         "-cp", classpath, "kafka.Kafka", str(config)],
    )
    return procs.wait_until(healthy, NAME, "the Kafka broker", 90, pid)
