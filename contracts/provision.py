"""Provisioning: create the manifest's topics, its services' principals and their rights, and register every version of
every subject, idempotently."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from contracts import moves
from contracts.acls import Grant, grants
from contracts.env import SettingsError, env_int, principal_env
from contracts.manifest import Manifest, Subject
from contracts.registry import IncompatibleSchema, Registry, same_schema

__all__ = ["Durability", "ProvisioningError", "give_rights", "provision"]

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
    durability: Durability = Durability(), *, principals: bool = True,
) -> int:
    """Make the broker and the registry match the manifest; returns the number of changes made. Without `principals`
    the services' credentials and rights are left as they are (a second deployment beside the first, whose services
    connect as another principal)."""
    dead = manifest.dead_letters
    changes = 0
    _check_placement(manifest, admin)
    for topic in manifest.topics:
        changes += _topic(admin, report, topic.name, topic.partitions, *durability.apply(topic.replication_factor, topic.config))
        if topic.dead_letter_topic:
            changes += _topic(admin, report, topic.dead_letter_topic, dead.partitions,
                              *durability.apply(dead.replication_factor, dead.config))
    if principals:
        changes += _principals(manifest, admin, report)
    changes += sum(_subject(subject, registry, report) for subject in manifest.subjects)
    return changes


def _check_placement(manifest: Manifest, admin: AdminClient) -> None:
    """A co-partitioned group's partition count changes only by a move that re-homes its users' state (`make
    repartition`): provisioning neither grows such a topic nor lets the cluster and the manifest disagree in silence."""
    existing = admin.list_topics(timeout=15).topics
    for group in manifest.co_partitioned:
        topics = [manifest.named(name) for name in group.topics]
        counts = {t.name: len(existing[t.name].partitions) for t in topics if t.name in existing}
        listed = topics[0].partitions
        move = moves.read(admin, group.name) if counts else None
        command = f"make repartition GROUP={group.name} PARTITIONS="
        if move is not None and move.step != moves.DONE:
            raise ProvisioningError(f"a move of {group.name} from {move.old} to {move.new} partitions is under way (step"
                                    f" {move.step}): finish it first, with `{command}{move.new} APPLY=1`")
        wrong = {name: count for name, count in counts.items() if count != listed}
        if not wrong:
            continue
        said = ", ".join(f"{name} has {count}" for name, count in wrong.items())
        if all(count < listed for count in wrong.values()):
            raise ProvisioningError(f"the manifest gives {group.name} {listed} partitions but the cluster {said}: growing"
                                    " a co-partitioned group re-homes its users' state, which provisioning does not do;"
                                    f" `{command}{listed}` shows how it would be moved (APPLY=1 moves it)")
        if move is not None and set(wrong.values()) == {move.new}:
            raise ProvisioningError(f"{group.name} was moved to {move.new} partitions ({said}) but the manifest says"
                                    f" {listed}: `{command}{move.new} APPLY=1` writes it into the manifest")
        raise ProvisioningError(f"the manifest gives {group.name} {listed} partitions but the cluster {said}, and no"
                                " move explains it: the topics were grown by hand, and the users whose partition changed"
                                " are answered without their state until it is re-homed")


def _principals(manifest: Manifest, admin: AdminClient, report: Report) -> int:
    """Each service's SCRAM credentials (its password from CREDENTIALS_DIR) and exactly the rights contracts.acls
    derives. On a cluster without an authorizer there are no rights to give: said once, and nothing is done."""
    wanted = grants(manifest)
    changes = 0
    for service in sorted(manifest.consumer_groups):
        try:
            password = principal_env(service)["KAFKA_SASL_PASSWORD"]
        except (SettingsError, KeyError) as missing:
            report(f"warning: no password for principal {service} ({missing}); its credentials are left as they are")
            continue
        upsert = UserScramCredentialUpsertion(service, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
                                              password.encode())
        _wait(admin.alter_user_scram_credentials([upsert])[service], f"setting the credentials of {service}")
    try:
        for principal in sorted({grant.principal for grant in wanted}):
            changes += _rights(admin, report, principal, [grant for grant in wanted if grant.principal == principal])
    except ProvisioningError as error:
        if "SECURITY_DISABLED" not in str(error):
            raise
        report("the cluster has no authorizer: no rights were given (every client may do anything)")
    return changes


_RESOURCES = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP, "transactional_id": ResourceType.TRANSACTIONAL_ID}
_OPERATIONS = {"read": AclOperation.READ, "write": AclOperation.WRITE, "describe": AclOperation.DESCRIBE,
               "create": AclOperation.CREATE, "describe_configs": AclOperation.DESCRIBE_CONFIGS}


def _binding(grant: Grant) -> AclBinding:
    pattern = ResourcePatternType.PREFIXED if grant.prefixed else ResourcePatternType.LITERAL
    return AclBinding(_RESOURCES[grant.resource], grant.name, pattern, f"User:{grant.principal}", "*",
                      _OPERATIONS[grant.operation], AclPermissionType.ALLOW)


def give_rights(admin: AdminClient, manifest: Manifest, principal: str, report: Report) -> int:
    """Exactly the rights the manifest gives `principal`, now (the stack gives the registry its own before it starts,
    as provisioning needs the registry); the changes made."""
    return _rights(admin, report, principal, [grant for grant in grants(manifest) if grant.principal == principal])


def _rights(admin: AdminClient, report: Report, service: str, wanted: list[Grant]) -> int:
    # None matches any name and host (librdkafka's filter), though the stubs type them str.
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{service}", None,  # type: ignore[arg-type]
                                  AclOperation.ANY, AclPermissionType.ANY)
    held = set(_wait(admin.describe_acls(everything), f"reading the rights of {service}"))
    bindings = {_binding(grant): grant for grant in wanted}
    missing = [binding for binding in bindings if binding not in held]
    extra = [binding for binding in held if binding not in bindings]
    if missing:
        for future in admin.create_acls(missing).values():
            _wait(future, f"giving {service} its rights")
        for binding in missing:
            report(f"granted: {bindings[binding].describe()}")
    if extra:
        for future in admin.delete_acls([_exactly(binding) for binding in extra]).values():
            _wait(future, f"removing rights of {service} the manifest does not give")
        for binding in extra:
            report(f"revoked: User:{service} {binding.operation.name} on {binding.restype.name} {binding.name}")
    return len(missing) + len(extra)


def _exactly(binding: AclBinding) -> AclBindingFilter:
    return AclBindingFilter(binding.restype, binding.name, binding.resource_pattern_type, binding.principal,
                            binding.host, binding.operation, binding.permission_type)


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


def _subject(subject: Subject[object], registry: Registry, report: Report) -> int:
    registered = registry.versions(subject.name)
    changes = 0
    for published in subject.versions:
        if published.version in registered:
            held = registry.schema_text(subject.name, published.version)
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


def _level(subject: Subject[object], registry: Registry, report: Report) -> int:
    if registry.compatibility(subject.name) == subject.compatibility:
        return 0
    registry.set_compatibility(subject.compatibility, subject.name)
    report(f"set {subject.name} compatibility to {subject.compatibility}")
    return 1


def _wait(future: Future[Any], action: str) -> Any:
    try:
        return future.result(timeout=30)
    except KafkaException as error:
        failure: KafkaError = error.args[0]
        raise ProvisioningError(f"{action} failed: {failure.name()}: {failure.str()}") from None
