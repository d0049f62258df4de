"""Who may do what on the cluster, derived from the manifest: least privilege for every service's principal.

A service's principal (`User:<service>`, the name of its `[service.*]` table) may
- write (and describe) the topics it produces, its changelogs included;
- read (and describe) the topics it consumes, and the dead-letter topics of those it consumes, where it puts
  what it cannot read (write);
- join its own consumer groups: any group whose name starts with its `consumer_group` (each dashboard process
  of several has a group of its own, `dashboard-2`, ...);
- when it answers requests (it consumes a topic whose `reply_topic` it produces), use the transactional ids of
  its workers, `<consumer_group>/<INSTANCE_ID>`;
- when it keeps state (it writes a changelog of a co-partitioned group), write the topics of that group it consumes:
  a record found on another partition than its key's is forwarded to that partition of the same topic; and describe
  the group `repartition-<co-partitioned group>`, whose offsets say whether a move to more partitions is filling a
  partition it is given (contracts/moves.py).
The schema registry's principal may create, describe, read and write the topics under its prefix and join the groups
under its own (the manifest's `[registry]`): nothing of the platform's topics.
The dashboard also serves the operator view: it may describe every topic and every service's consumer groups (to
show their lag), read every dead-letter topic, and read the topics a stateful consumer checks (to show the records
forwarded to their key's partition, by client); it replays dead letters only to the topics it produces anyway.
Nothing else: no topic creation, no reading of other groups, no cluster operation. Provisioning applies exactly
these (and removes any other right of these principals); `make schema-review` lists changes to them.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.manifest import Manifest
from contracts.moves import group_of

__all__ = ["OPERATOR_VIEW", "Grant", "acl_table", "changes", "grants"]

OPERATOR_VIEW = "dashboard"  # the service whose pages include the operator view


@dataclass(frozen=True, order=True)
class Grant:
    principal: str  # the service, e.g. invoice (User:invoice to the broker)
    resource: str  # topic, group or transactional_id
    name: str
    prefixed: bool  # the name is a prefix of the resources' names
    operation: str  # read, write, describe, create or describe_configs
    why: str  # for people: what in the manifest asks for it

    def describe(self) -> str:
        pattern = f"{self.name}*" if self.prefixed else self.name
        return f"User:{self.principal} may {self.operation} {self.resource.replace('_', ' ')} {pattern} ({self.why})"


def grants(manifest: Manifest) -> list[Grant]:
    """Every right the manifest gives, sorted (principal, resource, name, ...); a right given for several reasons
    is one grant naming them all."""
    found: dict[tuple[str, str, str, bool, str], Grant] = {}

    def allow(principal: str, resource: str, name: str, operations: tuple[str, ...], why: str, prefixed: bool = False) -> None:
        for operation in operations:
            key = (principal, resource, name, prefixed, operation)
            earlier = found.get(key)
            found[key] = Grant(*key, f"{earlier.why}; {why}" if earlier else why)

    by_name = {topic.name: topic for topic in manifest.topics}
    for topic in manifest.topics:
        allow(topic.producer, "topic", topic.name, ("write", "describe"), f"produces {topic.name}")
        for consumer in topic.consumers:
            allow(consumer, "topic", topic.name, ("read", "describe"), f"consumes {topic.name}")
            if topic.dead_letter_topic:
                allow(consumer, "topic", topic.dead_letter_topic, ("write", "describe"),
                      f"dead-letters what it cannot read from {topic.name}")
        reply = by_name.get(topic.reply_topic or "")
        for consumer in topic.consumers:
            if reply is not None and reply.producer == consumer:
                group = manifest.consumer_groups[consumer]
                allow(consumer, "transactional_id", f"{group}/", ("write", "describe"),
                      f"answers {topic.name} in transactions", prefixed=True)
    for topic in manifest.topics:
        for keeper in manifest.forwarders(topic):
            allow(keeper, "topic", topic.name, ("write", "describe"),
                  "forwards a record written to another partition than its key's")
    for service, group in manifest.consumer_groups.items():
        allow(service, "group", group, ("read", "describe"), f"its consumer groups ({group}, {group}-2, ...)",
              prefixed=True)
    for co_partitioned in manifest.co_partitioned:
        for keeper in {k for name in co_partitioned.topics for k in manifest.forwarders(manifest.named(name))}:
            allow(keeper, "group", group_of(co_partitioned.name), ("describe",),
                  "reads whether a move to more partitions is filling a partition it is given")
    if (registry := manifest.registry) is not None:
        allow(registry.principal, "topic", registry.topic_prefix, ("create", "describe", "describe_configs", "read", "write"),
              "keeps the schemas in its own topics", prefixed=True)
        allow(registry.principal, "group", registry.group_prefix, ("read", "describe"),
              "reads its topics in its own consumer groups", prefixed=True)
    if OPERATOR_VIEW in manifest.consumer_groups:
        for topic in manifest.topics:
            allow(OPERATOR_VIEW, "topic", topic.name, ("describe",), "shows consumer lag in the operator view")
            if topic.dead_letter_topic:
                allow(OPERATOR_VIEW, "topic", topic.dead_letter_topic, ("read", "describe"),
                      "shows dead letters in the operator view")
            if manifest.forwarders(topic):
                allow(OPERATOR_VIEW, "topic", topic.name, ("read", "describe"),
                      "shows forwarded records in the operator view")
        for service, group in manifest.consumer_groups.items():
            if service != OPERATOR_VIEW:
                allow(OPERATOR_VIEW, "group", group, ("describe",), "shows consumer lag in the operator view",
                      prefixed=True)
    return sorted(found.values())


def changes(before: Manifest, after: Manifest) -> tuple[list[Grant], list[Grant]]:
    """(granted, revoked): the rights `after` gives that `before` did not, and the other way round."""
    old = {_key(grant): grant for grant in grants(before)}
    new = {_key(grant): grant for grant in grants(after)}
    return [new[key] for key in sorted(new.keys() - old.keys())], [old[key] for key in sorted(old.keys() - new.keys())]


def _key(grant: Grant) -> tuple[str, str, str, bool, str]:
    return grant.principal, grant.resource, grant.name, grant.prefixed, grant.operation


def acl_table(manifest: Manifest) -> str:
    """The rights as a Markdown table: a row per principal and resource, its operations together."""
    rows: dict[tuple[str, str, str], list[Grant]] = {}
    for grant in grants(manifest):
        rows.setdefault((grant.principal, grant.resource, f"{grant.name}*" if grant.prefixed else grant.name), []).append(grant)
    lines = ["| principal | resource | name | may | because it |", "|---|---|---|---|---|"]
    for (principal, resource, name), found in rows.items():
        operations = ", ".join(sorted({grant.operation for grant in found}))
        why = "; ".join(sorted({reason for grant in found for reason in grant.why.split("; ")}))
        operations = operations.replace("describe_configs", "describe configs")
        lines.append(f"| `User:{principal}` | {resource.replace('_', ' ')} | `{name}` | {operations} | {why} |")
    return "\n".join(lines)
