"""`contracts asyncapi`: the AsyncAPI document written from the manifest and the published schemas. Its
structure, every Avro schema in it (fastavro, since the AsyncAPI parser does not look inside Avro), and the
AsyncAPI project's own parser (tools/asyncapi/validate.mjs, installed by make from the lock file)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import fastavro
import pytest

from contracts import Manifest, Topic
from contracts.asyncapi import AVRO, document
from contracts.headers import TRACE_CONTEXT
from contracts.provision import Durability
from contracts.records import INVOICE_GENERATED

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = ROOT / "tools" / "asyncapi" / "validate.mjs"
BOOTSTRAP = "127.0.0.1:9092"
REGISTRY = "http://127.0.0.1:8081/apis/ccompat/v7"


@pytest.fixture(scope="module")
def described(manifest: Manifest) -> dict[str, Any]:
    return document(manifest, BOOTSTRAP, REGISTRY)


def resolve(described: dict[str, Any], reference: dict[str, str]) -> Any:
    assert set(reference) == {"$ref"} and reference["$ref"].startswith("#/"), reference
    found: Any = described
    for part in reference["$ref"][2:].split("/"):
        found = found[part]
    return found


def names(references: list[dict[str, str]]) -> list[str]:
    return [reference["$ref"].rsplit("/", 1)[-1] for reference in references]


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None or not (VALIDATOR.parent / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail("the AsyncAPI parser is not installed: run `make asyncapi-check` (needs node and npm)")
    return subprocess.run([node, str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=120)


def test_every_topic_and_dead_letter_topic_is_a_channel_with_its_kafka_binding(
        manifest: Manifest, described: dict[str, Any]) -> None:
    dead = manifest.dead_letters
    expected = {t.name: (t.partitions, t.replication_factor, t.config) for t in manifest.topics}
    expected |= {t.dead_letter_topic: (dead.partitions, dead.replication_factor, dead.config)
                 for t in manifest.topics if t.dead_letter_topic}
    assert set(described["channels"]) == set(expected)
    for name, (partitions, replicas, config) in expected.items():
        channel = described["channels"][name]
        binding = channel["bindings"]["kafka"]
        assert channel["address"] == binding["topic"] == name
        assert (binding["partitions"], binding["replicas"]) == (partitions, replicas)
        assert {key: str(value) if not isinstance(value, list) else ",".join(value)
                for key, value in binding["topicConfiguration"].items()} == config
    assert described["channels"]["invoice-generated"]["bindings"]["kafka"]["topicConfiguration"] == {
        "cleanup.policy": ["delete"], "retention.ms": -1}


def test_each_published_value_version_is_a_message_framed_like_confluent_with_the_key_schema(
        manifest: Manifest, described: dict[str, Any]) -> None:
    for topic in manifest.topics:
        channel = described["channels"][topic.name]
        assert list(channel["messages"]) == [f"{topic.value.family}.v{v.version}" for v in topic.value.versions]
        for version, reference in zip(topic.value.versions, channel["messages"].values(), strict=True):
            message = resolve(described, reference)
            assert resolve(described, message["payload"]) == {"schemaFormat": AVRO, "schema": version.schema}
            kafka = message["bindings"]["kafka"]
            assert resolve(described, kafka["key"]) == {"schemaFormat": AVRO, "schema": topic.key.latest.schema}
            assert (kafka["schemaIdLocation"], kafka["schemaIdPayloadEncoding"]) == ("payload", "confluent")
            assert kafka["schemaLookupStrategy"] == "TopicNameStrategy"  # <topic>-key, <topic>-value
            assert topic.value.name in message["description"]
    assert AVRO == "application/vnd.apache.avro+json;version=1.9.0"


def test_every_avro_schema_in_the_document_parses_with_fastavro_and_is_a_published_version(
        manifest: Manifest, described: dict[str, Any]) -> None:
    published = {f"{s.family}.v{v.version}": v.schema for s in manifest.subjects for v in s.versions}
    schemas = described["components"]["schemas"]
    assert schemas.keys() == published.keys()
    for name, entry in schemas.items():
        assert entry["schemaFormat"] == AVRO
        fastavro.parse_schema(entry["schema"])  # raises on anything Avro would refuse
        assert entry["schema"] == published[name]


def test_a_producer_sends_the_newest_version_and_each_consumer_receives_every_version(
        manifest: Manifest, described: dict[str, Any]) -> None:
    operations = described["operations"]
    for topic in manifest.topics:
        every = [f"{topic.value.family}.v{v.version}" for v in topic.value.versions]
        sent = operations[f"{topic.producer}.send.{topic.name}"]
        assert (sent["action"], sent["channel"], sent["tags"]) == (
            "send", {"$ref": f"#/channels/{topic.name}"}, [{"name": topic.producer}])
        assert names(sent["messages"]) == every[-1:]
        for consumer in topic.consumers:
            received = operations[f"{consumer}.receive.{topic.name}"]
            assert (received["action"], received["tags"]) == ("receive", [{"name": consumer}])
            assert names(received["messages"]) == every
    assert names(operations["invoice.send.invoice-generated"]["messages"]) == ["invoice_reply.v2"]


def test_a_consumer_names_its_group_from_the_manifest_and_a_changelog_restore_none(described: dict[str, Any]) -> None:
    groups = {name: op["bindings"]["kafka"]["groupId"]["enum"] for name, op in described["operations"].items()
              if op["action"] == "receive" and "bindings" in op}
    assert groups == {
        "invoice.receive.generate-invoice": ["invoice-generator"],
        "dashboard.receive.invoice-generated": ["dashboard"],
        "score.receive.invoice-generated": ["score-calculator"],
        "score.receive.calculate-score": ["score-calculator"],  # one group for both: co-partitioned state
        "dashboard.receive.score-calculated": ["dashboard"],
    }
    restore = described["operations"]["invoice.receive.invoice-decisions-changelog"]
    assert "bindings" not in restore and "outside any consumer group" in restore["summary"]


def test_requests_are_linked_to_their_replies(manifest: Manifest, described: dict[str, Any]) -> None:
    operations = described["operations"]
    pairs = {t.name: t.reply_topic for t in manifest.topics if t.reply_topic}
    assert pairs == {"generate-invoice": "invoice-generated", "calculate-score": "score-calculated"}
    for request, reply in pairs.items():
        replies = next(t for t in manifest.topics if t.name == reply)
        asker = operations[f"dashboard.send.{request}"]["reply"]
        assert asker["channel"] == {"$ref": f"#/channels/{reply}"}
        assert names(asker["messages"]) == [f"{replies.value.family}.v{v.version}" for v in replies.value.versions]
        answerer = next(op for op in operations.values() if op["action"] == "receive"
                        and op["channel"] == {"$ref": f"#/channels/{request}"})
        assert names(answerer["reply"]["messages"]) == [f"{replies.value.family}.v{replies.value.latest.version}"]
        for message in [*described["channels"][request]["messages"].values(), *described["channels"][reply]["messages"].values()]:
            assert resolve(described, message)["correlationId"] == {"$ref": "#/components/correlationIds/request_id"}
    others = [name for name, op in operations.items() if "reply" in op]
    assert sorted(others) == ["dashboard.send.calculate-score", "dashboard.send.generate-invoice",
                              "invoice.receive.generate-invoice", "score.receive.calculate-score"]


def test_dead_letters_are_raw_bytes_with_the_reasons_in_headers(manifest: Manifest, described: dict[str, Any]) -> None:
    letter = described["components"]["messages"]["dead_letter"]
    assert letter["contentType"] == "application/octet-stream"
    assert letter["payload"]["type"] == ["string", "null"] and "untouched" in letter["payload"]["description"]
    assert letter["bindings"]["kafka"]["key"]["type"] == ["string", "null"]
    assert "schemaIdLocation" not in letter["bindings"]["kafka"]  # nothing promises a schema id
    assert {"dlq.source.topic", "dlq.error.message", "dlq.original.omitted"} <= set(letter["headers"]["properties"])
    topic: Topic = manifest.topic(INVOICE_GENERATED)
    senders = {name for name, op in described["operations"].items()
               if op["channel"] == {"$ref": f"#/channels/{topic.dead_letter_topic}"}}
    assert senders == {f"{consumer}.send.{topic.dead_letter_topic}" for consumer in topic.consumers}


def test_every_message_declares_the_trace_context_headers(described: dict[str, Any]) -> None:
    for name, message in described["components"]["messages"].items():
        headers = message["headers"]["properties"]
        assert {"traceparent", "tracestate"} <= set(headers), name
        assert headers["traceparent"]["pattern"] == TRACE_CONTEXT.PARENT.schema["pattern"], name


def test_the_servers_are_the_bootstrap_addresses_with_the_registry(manifest: Manifest) -> None:
    described = document(manifest, "10.0.0.1:9092, 10.0.0.2:9092", "http://registry:8081")
    assert {name: server["host"] for name, server in described["servers"].items()} == {
        "kafka-1": "10.0.0.1:9092", "kafka-2": "10.0.0.2:9092"}
    for server in described["servers"].values():
        assert server["protocol"] == "kafka"
        assert server["bindings"]["kafka"] == {"schemaRegistryUrl": "http://registry:8081",
                                               "schemaRegistryVendor": "confluent", "bindingVersion": "0.5.0"}


def test_replication_is_overridden_like_provisioning_and_the_version_ignores_the_cluster(
        manifest: Manifest, described: dict[str, Any]) -> None:
    bigger = document(manifest, "elsewhere:9092", REGISTRY, Durability(3, 2))
    for channel in bigger["channels"].values():
        assert channel["bindings"]["kafka"]["replicas"] == 3
        assert channel["bindings"]["kafka"]["topicConfiguration"]["min.insync.replicas"] == 2
    assert document(manifest, "elsewhere:9092", "http://other/")["info"]["version"] == described["info"]["version"]
    assert bigger["info"]["version"] != described["info"]["version"]


def test_the_cli_writes_a_document_the_asyncapi_parser_accepts(tmp_path: Path) -> None:
    out = tmp_path / "asyncapi.json"
    written = subprocess.run([sys.executable, "-m", "contracts", "asyncapi", "-o", str(out)], capture_output=True,
                             text=True, cwd=ROOT, env={"KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP, "SCHEMA_REGISTRY_URL": REGISTRY})
    assert written.returncode == 0, written.stderr
    described = json.loads(out.read_text())
    assert described["asyncapi"] == "3.1.0"
    checked = validate(out)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    counts = (len(described["channels"]), len(described["operations"]), len(described["components"]["messages"]))
    assert f"valid AsyncAPI 3.1.0: {counts[0]} channels, {counts[1]} operations, {counts[2]} messages" in checked.stdout
    assert checked.stdout.count("\n") == 1  # nothing else said: no error, warning, information or hint


def test_the_asyncapi_parser_catches_a_broken_document(tmp_path: Path, described: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(described))
    broken["channels"]["generate-invoice"]["bindings"]["kafka"]["partitions"] = 0
    broken["operations"]["dashboard.send.generate-invoice"]["messages"] = [
        {"$ref": "#/channels/invoice-generated/messages/invoice_reply.v1"}]
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    checked = validate(tmp_path / "broken.json")
    assert checked.returncode == 1
    assert "/channels/generate-invoice/bindings/kafka/partitions" in checked.stdout
    assert "Operation message does not belong to the specified channel" in checked.stdout


def test_the_asyncapi_parser_passes_an_unknown_avro_type_which_fastavro_refuses(
        tmp_path: Path, described: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(described))
    schema = broken["components"]["schemas"]["invoice_reply.v1"]["schema"]
    schema["fields"][0]["type"] = "strin"  # a name no schema defines
    (tmp_path / "unknown-type.json").write_text(json.dumps(broken))
    assert validate(tmp_path / "unknown-type.json").returncode == 0
    with pytest.raises(fastavro.schema.UnknownType):
        fastavro.parse_schema(schema)


def test_a_secured_cluster_is_described_with_its_security_scheme(manifest: Manifest) -> None:
    secured = document(manifest, BOOTSTRAP, REGISTRY, security_protocol="SASL_SSL")
    server = secured["servers"]["kafka"]
    assert server["protocol"] == "kafka-secure"
    assert server["security"] == [{"$ref": "#/components/securitySchemes/scram"}]
    assert secured["components"]["securitySchemes"]["scram"]["type"] == "scramSha512"
    assert secured["info"]["version"] == document(manifest, BOOTSTRAP, REGISTRY)["info"]["version"]
