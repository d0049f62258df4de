"""The AsyncAPI 3 document of the platform, written from the manifest and the published schema versions.

Each published version of a value schema is a message of its own: a topic keeps records of every
version for its retention (forever on some), and each record names its version by the schema id it
carries, so a reader of the document can meet any of them. A producer's `send` lists the newest
version, the one it writes; a consumer's `receive` lists them all. Dead-letter topics are channels
too, with what they really hold: the original bytes, untouched, and headers saying why.

Each channel of a topic carries the specification extension `x-partitioning`: how a record's key picks its partition
(the manifest's partitioner, or for a changelog its source's partition), the partition count, and the co-partitioned
group it belongs to with the group's other topics. AsyncAPI's Kafka bindings say how many partitions a topic has but
not how keys are spread over them, which every producer must agree on for the consumers that keep state per partition.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from contracts.headers import DEAD_LETTER as LETTER
from contracts.headers import FORWARDED, REQUEST_ID, TRACE_CONTEXT, Header
from contracts.manifest import Manifest, SchemaVersion, Subject, Topic
from contracts.partitioning import CHANGELOG, PARTITIONERS

if TYPE_CHECKING:  # only its type: provisioning's override of the replication is applied the same way here
    from contracts.provision import Durability

__all__ = ["AVRO", "document"]

ASYNCAPI = "3.1.0"
AVRO = "application/vnd.apache.avro+json;version=1.9.0"
KAFKA = "0.5.0"  # the version of AsyncAPI's Kafka bindings used throughout
DEAD_LETTER = "dead_letter"


def document(manifest: Manifest, bootstrap_servers: str, registry_url: str,
             durability: Durability | None = None, security_protocol: str = "PLAINTEXT") -> dict[str, Any]:
    """The AsyncAPI 3 document: a server per bootstrap address (with its security: `security_protocol` as in
    KAFKA_SECURITY_PROTOCOL), a channel per topic and dead-letter topic, a message per published value version, and
    each service's operations with their consumer groups."""
    body = {
        "channels": {name: channel for topic in manifest.topics for name, channel in _channels(topic, manifest, durability)},
        "operations": {name: op for topic in manifest.topics for name, op in _operations(topic, manifest)},
        "components": {
            "schemas": {_id(version, subject): _avro(version) for subject in _families(manifest) for version in subject.versions},
            "messages": {**{_id(v, topic.value): _message(topic, v) for topic in manifest.topics for v in topic.value.versions},
                         DEAD_LETTER: _dead_letter()},
            "correlationIds": {"request_id": {
                "description": "The request_id a request carries and its reply repeats.",
                "location": "$message.payload#/request_id",
            }},
        },
    }
    # Two documents with the same version describe the same contracts, whichever addresses serve them.
    fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    return {
        "asyncapi": ASYNCAPI,
        "info": {
            "title": "Accounting events",
            "version": fingerprint,
            "description": "Three services that talk only through Kafka, every record an Avro record registered in the "
            "schema registry. Written by `contracts asyncapi` from contracts/topics.toml and contracts/schemas/; its "
            "version is a fingerprint of the channels, operations and components. Each published version of a value "
            "schema is a message: a topic holds records of every version, and each record names its own.",
        },
        "defaultContentType": "avro/binary",
        "servers": _servers(bootstrap_servers, registry_url, security_protocol),
        **body,
        "components": {**body["components"], **_security_schemes(security_protocol)},
    }


def _servers(bootstrap_servers: str, registry_url: str, security_protocol: str) -> dict[str, Any]:
    hosts = [host.strip() for host in bootstrap_servers.split(",") if host.strip()]
    security = {"security": [{"$ref": "#/components/securitySchemes/scram"}]} if security_protocol.startswith("SASL") else {}
    return {
        ("kafka" if len(hosts) == 1 else f"kafka-{number}"): {
            "host": host,
            "protocol": "kafka-secure" if security_protocol.endswith("SSL") else "kafka",
            **security,
            "description": "A bootstrap address of the Kafka cluster. The registry speaks Confluent's Schema Registry "
            "API (Apicurio Registry's ccompat API on the local stack, Confluent's own in containers), and every "
            "client uses Confluent's serializers' wire format.",
            "bindings": {"kafka": {"schemaRegistryUrl": registry_url, "schemaRegistryVendor": "confluent",
                                   "bindingVersion": KAFKA}},
        }
        for number, host in enumerate(hosts, start=1)
    }


def _security_schemes(security_protocol: str) -> dict[str, Any]:
    if not security_protocol.startswith("SASL"):
        return {}
    return {"securitySchemes": {"scram": {
        "type": "scramSha512",
        "description": "SASL/SCRAM-SHA-512: each service connects as its own principal and may use only the topics, "
                       "groups and transactional ids its operations here name (ACLs derived from the manifest).",
    }}}


def _families(manifest: Manifest) -> list[Subject[object]]:
    """Every key and value subject, once per schema family (one key family serves several topics)."""
    return list({subject.family: subject for subject in manifest.subjects}.values())


def _id(version: SchemaVersion, subject: Subject[object]) -> str:
    return f"{subject.family}.v{version.version}"


def _ref(*path: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(path)}


def _in_channel(topic: Topic[object, object], versions: tuple[SchemaVersion, ...]) -> list[dict[str, str]]:
    """These versions of the topic's values, as its channel's messages (an operation may name no others)."""
    return [_ref("channels", topic.name, "messages", _id(version, topic.value)) for version in versions]


def _avro(version: SchemaVersion) -> dict[str, Any]:
    return {"schemaFormat": AVRO, "schema": version.schema}


def _message(topic: Topic[object, object], version: SchemaVersion) -> dict[str, Any]:
    schema = version.schema
    message = {
        "name": f"{schema['namespace']}.{schema['name']}" if "namespace" in schema else schema["name"],
        "title": f"{topic.value.family} v{version.version}",
        "summary": schema.get("doc", ""),
        "description": f"Registered as subject {topic.value.name} version {version.version} "
        f"(contracts/schemas/{topic.value.family}/v{version.version}.avsc). Key and value are each in Confluent's "
        "wire format: byte 0, the schema id in 4 bytes (big-endian), then the Avro binary encoding.",
        "payload": _ref("components", "schemas", _id(version, topic.value)),
        "bindings": {"kafka": {
            # A new key version would change the key's bytes, and so the partition a user's records land on:
            # keys keep their first version in practice, and the newest is the one named.
            "key": _ref("components", "schemas", _id(topic.key.latest, topic.key)),
            "schemaIdLocation": "payload",
            "schemaIdPayloadEncoding": "confluent",
            "schemaLookupStrategy": "TopicNameStrategy",
            "bindingVersion": KAFKA,
        }},
    }
    headers = [*TRACE_CONTEXT.WRITTEN, *FORWARDED.WRITTEN, FORWARDED.CLIENT_ID, LETTER.REPLAYED_FROM]
    if any(field["name"] == "request_id" for field in schema.get("fields", [])):
        message["correlationId"] = _ref("components", "correlationIds", "request_id")
        headers.insert(0, REQUEST_ID)
    message["headers"] = {"type": "object", "properties": _headers(headers),
                          "description": "Headers the platform may write; a record from another producer may carry others."}
    return message


def _headers(headers: list[Header]) -> dict[str, Any]:
    return {header.name: {"type": "string", "description": header.description, **header.schema} for header in headers}


def _dead_letter() -> dict[str, Any]:
    raw = "untouched: never decoded, so any bytes (perhaps not Avro, not framed, or null, which may be why it is here)"
    return {
        "name": DEAD_LETTER,
        "title": "A record set aside",
        "summary": "A record a consumer could not handle, kept as it was read, with headers saying why.",
        "contentType": "application/octet-stream",
        "headers": {"type": "object", "required": [h.name for h in LETTER.WRITTEN],
                    "properties": _headers([*LETTER.WRITTEN, LETTER.OMITTED, *TRACE_CONTEXT.WRITTEN]),
                    "additionalProperties": {"description": "The original record's own headers, carried after these."}},
        "payload": {"type": ["string", "null"], "format": "binary", "description": f"The original value, {raw}."},
        "bindings": {"kafka": {"key": {"type": ["string", "null"], "format": "binary",
                                       "description": f"The original key, {raw}."},
                               "bindingVersion": KAFKA}},
    }


def _channels(
    topic: Topic[object, object], manifest: Manifest, durability: Durability | None,
) -> list[tuple[str, dict[str, Any]]]:
    flow = f"Written by {topic.producer}, read by {', '.join(topic.consumers)}."
    if topic.changelog_of:
        flow += f" The changelog of {topic.changelog_of}: partition p holds the state of its partition p."
    if topic.reply_topic:
        flow += f" Answered on {topic.reply_topic}."
    channels = [(topic.name, {
        "address": topic.name,
        "title": topic.name,
        "summary": topic.why,
        "description": f"{flow} Compatibility {topic.compatibility} for {topic.key.name} and {topic.value.name}.",
        "messages": {_id(v, topic.value): _ref("components", "messages", _id(v, topic.value)) for v in topic.value.versions},
        "bindings": {"kafka": _topic_binding(topic.name, topic.partitions, topic.replication_factor, topic.config, durability)},
        "x-partitioning": _partitioning(topic, manifest),
    })]
    if topic.dead_letter_topic:
        dead = manifest.dead_letters
        channels.append((topic.dead_letter_topic, {
            "address": topic.dead_letter_topic,
            "title": topic.dead_letter_topic,
            "summary": f"Records of {topic.name} that a consumer could not handle, set aside with the reason.",
            "description": "Raw bytes, no contract: whatever was read, untouched. `dead-letters list` shows them, "
            f"`dead-letters replay` sends chosen ones back to {topic.name}.",
            "messages": {DEAD_LETTER: _ref("components", "messages", DEAD_LETTER)},
            "bindings": {"kafka": _topic_binding(topic.dead_letter_topic, dead.partitions, dead.replication_factor,
                                                 dead.config, durability)},
        }))
    return channels


def _partitioning(topic: Topic[object, object], manifest: Manifest) -> dict[str, Any]:
    """How the topic's records are spread over its partitions, and which topics share that placement."""
    if topic.partitioner == CHANGELOG:
        placed = {"partitioner": CHANGELOG,
                  "description": f"An entry goes to the partition of {topic.changelog_of} whose state it holds."}
    else:
        placed = {"partitioner": topic.partitioner, "description": PARTITIONERS[topic.partitioner]}
    group = manifest.co_partition_of(topic.name)
    together = {} if group is None else {"coPartitionedGroup": group.name, "coPartitionedWith": [
        name for name in group.topics if name != topic.name], "why": group.why}
    forwarded = manifest.forwarders(topic)
    if forwarded:
        together["forwardedBy"] = forwarded
    return {**placed, "partitions": topic.partitions, **together}


def _topic_binding(name: str, partitions: int, replication: int, config: dict[str, str],
                   durability: Durability | None) -> dict[str, Any]:
    if durability is not None:
        replication, config = durability.apply(replication, config)
    return {"topic": name, "partitions": partitions, "replicas": replication,
            "topicConfiguration": {key: _config_value(key, value) for key, value in config.items()},
            "bindingVersion": KAFKA}


def _config_value(key: str, value: str) -> Any:
    """Kafka takes every topic setting as a string; the binding wants numbers as numbers and the cleanup policy
    as a list."""
    if key == "cleanup.policy":
        return [policy.strip() for policy in value.split(",")]
    try:
        return int(value)
    except ValueError:
        return value


def _operations(topic: Topic[object, object], manifest: Manifest) -> list[tuple[str, dict[str, Any]]]:
    """The producer's `send`, each consumer's `receive`, and each consumer's `send` of what it sets aside."""
    versions = topic.value.versions
    reply = next((t for t in manifest.topics if t.name == topic.reply_topic), None)
    sent = _operation(topic.producer, "send", topic.name, _in_channel(topic, versions[-1:]),
                      f"{topic.producer} writes {topic.value.family} records: the newest version, unless "
                      "CONTRACT_VERSIONS pins an older one.")
    if reply is not None:  # the asker may hear any version of the answer
        sent["reply"] = {"channel": _ref("channels", reply.name), "messages": _in_channel(reply, reply.value.versions)}
    operations = [(f"{topic.producer}.send.{topic.name}", sent)]
    for consumer in topic.consumers:
        if topic.changelog_of:
            received = _operation(consumer, "receive", topic.name, _in_channel(topic, versions), f"{consumer} restores "
                                  "its partition stores from it on assignment, reading the partitions it was given outside "
                                  "any consumer group.")
        else:
            received = _operation(consumer, "receive", topic.name, _in_channel(topic, versions),
                                  f"{consumer} reads every version of {topic.value.family}.")
            if group := manifest.consumer_groups.get(consumer):
                received["bindings"] = {"kafka": {"groupId": {
                    "type": "string", "enum": [group],
                    "description": "The group it joins by default (contracts/topics.toml); its settings may name another.",
                }, "bindingVersion": KAFKA}}
        if reply is not None:  # the answerer writes the version it is built against
            received["reply"] = {"channel": _ref("channels", reply.name),
                                 "messages": _in_channel(reply, reply.value.versions[-1:])}
        operations.append((f"{consumer}.receive.{topic.name}", received))
        if consumer in manifest.forwarders(topic):
            operations.append((f"{consumer}.forward.{topic.name}", _operation(
                consumer, "send", topic.name, _in_channel(topic, versions), f"{consumer} writes a record of {topic.name} it"
                " finds on another partition than its key's, untouched, to that partition (with forwarded.* headers).")))
        if topic.dead_letter_topic:
            operations.append((f"{consumer}.send.{topic.dead_letter_topic}", _operation(
                consumer, "send", topic.dead_letter_topic, [_ref("channels", topic.dead_letter_topic, "messages", DEAD_LETTER)],
                f"{consumer} sets aside a record of {topic.name} it cannot handle.")))
    return operations


def _operation(service: str, action: str, channel: str, messages: list[dict[str, str]], summary: str) -> dict[str, Any]:
    """An operation of one service, tagged with its name: one document describes every service."""
    return {"action": action, "channel": _ref("channels", channel), "summary": summary, "messages": messages,
            "tags": [{"name": service}]}
