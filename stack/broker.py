"""The Kafka brokers: one KRaft node (broker and controller) on loopback, or three in one quorum."""

from __future__ import annotations

import base64
import logging
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from string import Template

from confluent_kafka.admin import AdminClient

from stack import procs, security
from stack.errors import StackError
from stack.fetch import kafka_libs
from stack.java import find_java
from stack.paths import REPO, STATE

__all__ = ["SILENT", "Node", "bootstrap_servers", "format_arguments", "nodes"]

HEAP = os.environ.get("KAFKA_HEAP_OPTS", "-Xms256m -Xmx1g")
# The first node's client port (its controller port is the next one, node 2's client port the one after): another
# stack beside the shared one, as a test makes, runs its broker elsewhere.
BASE_PORT = int(os.environ.get("STACK_KAFKA_PORT") or 9092)
TEMPLATES = REPO / "stack" / "conf" / "kafka"

# librdkafka would log every refused connection while we poll for readiness.
SILENT = logging.getLogger("stack.kafka.probe")
SILENT.addHandler(logging.NullHandler())
SILENT.propagate = False


@dataclass(frozen=True)
class Node:
    """One broker+controller. Three nodes share a cluster id and a voter list, and replicate everything
    three times with min.insync.replicas 2; their state is kept apart from the single node's."""

    id: int
    count: int  # nodes in the cluster: 1 or 3

    @property
    def name(self) -> str:
        return "kafka" if self.count == 1 else f"kafka-{self.id}"

    @property
    def port(self) -> int:
        return BASE_PORT + 2 * (self.id - 1)

    @property
    def controller_port(self) -> int:
        return self.port + 1

    @property
    def home(self) -> Path:
        return STATE / "kafka" if self.count == 1 else STATE / "kafka-cluster" / f"node-{self.id}"

    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def healthy(self, timeout: float = 2.0) -> bool:
        """The node answers the admin's metadata request."""
        admin = AdminClient({**security.client_config(security.ADMIN, self.address()), "logger": SILENT})
        try:
            admin.list_topics(timeout=timeout)
        except Exception:  # any failure means not (yet) healthy
            return False
        return True

    def _config(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        text = Template((TEMPLATES / "server.properties").read_text()).substitute(
            port=self.port, controller_port=self.controller_port, data_dir=self.home / "data",
            client_protocol=security.protocol(), admin_password=security.password(security.ADMIN),
            controller_password=security.password(security.CONTROLLER),
        )
        if security.TLS:
            security.make_certificates()
            text += (
                "\n# TLS on the client listener (STACK_TLS=0 turns it off), with the local CA's certificate.\n"
                f"listener.name.client.ssl.keystore.type=PEM\nlistener.name.client.ssl.keystore.location={security.keystore_file()}\n"
                f"listener.name.client.ssl.truststore.type=PEM\nlistener.name.client.ssl.truststore.location={security.ca_file()}\n"
            )
        if self.count > 1:  # later lines win in a properties file
            voters = ",".join(f"{n.id}@127.0.0.1:{n.controller_port}" for n in nodes(self.count))
            text += (
                f"\n# One of {self.count} nodes in one quorum.\nnode.id={self.id}\ncontroller.quorum.voters={voters}\n"
                "offsets.topic.replication.factor=3\ntransaction.state.log.replication.factor=3\n"
                "transaction.state.log.min.isr=2\nshare.coordinator.state.topic.replication.factor=3\n"
                "share.coordinator.state.topic.min.isr=2\ndefault.replication.factor=3\nmin.insync.replicas=2\n"
                # A dead node's partitions get new leaders after 3 s rather than the default 9 s.
                "broker.session.timeout.ms=3000\nbroker.heartbeat.interval.ms=1000\n"
            )
        path = self.home / "server.properties"
        path.write_text(text)
        return path

    def _format_once(self, java: Path, classpath: str, config: Path) -> None:
        """Format the storage the first time, with the SCRAM credentials the brokers and the registry need before
        provisioning can make the others; later starts reuse the data (it survives restarts)."""
        secured = self.home / "data" / "secured"  # a storage formatted before the stack had principals lacks them
        if (self.home / "data" / "meta.properties").exists() and not secured.exists():
            print(f"{self.name}: its storage predates the stack's principals: formatting it anew (topics and schemas"
                  " are provisioned again)")
            shutil.rmtree(self.home / "data")
        if (self.home / "data" / "meta.properties").exists():
            return
        # The SCRAM passwords go in a file of the launcher's (@file, 0600), never on a command line `ps` shows.
        arguments = self.home / "format.args"
        arguments.touch(mode=0o600)
        arguments.write_text(format_arguments(classpath, _cluster_id(self.count), config))
        try:
            result = subprocess.run([str(java), f"@{arguments}"], capture_output=True, text=True, timeout=120)
        finally:
            arguments.unlink()
        if result.returncode != 0:
            procs.log_file(self.name).parent.mkdir(parents=True, exist_ok=True)
            procs.log_file(self.name).write_text(result.stdout + result.stderr)
            raise StackError(f"formatting Kafka's storage failed; see {procs.log_file(self.name)}")
        secured.touch()

    def launch(self) -> int | None:
        """Start the node unless it runs; its pid, or None when it was running already."""
        if procs.running_pid(self.name):
            return None
        java = find_java(17, "Kafka", "KAFKA_JAVA_HOME")
        procs.require_free_ports("Kafka", self.port, self.controller_port)
        _, libs = kafka_libs()
        classpath = f"{libs}/*"
        config = self._config()
        self._format_once(java, classpath, config)
        return procs.start(
            self.name,
            [str(java), *HEAP.split(), "-XX:+UseG1GC", "-Djava.awt.headless=true", *_log_config(),
             "-cp", classpath, "kafka.Kafka", str(config)],
        )

    def start(self) -> float:
        """Start the node unless it runs; returns the seconds it took to become ready."""
        pid = self.launch()
        if pid is None:
            return 0.0
        return procs.wait_until(self.healthy, self.name, "the Kafka broker", 90, pid)


def format_arguments(classpath: str, cluster_id: str, config: Path) -> str:
    """The storage tool's arguments, as a Java launcher's argument file: the SCRAM users the brokers and the registry
    need before provisioning can make the others, with their passwords."""
    scram = [arg for principal in (security.ADMIN, security.REGISTRY) for arg in
             ("--add-scram", f"{security.MECHANISM}=[name={principal},password={security.password(principal)}]")]
    argv = ["-cp", classpath, *_log_config(), "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config),
            *scram]
    return "\n".join(f'"{arg}"' for arg in argv) + "\n"


def nodes(count: int) -> list[Node]:
    return [Node(i, count) for i in range(1, count + 1)]


def bootstrap_servers(count: int) -> str:
    return ",".join(node.address() for node in nodes(count))


def _cluster_id(count: int) -> str:
    """One id for every node of a cluster, made once and kept with its state.

    Never one that starts with "-", as Kafka's own Uuid.randomUuid ensures: the storage tool would read it as an
    option (one id in 64 did, and failed a fresh `make up`). A stored one that does could never have formatted
    anything, so it is replaced."""
    path = (STATE / "kafka" if count == 1 else STATE / "kafka-cluster") / "cluster.id"
    if not path.exists() or path.read_text().startswith("-"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_new_cluster_id())
    return path.read_text().strip()


def _new_cluster_id() -> str:
    while (made := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
        pass
    return made


def _log_config() -> list[str]:
    return [f"-Dlog4j2.configurationFile={TEMPLATES / 'log4j2.properties'}"]
