"""The schema registry: Apicurio Registry 3, used only through its Confluent-compatible API."""

from __future__ import annotations

import hashlib
import os

import httpx
from confluent_kafka import ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient

from stack import broker, procs, security
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
    """The Confluent-compatible API: over TLS with the stack's CA unless STACK_TLS=0."""
    return f"{'https' if security.TLS else 'http'}://127.0.0.1:{PORT}/apis/ccompat/v7"


def healthy(timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{MANAGEMENT_PORT}/health/ready", timeout=timeout).is_success
    except httpx.HTTPError:
        return False


def _settings() -> dict[str, str]:
    storage = security.registry_storage()
    return {
        "quarkus.http.host": "127.0.0.1",
        **_listener(),
        "quarkus.management.host": "127.0.0.1",
        "quarkus.management.port": str(MANAGEMENT_PORT),
        # Schemas live in a Kafka topic (like Confluent's _schemas), so they survive restarts.
        "apicurio.storage.kind": "kafkasql",
        "apicurio.kafkasql.bootstrap.servers": os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or broker.bootstrap_servers(1),
        "apicurio.rules.global.compatibility": GLOBAL_COMPATIBILITY,
        # Its journal is read as the `registry` principal, which may touch only its own topics and groups.
        "apicurio.kafkasql.consumer.group-prefix": storage.group_prefix,
        # Its groups are new at every start: a stopped registry's should empty soon, to be deleted at the next start.
        "apicurio.kafkasql.consumer.session.timeout.ms": "6000",
        "apicurio.kafkasql.consumer.heartbeat.interval.ms": "2000",
        "apicurio.kafkasql.topic": f"{storage.topic_prefix}journal",
        "apicurio.kafkasql.snapshots.topic": f"{storage.topic_prefix}snapshots",
        "apicurio.events.kafka.topic": f"{storage.topic_prefix}events",
        **{f"apicurio.kafka.common.{key}": value for key, value in security.java_client(security.REGISTRY).items()},
        # Only provisioning writes schemas: HTTP basic auth with roles, the users embedded here (no other server).
        # Anyone may read (a schema is no secret, and Confluent's serializers in other tools need no password);
        # writing, changing a level and the admin API need sr-admin, which only `admin` has; each service is
        # sr-readonly under its own principal's name and password.
        "quarkus.http.auth.basic": "true",
        "apicurio.auth.role-based-authorization": "true",
        "apicurio.auth.anonymous-read-access.enabled": "true",
        **_users(),
    }


def _listener() -> dict[str, str]:
    """Where the API listens: HTTPS only, with the certificate the stack's CA signed, unless STACK_TLS=0 (then plain
    HTTP): the services' passwords cross it in every request (basic auth)."""
    if not security.TLS:
        return {"quarkus.http.port": str(PORT)}
    security.make_certificates()
    chain, key = security.registry_certificate()
    return {"quarkus.http.ssl-port": str(PORT), "quarkus.http.insecure-requests": "disabled",
            "quarkus.http.ssl.certificate.files": str(chain), "quarkus.http.ssl.certificate.key-files": str(key)}


def _users() -> dict[str, str]:
    """Quarkus' embedded users: passwords stored as hex(SHA-512("user:Quarkus:password")), the default realm's form."""
    found = {}
    for principal in (security.ADMIN, *security.services()):
        digest = hashlib.sha512(f"{principal}:Quarkus:{security.password(principal)}".encode()).hexdigest()
        found[f"quarkus.security.users.embedded.users.{principal}"] = digest
        found[f"quarkus.security.users.embedded.roles.{principal}"] = "sr-admin" if principal == security.ADMIN else "sr-readonly"
    return found


def forget_old_groups() -> list[str]:
    """Apicurio's kafkasql storage joins a consumer group of a new name (`registry-<uuid>`) at every start to replay its
    journal, and never deletes it: the empty ones earlier starts left behind are deleted (a group whose registry was
    killed empties once its session times out, and goes at a later start). Returns their names."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or broker.bootstrap_servers(1)
    admin = AdminClient({**security.client_config(security.ADMIN, bootstrap), "logger": broker.SILENT})
    try:
        listed = admin.list_consumer_groups(states={ConsumerGroupState.EMPTY}).result(timeout=30)
        prefix = security.registry_storage().group_prefix
        old = [group.group_id for group in listed.valid if group.group_id.startswith(prefix)]
        for future in admin.delete_consumer_groups(old).values() if old else []:
            future.result(timeout=30)
    except KafkaException as error:  # housekeeping: never a reason not to start
        print(f"warning: the registry's old consumer groups were not deleted: {error}")
        return []
    return old


def start() -> float:
    """Start the registry unless it runs; returns the seconds it took to become ready."""
    if procs.running_pid(NAME):
        return 0.0
    java = find_java(21, "The schema registry (Apicurio Registry 3)", "REGISTRY_JAVA_HOME")
    procs.require_free_ports("the schema registry", PORT, MANAGEMENT_PORT)
    _, home = registry_home()
    workdir = STATE / "registry"
    # Quarkus reads config/application.properties in its working folder: the passwords stay out of `ps`.
    config = workdir / "config" / "application.properties"
    config.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    config.touch(mode=0o600)
    config.write_text("".join(f"{key}={value}\n" for key, value in _settings().items()))
    pid = procs.start(NAME, [str(java), *HEAP.split(), "-jar", str(home / "quarkus-run.jar")], cwd=workdir)
    seconds = procs.wait_until(healthy, NAME, "the schema registry", 180, pid)
    forget_old_groups()  # once it is up: the broker knows every group then, and its own are no longer empty
    return seconds
