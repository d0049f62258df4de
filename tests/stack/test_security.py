"""The broker knows who each client is and lets it do only what the manifest gives its principal (contracts.acls)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from contracts.env import credentials_dir, kafka_client, principal_env
from contracts.manifest import load_manifest
from contracts.records import CALCULATE_SCORE, GENERATE_INVOICE, INVOICE_DECISIONS_CHANGELOG, INVOICE_GENERATED

MANIFEST = load_manifest()
ROOT = Path(__file__).resolve().parents[2]


def client(principal: str, **extra: Any) -> dict[str, Any]:
    """librdkafka settings for `principal`, from its credentials file (the one place they are kept)."""
    return {**kafka_client(principal_env(principal)), **extra}


def produce_as(principal: str, topic: str) -> KafkaError | None:
    """The error the broker gives `principal` writing one record to `topic`; None when it is written."""
    outcome: list[KafkaError | None] = []
    producer = Producer(client(principal, **{"message.timeout.ms": 10000}))
    producer.produce(topic, b"not for you", on_delivery=lambda error, _: outcome.append(error))
    producer.flush(15)
    return outcome[0] if outcome else KafkaError(KafkaError._MSG_TIMED_OUT)


def consume_as(principal: str, topic: str, group: str) -> KafkaError | None:
    """The first error `principal` gets reading `topic` in `group`; None when it reads (or waits) without one."""
    consumer = Consumer(client(principal, **{"group.id": group, "auto.offset.reset": "earliest"}))
    consumer.subscribe([topic])
    try:
        for _ in range(20):
            message = consumer.poll(0.5)
            if message is not None and message.error() and message.error().code() != KafkaError._PARTITION_EOF:
                return message.error()
            if message is not None and not message.error():
                return None
        return None
    finally:
        consumer.close()


@pytest.fixture(scope="module", autouse=True)
def secured() -> Iterator[None]:
    if not (credentials_dir() / "admin.env").exists():
        pytest.fail(f"no credentials in {credentials_dir()}: the stack's principals are missing (`make up` writes them)")
    yield


def test_each_principal_writes_only_the_topics_its_service_produces() -> None:
    assert produce_as("dashboard", MANIFEST.topic(GENERATE_INVOICE).name) is None
    refused = produce_as("dashboard", MANIFEST.topic(INVOICE_GENERATED).name)
    assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    refused = produce_as("invoice", MANIFEST.topic(CALCULATE_SCORE).name)
    assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_each_principal_reads_only_what_its_service_consumes_in_its_own_groups() -> None:
    requests = MANIFEST.topic(GENERATE_INVOICE).name
    decisions = MANIFEST.topic(INVOICE_DECISIONS_CHANGELOG).name  # the dashboard may describe it (lag), not read it
    refused = consume_as("dashboard", decisions, f"dashboard-{uuid.uuid4().hex[:6]}")  # its group, not its topic
    assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    refused = consume_as("score", MANIFEST.topic(INVOICE_GENERATED).name, f"dashboard-{uuid.uuid4().hex[:6]}")
    assert refused is not None and refused.code() == KafkaError.GROUP_AUTHORIZATION_FAILED  # its topic, not its group
    assert consume_as("invoice", requests, f"{MANIFEST.consumer_groups['invoice']}-test-{uuid.uuid4().hex[:6]}") is None


def test_only_a_worker_of_the_service_may_use_its_transactional_ids() -> None:
    stolen = f"{MANIFEST.consumer_groups['invoice']}/somebody-else"
    producer = Producer(client("dashboard", **{"transactional.id": stolen, "log_level": 0}))
    with pytest.raises(KafkaException) as refused:
        producer.init_transactions(15)
    assert refused.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    Producer(client("invoice", **{"transactional.id": f"{MANIFEST.consumer_groups['invoice']}/test"})).init_transactions(15)


def test_a_client_without_credentials_or_with_a_wrong_password_is_turned_away() -> None:
    env = principal_env("admin")
    anonymous = AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"], "security.protocol": "PLAINTEXT",
                             "log_level": 0})
    with pytest.raises(KafkaException):
        anonymous.list_topics(timeout=5)
    errors: list[KafkaError] = []
    impostor = AdminClient(client("invoice", **{"sasl.password": "guessed", "error_cb": errors.append, "log_level": 0}))
    with pytest.raises(KafkaException):
        impostor.list_topics(timeout=5)
    impostor.poll(1)  # error callbacks are served by poll
    assert any(error.code() == KafkaError._AUTHENTICATION for error in errors), errors


def test_with_tls_a_client_that_does_not_trust_the_local_ca_is_turned_away() -> None:
    env = principal_env("admin")
    if env["KAFKA_SECURITY_PROTOCOL"] != "SASL_SSL":
        pytest.fail("the stack under test runs without TLS; `make up` runs it with TLS unless STACK_TLS=0")
    errors: list[KafkaError] = []
    untrusting = AdminClient({**{k: v for k, v in client("admin").items() if k != "ssl.ca.location"},
                              "error_cb": errors.append, "log_level": 0})
    with pytest.raises(KafkaException):
        untrusting.list_topics(timeout=5)
    untrusting.poll(1)
    assert any(error.code() == KafkaError._SSL for error in errors), errors


def test_a_stack_started_with_stack_tls_0_speaks_scram_without_tls(tmp_path: Path) -> None:
    """The other setting of the switch, on a broker of its own beside the shared one."""
    env = {**os.environ, "STACK_STATE": str(tmp_path / "state"), "STACK_KAFKA_PORT": "19192", "STACK_TLS": "0",
           "CREDENTIALS_DIR": str(tmp_path / "credentials")}
    script = ("from stack import broker, security\n"
              "node = broker.nodes(1)[0]\n"
              "node.start()\n"
              "security.write_credentials(node.address(), 'http://127.0.0.1:1')\n")
    try:
        subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, check=True, timeout=120)
        admin_env = (tmp_path / "credentials" / "admin.env").read_text()
        assert "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT" in admin_env and "KAFKA_SSL_CA_LOCATION" not in admin_env
        settings = dict(line.split("=", 1) for line in admin_env.splitlines())
        admin = AdminClient({"bootstrap.servers": settings["KAFKA_BOOTSTRAP_SERVERS"], "security.protocol": "SASL_PLAINTEXT",
                             "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "admin",
                             "sasl.password": settings["KAFKA_SASL_PASSWORD"]})
        assert admin.list_topics(timeout=10).brokers
        anonymous = AdminClient({"bootstrap.servers": settings["KAFKA_BOOTSTRAP_SERVERS"], "log_level": 0})
        with pytest.raises(KafkaException):
            anonymous.list_topics(timeout=5)
    finally:
        subprocess.run([sys.executable, "-c", "from stack import procs; procs.stop('kafka', timeout=60)"], env=env,
                       cwd=ROOT, check=False, timeout=90)


def test_only_the_admin_may_write_to_the_registry_while_anyone_may_read() -> None:
    settings = principal_env("admin")
    registry = settings["SCHEMA_REGISTRY_URL"]
    http = httpx.Client(verify=settings.get("SCHEMA_REGISTRY_SSL_CA_LOCATION") or True, timeout=10)
    subject = f"security-test-{uuid.uuid4().hex[:8]}-value"
    schema = {"schema": '{"type": "string"}', "schemaType": "AVRO"}
    anonymous = http.post(f"{registry}/subjects/{subject}/versions", json=schema)
    assert anonymous.status_code == 401
    service = tuple(principal_env("invoice")["SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"].split(":", 1))
    as_service = http.post(f"{registry}/subjects/{subject}/versions", json=schema, auth=service)
    assert as_service.status_code == 403
    level = http.put(f"{registry}/config/generate-invoice-value", json={"compatibility": "NONE"}, auth=service)
    assert level.status_code == 403
    assert http.get(f"{registry}/subjects").status_code == 200  # reading needs no password
    assert http.get(f"{registry}/subjects", auth=service).status_code == 200


def test_the_registry_speaks_only_tls_with_the_stacks_certificate() -> None:
    """The services' passwords cross the registry's port in every request (basic auth): never in clear."""
    settings = principal_env("admin")
    registry = urlsplit(settings["SCHEMA_REGISTRY_URL"])
    assert registry.scheme == "https"
    plain = f"http://{registry.netloc}{registry.path}/subjects"
    with pytest.raises(httpx.HTTPError):  # the TLS listener does not speak HTTP
        httpx.get(plain, timeout=5)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):  # not a certificate the system trusts
        httpx.get(settings["SCHEMA_REGISTRY_URL"] + "/subjects", timeout=5, verify=True)
    trusted = httpx.get(settings["SCHEMA_REGISTRY_URL"] + "/subjects", timeout=5,
                        verify=settings["SCHEMA_REGISTRY_SSL_CA_LOCATION"])
    assert trusted.status_code == 200
