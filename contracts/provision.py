"""Provisioning: create the manifest's topics and register every version of every subject, idempotently."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from contracts.env import env_int
from contracts.manifest import Manifest, Subject
from contracts.registry import IncompatibleSchema, Registry, same_schema

__all__ = ["Durability", "ProvisioningError", "provision"]

Report = Callable[[str], None]


class ProvisioningError(Exception):
    """The cluster or the registry disagrees with the manifest in a way provisioning must not paper over."""


@dataclass(frozen=True)
class Durability:
    """A cluster-wide override of the manifest's replication (the manifest is written for one broker)."""

    replication_factor: int | None = None
    min_insync_replicas: int | None = None

    @classmethod
    def from_env(cls) -> Durability:
        """TOPIC_REPLICATION_FACTOR and TOPIC_MIN_INSYNC_REPLICAS, e.g. 3 and 2 on three brokers."""
        return cls(env_int("TOPIC_REPLICATION_FACTOR", 0) or None, env_int("TOPIC_MIN_INSYNC_REPLICAS", 0) or None)

    def apply(self, replication: int, config: dict[str, str]) -> tuple[int, dict[str, str]]:
        if self.min_insync_replicas:
            config = {**config, "min.insync.replicas": str(self.min_insync_replicas)}
        return self.replication_factor or replication, config


def provision(
    manifest: Manifest, admin: AdminClient, registry: Registry, report: Report = print,
    durability: Durability = Durability(),
) -> int:
    """Make the broker and the registry match the manifest; returns the number of changes made."""
    dead = manifest.dead_letters
    changes = 0
    for topic in manifest.topics:
        changes += _topic(admin, report, topic.name, topic.partitions, *durability.apply(topic.replication_factor, topic.config))
        if topic.dead_letter_topic:
            changes += _topic(admin, report, topic.dead_letter_topic, dead.partitions,
                              *durability.apply(dead.replication_factor, dead.config))
    changes += sum(_subject(subject, registry, report) for subject in manifest.subjects)
    return changes


def _topic(
    admin: AdminClient, report: Report, name: str, partitions: int, replication: int, config: dict[str, str]
) -> int:
    existing = admin.list_topics(timeout=15).topics.get(name)
    if existing is None:
        _wait(admin.create_topics([NewTopic(name, partitions, replication, config=config)])[name], f"creating topic {name}")
        report(f"created topic {name} ({partitions} partitions, replication factor {replication})")
        return 1
    changes = 0
    replicas = {len(p.replicas) for p in existing.partitions.values()}
    if replicas != {replication}:
        report(f"warning: topic {name} has replication factor {sorted(replicas)}, not {replication};"
               " provisioning does not move replicas (use kafka-reassign-partitions)")
    have = len(existing.partitions)
    if have > partitions:
        raise ProvisioningError(
            f"topic {name} has {have} partitions, more than the manifest's {partitions}; Kafka cannot remove partitions"
        )
    if have < partitions:
        _wait(admin.create_partitions([NewPartitions(name, partitions)])[name], f"adding partitions to {name}")
        report(f"grew topic {name} from {have} to {partitions} partitions")
        changes += 1
    return changes + _topic_config(admin, report, name, config)


def _topic_config(admin: AdminClient, report: Report, name: str, config: dict[str, str]) -> int:
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    current = _wait(admin.describe_configs([resource])[resource], f"reading the settings of {name}")
    drift = {key: value for key, value in config.items() if key not in current or current[key].value != value}
    if not drift:
        return 0
    entries = [ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET) for key, value in drift.items()]
    resource = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=entries)
    _wait(admin.incremental_alter_configs([resource])[resource], f"changing the settings of {name}")
    report(f"set {', '.join(f'{k}={v}' for k, v in drift.items())} on topic {name}")
    return 1


def _subject(subject: Subject, registry: Registry, report: Report) -> int:
    registered = registry.versions(subject.name)
    changes = 0
    for published in subject.versions:
        if published.version in registered:
            held = registry.version(subject.name, published.version)["schema"]
            if not same_schema(held, published.text):
                raise ProvisioningError(
                    f"{subject.name} version {published.version}: {published.path.name} differs from the version the"
                    f" registry holds; published versions are immutable, so add v{subject.latest.version + 1}.avsc instead"
                )
            continue
        if published.version > 1:
            changes += _level(subject, registry, report)  # the level must guard every version after the first
        try:
            schema_id = registry.register(subject.name, published.text)
        except IncompatibleSchema as refusal:
            raise ProvisioningError(
                f"{subject.name} version {published.version} ({published.path}) was refused by the registry as"
                f" incompatible under {subject.compatibility}: {refusal}"
            ) from None
        assigned = registry.versions(subject.name)
        if published.version not in assigned:
            raise ProvisioningError(
                f"{subject.name}: registering v{published.version} did not create version {published.version}"
                f" (the registry holds {assigned}); was the subject changed by hand?"
            )
        report(f"registered {subject.name} version {published.version} (schema id {schema_id})")
        changes += 1
    extra = [version for version in registered if version > subject.latest.version]
    if extra:
        report(f"warning: the registry holds {subject.name} versions {extra} that contracts/ does not publish")
    return changes + _level(subject, registry, report)


def _level(subject: Subject, registry: Registry, report: Report) -> int:
    if registry.compatibility(subject.name) == subject.compatibility:
        return 0
    registry.set_compatibility(subject.compatibility, subject.name)
    report(f"set {subject.name} compatibility to {subject.compatibility}")
    return 1


def _wait(future: Future[Any], action: str) -> Any:
    try:
        return future.result(timeout=30)
    except KafkaException as error:
        raise ProvisioningError(f"{action} failed: {error.args[0].str()}") from None
