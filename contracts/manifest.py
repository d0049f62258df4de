"""Loading the topic manifest (topics.toml) and the published schema versions it points at."""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

import fastavro

from contracts.avro import Node, root
from contracts.bindings import Binding
from contracts.constraints import ConstraintError, Constraints
from contracts.partitioning import CHANGELOG, PARTITIONERS, CoPartitioned

__all__ = [
    "COMPATIBILITY_LEVELS", "CoPartitioned", "DeadLetters", "Manifest", "ManifestError", "RegistryStorage", "SchemaVersion",
    "Subject", "Topic", "load_manifest", "manifest_file", "read_manifest", "set_partitions",
]

HOME = Path(__file__).resolve().parent
COMPATIBILITY_LEVELS = (
    "NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE",
)
VERSION_FILE = re.compile(r"v([1-9][0-9]*)\.avsc")
T = TypeVar("T", covariant=True)  # the record type of a subject: a phantom, for the type checker only
K = TypeVar("K", covariant=True)
V = TypeVar("V", covariant=True)
KeyT = TypeVar("KeyT")
ValueT = TypeVar("ValueT")


class ManifestError(Exception):
    """The manifest or a schema file is malformed."""


@dataclass(frozen=True)
class SchemaVersion:
    version: int
    path: Path
    text: str

    @property
    def schema(self) -> Any:
        return json.loads(self.text)

    @cached_property
    def node(self) -> Node:
        """The schema's root for walking it (contracts.avro)."""
        return root(self.text)

    @cached_property
    def constraints(self) -> Constraints:
        """The constraints its fields declare (contracts.constraints)."""
        return Constraints.of(self.text)


@dataclass(frozen=True)
class Subject(Generic[T]):
    """A registry subject whose records are T (the generated TypedDict of contracts/records.py)."""

    name: str  # <topic>-key or <topic>-value
    family: str  # the folder of contracts/schemas/ holding its versions
    compatibility: str
    versions: tuple[SchemaVersion, ...]

    @property
    def latest(self) -> SchemaVersion:
        return self.versions[-1]


@dataclass(frozen=True)
class Topic(Generic[K, V]):
    """A topic of the manifest whose keys are K records and values V records."""

    name: str
    key: Subject[K]
    value: Subject[V]
    partitions: int
    replication_factor: int
    compatibility: str
    why: str
    producer: str
    consumers: tuple[str, ...]
    config: dict[str, str]
    dead_letter_topic: str | None  # None for a changelog, which only its own worker reads
    changelog_of: str | None = None  # for a changelog: the source topic whose partitions' state it holds
    reply_topic: str | None = None  # for a request: the topic its answers come back on
    partitioner: str = CHANGELOG  # how a key picks its partition (contracts.partitioning); a changelog's is its source's

    @property
    def subjects(self) -> tuple[Subject[K], Subject[V]]:
        return (self.key, self.value)

    def __hash__(self) -> int:  # a topic's name identifies it; its config dict is not hashable
        return hash(self.name)


@dataclass(frozen=True)
class DeadLetters:
    """How dead-letter topics are created; they hold raw bytes, so they have no contract."""

    partitions: int
    replication_factor: int
    config: dict[str, str]


@dataclass(frozen=True)
class RegistryStorage:
    """Where the schema registry keeps the schemas in Kafka: the principal it connects as, the prefixes of its
    topics and of its consumer groups."""

    principal: str
    topic_prefix: str
    group_prefix: str


@dataclass(frozen=True)
class Manifest:
    topics: tuple[Topic[object, object], ...]
    dead_letters: DeadLetters
    consumer_groups: dict[str, str] = field(default_factory=dict)  # service -> the group it joins by default
    co_partitioned: tuple[CoPartitioned, ...] = ()
    registry: RegistryStorage | None = None
    name_prefix: str = ""  # starts every name of a second deployment on the same cluster (see `_prefixed`)

    def topic(self, binding: Binding[KeyT, ValueT]) -> Topic[KeyT, ValueT]:
        """The topic a binding of contracts/records.py names: how code finds a topic without spelling its name."""
        name = self.name_prefix + binding.name
        for topic in self.topics:
            if topic.name == name:
                return cast(Topic[KeyT, ValueT], topic)
        raise ManifestError(f"no topic {name!r} in the manifest: is contracts/records.py stale? (make codegen)")

    def named(self, name: str) -> Topic[object, object]:
        """The topic of that name (for tools that take a name from people)."""
        for topic in self.topics:
            if topic.name == name:
                return topic
        raise ManifestError(f"no topic {name!r} in the manifest")

    def co_partition_of(self, topic: str) -> CoPartitioned | None:
        """The co-partitioned group a topic belongs to, if any."""
        return next((group for group in self.co_partitioned if topic in group.topics), None)

    def forwarders(self, topic: Topic[object, object]) -> list[str]:
        """The consumers of `topic` that keep state in its co-partitioned group (they write one of its changelogs): each
        forwards a record it finds off its key's partition to that partition of the topic."""
        group = self.co_partition_of(topic.name)
        if group is None or topic.changelog_of is not None:
            return []
        keepers = {t.producer for t in self.topics if t.name in group.topics and t.changelog_of is not None}
        return sorted(keepers & set(topic.consumers))

    @property
    def subjects(self) -> tuple[Subject[object], ...]:
        return tuple(subject for topic in self.topics for subject in topic.subjects)


def _versions(family: str, schemas: Path) -> tuple[SchemaVersion, ...]:
    folder = schemas / family
    found = {}
    for path in folder.glob("*.avsc"):
        match = VERSION_FILE.fullmatch(path.name)
        if not match:
            raise ManifestError(f"{path}: schema files are named v1.avsc, v2.avsc, ...")
        found[int(match.group(1))] = path
    if not found:
        raise ManifestError(f"{folder}: no published versions (v1.avsc, ...)")
    if sorted(found) != list(range(1, len(found) + 1)):
        raise ManifestError(f"{folder}: versions must run v1..vN without gaps, found {sorted(found)}")
    versions = []
    for number in sorted(found):
        text = found[number].read_text()
        try:
            fastavro.parse_schema(json.loads(text))
        except (ValueError, fastavro.schema.SchemaParseException) as error:
            raise ManifestError(f"{found[number]}: not a valid Avro schema: {error}") from error
        try:
            Constraints.of(text)
        except ConstraintError as error:
            raise ManifestError(f"{found[number]}: {error}") from None
        versions.append(SchemaVersion(number, found[number], text))
    return tuple(versions)


def _topic(entry: dict[str, Any], schemas: Path) -> Topic[object, object]:
    name = entry.get("name", "<unnamed>")
    try:
        level = entry["compatibility"]
        if level not in COMPATIBILITY_LEVELS:
            raise ManifestError(f"topic {name}: compatibility {level!r} is not one of {', '.join(COMPATIBILITY_LEVELS)}")
        return Topic(
            name=entry["name"],
            key=Subject(f"{name}-key", entry["key"], level, _versions(entry["key"], schemas)),
            value=Subject(f"{name}-value", entry["value"], level, _versions(entry["value"], schemas)),
            partitions=int(entry["partitions"]),
            replication_factor=int(entry["replication_factor"]),
            compatibility=level,
            why=entry["why"],
            producer=entry["producer"],
            consumers=tuple(entry["consumers"]),
            config=_config(entry),
            dead_letter_topic=entry.get("dead_letter_topic") if "changelog_of" in entry else entry["dead_letter_topic"],
            changelog_of=entry.get("changelog_of"),
            reply_topic=entry.get("reply_topic"),
            partitioner=_partitioner(entry),
        )
    except KeyError as missing:
        raise ManifestError(f"topic {name}: missing {missing.args[0]!r}") from None


def _partitioner(entry: dict[str, Any]) -> str:
    """A changelog is placed by its source's partition; every other topic declares how its key picks a partition."""
    name, declared = entry.get("name"), entry.get("partitioner")
    if "changelog_of" in entry:
        if declared is not None:
            raise ManifestError(f"changelog {name}: a changelog has no partitioner of its own (partition p holds the"
                                f" state of its source's partition p); remove partitioner = {declared!r}")
        return CHANGELOG
    if declared not in PARTITIONERS:
        raise ManifestError(f"topic {name}: partitioner must be one of {', '.join(map(repr, PARTITIONERS))}, got"
                            f" {declared!r}: consumers that keep state per partition rely on it")
    return str(declared)


def _check_changelog(changelog: Topic[object, object], by_name: dict[str, Topic[object, object]]) -> None:
    """A restore needs only the newest entry per key: so compaction (its partition count is its group's, see
    `_co_partitioned`)."""
    if changelog.changelog_of not in by_name:
        raise ManifestError(f"changelog {changelog.name}: changelog_of names no topic of the manifest"
                            f" ({changelog.changelog_of!r})")
    if changelog.config.get("cleanup.policy") != "compact":
        raise ManifestError(f"changelog {changelog.name} must be compacted (cleanup.policy = \"compact\")")


def _check_reply(request: Topic[object, object], by_name: dict[str, Topic[object, object]]) -> None:
    """An answer goes back to whoever asked: the reply topic is written by the request's consumer and read by
    its producer."""
    reply = by_name.get(request.reply_topic or "")
    if reply is None:
        raise ManifestError(f"topic {request.name}: reply_topic names no topic of the manifest ({request.reply_topic!r})")
    if reply.producer not in request.consumers or request.producer not in reply.consumers:
        raise ManifestError(f"topic {request.name}: its replies on {reply.name} must be written by one of its consumers"
                            f" ({', '.join(request.consumers)}) and read by its producer ({request.producer})")


def _co_partitioned(document: dict[str, Any], by_name: dict[str, Topic[object, object]]) -> tuple[CoPartitioned, ...]:
    """The `[[co_partitioned]]` groups, checked: known topics, each in one group, one partition count and one key
    family per group, every changelog with its source."""
    groups: list[CoPartitioned] = []
    for entry in document.get("co_partitioned", []):
        try:
            group = CoPartitioned(str(entry["name"]), tuple(map(str, entry["topics"])), str(entry["why"]))
        except KeyError as missing:
            raise ManifestError(f"a [[co_partitioned]] group is missing {missing.args[0]!r}") from None
        unknown = [name for name in group.topics if name not in by_name]
        if unknown:
            raise ManifestError(f"co-partitioned group {group.name}: no topic {', '.join(unknown)} in the manifest")
        taken = [name for name in group.topics for other in groups if name in other.topics]
        if taken or group.name in {other.name for other in groups}:
            raise ManifestError(f"co-partitioned group {group.name}: {', '.join(taken) or 'its name'} is already in"
                                " another group; a topic belongs to one group at most")
        topics = [by_name[name] for name in group.topics]
        counts = {topic.name: topic.partitions for topic in topics}
        if len(set(counts.values())) > 1:
            listed = ", ".join(f"{name} {count}" for name, count in counts.items())
            raise ManifestError(f"co-partitioned group {group.name}: its topics must have one partition count, but"
                                f" have {listed}: partition p of each must hold the same users")
        keys = {topic.key.family for topic in topics if topic.changelog_of is None}
        if len(keys) > 1:
            raise ManifestError(f"co-partitioned group {group.name}: its keyed topics must share one key schema family"
                                f" (the same bytes for a user), but use {', '.join(sorted(keys))}")
        groups.append(group)
    for topic in by_name.values():
        home = next((g for g in groups if topic.name in g.topics), None)
        if topic.changelog_of is not None and (home is None or topic.changelog_of not in home.topics):
            raise ManifestError(f"changelog {topic.name} must be in a [[co_partitioned]] group with its source"
                                f" {topic.changelog_of}")
    return tuple(groups)


def _registry(document: dict[str, Any], path: Path) -> RegistryStorage | None:
    table = document.get("registry")
    if table is None:
        return None
    try:
        return RegistryStorage(str(table["principal"]), str(table["topic_prefix"]), str(table["group_prefix"]))
    except KeyError as missing:
        raise ManifestError(f"{path}: [registry] is missing {missing.args[0]!r}") from None


def _consumer_groups(document: dict[str, Any], path: Path) -> dict[str, str]:
    try:
        return {str(name): str(service["consumer_group"]) for name, service in document.get("service", {}).items()}
    except KeyError as missing:
        raise ManifestError(f"{path}: a [service.*] table is missing {missing.args[0]!r}") from None


def _config(entry: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in entry.get("config", {}).items()}


def manifest_file() -> Path:
    """The manifest in use: CONTRACTS_MANIFEST, or contracts/topics.toml (a copy elsewhere carries its schemas/ beside
    it, as the chaos suite's scratch groups do)."""
    return Path(os.environ.get("CONTRACTS_MANIFEST") or HOME / "topics.toml")


def set_partitions(path: Path, topics: tuple[str, ...], count: int) -> bool:
    """Write `count` as the partition count of each of these topics in the manifest file at `path`, leaving the rest of
    its text as it is; whether anything changed."""
    text = path.read_text()
    prefix = str(tomllib.loads(text).get("name_prefix", ""))
    blocks = re.split(r"(?m)^(?=\[\[topic\]\])", text)
    for index, block in enumerate(blocks):
        name = re.search(r'(?m)^name = "([^"]+)"', block)
        if block.startswith("[[topic]]") and name and prefix + name.group(1) in topics:
            blocks[index] = re.sub(r"(?m)^partitions = \d+$", f"partitions = {count}", block, count=1)
    changed = "".join(blocks)
    if changed == text:
        return False
    path.write_text(changed)
    _loaded.cache_clear()
    return True


def load_manifest(path: Path | None = None) -> Manifest:
    """The manifest (`manifest_file()` unless another is given), with every schema version read and parsed; read once."""
    return _loaded(path or manifest_file())


def read_manifest(path: Path) -> Manifest:
    """The manifest at `path` as its files are now (not the copy `load_manifest` keeps)."""
    with path.open("rb") as handle:
        document = _prefixed(tomllib.load(handle))
    topics = tuple(_topic(entry, path.parent / "schemas") for entry in document.get("topic", []))
    names = [topic.name for topic in topics] + [t.dead_letter_topic for t in topics if t.dead_letter_topic]
    if len(set(names)) != len(names):
        raise ManifestError(f"{path}: a topic name is used twice")
    by_name = {t.name: t for t in topics}
    for topic in topics:
        if topic.changelog_of is not None:
            _check_changelog(topic, by_name)
        if topic.reply_topic is not None:
            _check_reply(topic, by_name)
    try:
        dead = document["dead_letters"]
        dead_letters = DeadLetters(int(dead["partitions"]), int(dead["replication_factor"]), _config(dead))
    except KeyError as missing:
        raise ManifestError(f"{path}: [dead_letters] is missing {missing.args[0]!r}") from None
    groups = _consumer_groups(document, path)
    unlisted = sorted({c for t in topics for c in t.consumers} - groups.keys()) if groups else []
    if unlisted:
        raise ManifestError(f"{path}: no [service.*] table gives the consumer group of {', '.join(unlisted)}")
    return Manifest(topics, dead_letters, groups, _co_partitioned(document, by_name), _registry(document, path),
                    str(document.get("name_prefix", "")))


def _prefixed(document: dict[str, Any]) -> dict[str, Any]:
    """`name_prefix = "..."` at the top of a manifest starts every topic, consumer group and co-partitioned group name
    with it: a second deployment of the same contracts beside the first on one cluster, as the chaos suite's scratch
    deployments are (their subjects follow their topics; bindings find the prefixed topics)."""
    prefix = str(document.get("name_prefix", ""))
    if not prefix:
        return document
    for entry in document.get("topic", []):
        for name in ("name", "reply_topic", "dead_letter_topic", "changelog_of"):
            if name in entry:
                entry[name] = prefix + str(entry[name])
    for entry in document.get("co_partitioned", []):
        entry["name"] = prefix + str(entry["name"])
        entry["topics"] = [prefix + str(name) for name in entry.get("topics", [])]
    for service in document.get("service", {}).values():
        if "consumer_group" in service:
            service["consumer_group"] = prefix + str(service["consumer_group"])
    return document


_loaded = cache(read_manifest)
