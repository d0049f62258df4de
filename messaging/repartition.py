"""`make repartition GROUP=<co-partitioned group> PARTITIONS=M [APPLY=1]`: grow every topic of a co-partitioned group
together, moving the state of the users whose partition changes, while the workers run.

Without APPLY it prints the plan. With it, the steps (contracts/moves.py records where the move is, in Kafka):
1. copying: the group's changelogs grow to M partitions (no worker reads them in its consumer group, so nothing
   notices), and every changelog entry of a user whose partition changes is copied to that user's new partition, in
   transactions that commit the move's progress with the entries;
2. switching: the input topics grow to M. The workers rebalance (eagerly: none handles a record before it knows the
   new count) and forward what they find off its key's new partition; a worker given a new partition holds it, paused,
   while this step lasts. Once every member of the workers' groups holds its share of the M partitions and no
   transaction of the old layout is pending, the entries written since the copy are copied too;
3. tombstoning: the moved users' entries are deleted from their old partitions (tombstones), and the workers holding
   new partitions restore them and start;
4. done: contracts/topics.toml says M.
Killed at any point, the command run again goes on from the recorded step and offsets, and repeats no step's effect
(copies and their progress commit together). M must be a multiple of the current count: then a user stays on its
partition or moves to a new one, never to another old one, which its worker would answer with the wrong state.
Shrinking is refused: Kafka cannot remove partitions, and the users of a removed one would lose their state.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from confluent_kafka import Consumer, ConsumerGroupState, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions

from contracts import moves
from contracts.env import METADATA_REFRESH_SECONDS
from contracts.manifest import CoPartitioned, Manifest, ManifestError, Topic, load_manifest, manifest_file, set_partitions
from contracts.moves import COPYING, DONE, SWITCHING, TOMBSTONING, Move
from contracts.partitioning import partition_for
from messaging.offsets import unread
from messaging.runtime import Runtime
from messaging.serde import Codec

__all__ = ["Mover", "RepartitionError", "main"]

Report = Callable[[str], None]
BATCH = 2000  # changelog entries per transaction
SETTLE_SECONDS = 300.0  # how long the workers' groups may take to hold every new partition
PROGRESS_SECONDS = 2.0


class RepartitionError(Exception):
    """The move cannot be made as asked; the message says why and what to do."""


class Mover:
    def __init__(self, runtime: Runtime, group: str, new: int, manifest_path: Path, report: Report = print) -> None:
        manifest = runtime.manifest
        found = next((g for g in manifest.co_partitioned if g.name == group), None)
        if found is None:
            names = ", ".join(g.name for g in manifest.co_partitioned)
            raise RepartitionError(f"no co-partitioned group {group!r} in the manifest (there are: {names})")
        self.runtime = runtime
        self.group: CoPartitioned = found
        self.new = new
        self.manifest_path = manifest_path
        self.report = report
        self.admin = AdminClient({**runtime.settings.kafka_client})
        topics = [manifest.named(name) for name in found.topics]
        self.inputs = [t for t in topics if t.changelog_of is None]
        self.changelogs = [t for t in topics if t.changelog_of is not None]
        # The workers that keep the group's state, by consumer group, with the inputs each reads.
        self.keepers: dict[str, set[str]] = {}
        for topic in self.inputs:
            for service in manifest.forwarders(topic):
                self.keepers.setdefault(manifest.consumer_groups[service], set()).add(topic.name)
        self._owners: dict[bytes, int] = {}
        self._user_owners: dict[object, int] = {}
        # Each changelog's key codec, and its source's (the user's key, which places the user): made when first used.
        self._placing: dict[str, tuple[Codec[Any], Codec[Any]]] = {}

    # -- what is there, and what would be done ----------------------------------------------------------

    def counts(self) -> dict[str, int]:
        metadata = self.admin.list_topics(timeout=30).topics
        return {t.name: len(metadata[t.name].partitions) for t in [*self.inputs, *self.changelogs] if t.name in metadata}

    def plan(self) -> tuple[Move | None, list[str]]:
        """The move under way (if any) and what applying would do, in sentences; RepartitionError when it may not."""
        move, counts = moves.read(self.admin, self.group.name), self.counts()
        inputs = {counts.get(t.name) for t in self.inputs}
        if move is not None and move.step != DONE:
            if move.new != self.new:
                raise RepartitionError(f"a move of {self.group.name} from {move.old} to {move.new} partitions is under way"
                                       f" (step {move.step}): finish it first, with PARTITIONS={move.new}")
            return move, [f"resume the move of {self.group.name} from {move.old} to {move.new} partitions at step"
                          f" {move.step}", *self._steps(move.old, move.step)]
        if len(inputs) != 1 or None in inputs:
            raise RepartitionError(f"the topics of {self.group.name} disagree on their partition count ({counts}):"
                                   " provision them first")
        old = next(count for count in inputs if count is not None)
        if self.new == old:
            return None, [f"{self.group.name} has {old} partitions already: nothing to do"]
        if self.new < old:
            raise RepartitionError(f"{self.group.name} has {old} partitions and cannot shrink to {self.new}: Kafka cannot"
                                   " remove partitions, and the users placed on a removed one would lose their state")
        if self.new % old:
            raise RepartitionError(f"{self.new} is not a multiple of {old}: grow {self.group.name} to {2 * old},"
                                   f" {3 * old}, ... so that a user stays on its partition or moves to a new one, never"
                                   " to another partition in use (whose worker would answer with the wrong state)")
        return None, [f"move {self.group.name} ({', '.join(self.group.topics)}) from {old} to {self.new} partitions",
                      *self._steps(old, COPYING)]

    def _steps(self, old: int, step: str) -> list[str]:
        changelogs, inputs = ", ".join(t.name for t in self.changelogs), ", ".join(t.name for t in self.inputs)
        steps = {
            COPYING: f"grow {changelogs} to {self.new}; copy the entries of the users leaving partitions 0..{old - 1}"
                     " to their new partitions",
            SWITCHING: f"grow {inputs} to {self.new}; wait until the workers ({', '.join(sorted(self.keepers))}) hold"
                       " every partition, the new ones paused, and have handled what the old ones hold; copy what was written"
                       " since",
            TOMBSTONING: f"delete the moved users' entries from partitions 0..{old - 1} of {changelogs}; the workers"
                         " start on the new partitions",
            DONE: f"write {self.new} partitions into {self.manifest_path}",
        }
        order = list(steps)
        return [f"  {n}. {step_}: {steps[step_]}" for n, step_ in enumerate(order[order.index(step):], start=1)]

    # -- doing it -----------------------------------------------------------------------------------

    def apply(self) -> None:
        move, _ = self.plan()
        if move is None:
            old = self.counts()[self.inputs[0].name]
            if old == self.new:
                self._write_manifest()
                return
            move = self._begin(old)
        if move.step == COPYING:
            self._grow(self.changelogs)
            move = self._scan(move, COPYING, copy=True)
            move = self._record(move, SWITCHING, move.progress)
        if move.step == SWITCHING:
            self._grow(self.inputs)
            self._await_workers(move, time.monotonic())
            move = self._scan(move, SWITCHING, copy=True)
            move = self._record(move, TOMBSTONING, self._starts(move.old))
        if move.step == TOMBSTONING:
            move = self._scan(move, TOMBSTONING, copy=False)
            move = self._record(move, DONE, move.progress)
        self._write_manifest()

    def _begin(self, old: int) -> Move:
        move = Move(self.group.name, old, self.new, COPYING, self._starts(old))
        self.report(f"recording the move of {self.group.name} from {old} to {self.new} partitions")
        return self._record(move, COPYING, move.progress)

    def _starts(self, old: int) -> dict[tuple[str, int], int]:
        """The first offset of each old partition of the changelogs."""
        reader = self._reader()
        try:
            return {(t.name, p): reader.get_watermark_offsets(TopicPartition(t.name, p), timeout=30)[0]
                    for t in self.changelogs for p in range(old)}
        finally:
            reader.close()

    def _record(self, move: Move, step: str, progress: dict[tuple[str, int], int]) -> Move:
        reader = self._reader()
        try:
            reader.commit(offsets=move.offsets(step, progress), asynchronous=False)
        finally:
            reader.close()
        self.report(f"{self.group.name}: step {step}")
        return Move(move.group, move.old, move.new, step, dict(progress))

    def _grow(self, topics: list[Topic[object, object]]) -> None:
        counts = self.counts()
        for topic in topics:
            have = counts[topic.name]
            if have < self.new:
                future = self.admin.create_partitions([NewPartitions(topic.name, self.new)])[topic.name]
                future.result(timeout=60)
                self.report(f"grew {topic.name} from {have} to {self.new} partitions")

    def _scan(self, move: Move, step: str, *, copy: bool) -> Move:
        """Read each old changelog partition from the move's progress to its end: copy each entry of a user that moves
        to the user's new partition (`copy`), or tombstone it where it was; in transactions carrying the progress."""
        reader, producer = self._reader(eof=True), self.runtime.transactional_producer(moves.group_of(self.group.name))
        progress, open_ = dict(move.progress), set(move.progress)
        # Tombstones go to the partitions being read: their end is taken now, so the scan ends (and reads none of them).
        ends = {} if copy else {where: reader.get_watermark_offsets(TopicPartition(*where), timeout=30)[1] for where in open_}
        open_ -= {where for where in open_ if where in ends and progress[where] >= ends[where]}
        reader.assign([TopicPartition(topic, partition, offset) for (topic, partition), offset in progress.items()])
        written = read = 0
        began = shown = time.monotonic()
        try:
            while open_:
                if time.monotonic() - shown > PROGRESS_SECONDS:
                    shown = time.monotonic()
                    self.report(f"{self.group.name}: {step}: {read} entries read, {written} of moving users so far")
                batch = [m for m in reader.consume(BATCH, timeout=0.2) if (str(m.topic()), m.partition()) in open_]
                read += len(batch)
                if not batch:
                    continue
                producer.begin_transaction()
                for message in batch:
                    where = (str(message.topic()), int(message.partition() or 0))
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF and not ends:
                            open_.discard(where)
                            continue
                        if error.code() == KafkaError._PARTITION_EOF:
                            continue
                        raise KafkaException(error)
                    progress[where] = int(message.offset() or 0) + 1
                    if where in ends and progress[where] >= ends[where]:
                        open_.discard(where)
                    owner = self._owner(where[0], message.key())
                    if owner is None or owner == where[1] or (not copy and message.value() is None):
                        continue  # stays where it is (or is a tombstone already)
                    if copy:
                        producer.produce(where[0], key=message.key(), value=message.value(), partition=owner)
                    else:
                        producer.produce(where[0], key=message.key(), value=None, partition=where[1])
                    written += 1
                producer.send_offsets_to_transaction(move.offsets(step, progress), reader.consumer_group_metadata(), 30)
                producer.commit_transaction(30)
            self.report(f"{self.group.name}: {step}: {'copied' if copy else 'deleted'} {written} entries of moving users"
                        f" ({read} read) in {time.monotonic() - began:.2f} s")
        finally:
            reader.close()
            producer.flush(30)
        return Move(move.group, move.old, move.new, step, progress)

    def _owner(self, changelog: str, key: bytes | None) -> int | None:
        """The new partition of the user a changelog entry belongs to (its key names the user); None without a key.
        Kept per key (the tombstones' pass reads the copy's keys again) and per user (a user has many entries)."""
        if key is None:
            return None
        owner = self._owners.get(key)
        if owner is None:
            if changelog not in self._placing:
                topic = next(t for t in self.changelogs if t.name == changelog)
                source = self.runtime.manifest.named(str(topic.changelog_of))
                self._placing[changelog] = (self.runtime.codec(topic.key), self.runtime.codec(source.key))
            entry_keys, user_keys = self._placing[changelog]
            user = cast(Mapping[str, object], entry_keys.decode(key))["user_id"]
            owner = self._user_owners.get(user)
            if owner is None:
                owner = self._user_owners[user] = partition_for(user_keys.encode({"user_id": user}), self.new)
            self._owners[key] = owner
        return owner

    def _await_workers(self, move: Move, grown_at: float) -> None:
        """Until no worker places a record by the old count and none of the old layout is left unhandled: every group
        reading the inputs is stable holding all the new partitions (each member rebalanced eagerly since the inputs
        grew, so none works with the old count any more) with no transaction of the old layout pending; then, once every
        producer knows the new count (METADATA_REFRESH_SECONDS after the growth), each group has handled (or forwarded)
        everything written to the old partitions until then."""
        deadline = time.monotonic() + SETTLE_SECONDS
        keepers = self._keepers()
        partitions = [TopicPartition(t.name, p) for t in self.inputs for p in range(self.new)]
        for group, topics in keepers.items():
            wanted = {(tp.topic, tp.partition) for tp in partitions if tp.topic in topics}
            stuck_since = None
            while True:
                described = self.admin.describe_consumer_groups([group])[group].result(30)
                held = {(tp.topic, tp.partition) for m in described.members for tp in m.assignment.topic_partitions}
                if described.state == ConsumerGroupState.STABLE and wanted <= held:
                    break
                stuck_since = stuck_since or time.monotonic() if described.state == ConsumerGroupState.STABLE else None
                if stuck_since is not None and time.monotonic() - stuck_since > METADATA_REFRESH_SECONDS + 2:
                    self._nudge(group, topics)
                    stuck_since = None
                self._wait(deadline, f"{group} did not take the new partitions ({described.state.name})")
            self._committed(group, [TopicPartition(*where) for where in sorted(wanted)])
            self.report(f"{group} holds all {self.new} partitions")
        time.sleep(max(0.0, grown_at + METADATA_REFRESH_SECONDS + 1 - time.monotonic()))
        reader = self._reader()
        try:
            ends = {(t.name, p): reader.get_watermark_offsets(TopicPartition(t.name, p), timeout=30)[1]
                    for t in self.inputs for p in range(move.old)}
        finally:
            reader.close()
        for group, topics in keepers.items():
            while True:
                committed = self._committed(group, [TopicPartition(*where) for where in ends if where[0] in topics])
                behind = unread(self.runtime.settings.kafka_client, committed, ends)
                if not behind:
                    break
                self._wait(deadline, f"{group} did not handle what was written to the old partitions"
                                     f" ({len(behind)} partitions behind)")
            self.report(f"{group} handled what the old partitions held")

    def _nudge(self, group: str, topics: set[str]) -> None:
        """Make a group that stays stable without the new partitions rebalance: join it for a moment. (Its leader
        looks for grown topics only against what it saw when it last assigned; a static member that restarted after
        the growth is given back its old assignment, so no member ever notices.) Nothing is read or committed."""
        self.report(f"{group} is stable without the new partitions: joining it for a moment makes it share them out")
        joined = threading.Event()
        nudger = Consumer({**self.runtime.settings.kafka_client, "group.id": group, "enable.auto.commit": False,
                           "partition.assignment.strategy": "range", "client.id": "repartition"})
        try:
            nudger.subscribe(sorted(topics), on_assign=lambda consumer, assigned: joined.set())
            deadline = time.monotonic() + 60
            while not joined.is_set() and time.monotonic() < deadline:
                nudger.poll(0.2)
        finally:
            nudger.close()

    def _keepers(self) -> dict[str, set[str]]:
        """The manifest's keepers, and every other consumer group with members reading the inputs (a group named by a
        setting, say), with the inputs each reads."""
        inputs = {t.name for t in self.inputs}
        found = {group: set(topics) for group, topics in self.keepers.items()}
        listed = self.admin.list_consumer_groups().result(30)
        names = [g.group_id for g in listed.valid if g.group_id not in found and g.group_id != moves.group_of(self.group.name)]
        for group, future in (self.admin.describe_consumer_groups(names).items() if names else []):
            topics = {tp.topic for m in future.result(30).members for tp in m.assignment.topic_partitions} & inputs
            if topics:
                found[group] = topics
        return found

    def _committed(self, group: str, partitions: list[TopicPartition]) -> list[TopicPartition]:
        """The group's committed offsets, once no transaction is pending on them (read_committed's require_stable)."""
        consumer = Consumer({**self.runtime.settings.kafka_client, "group.id": group, "enable.auto.commit": False,
                             "isolation.level": "read_committed"})
        try:
            return list(consumer.committed(partitions, timeout=120))
        finally:
            consumer.close()

    def _wait(self, deadline: float, problem: str) -> None:
        if time.monotonic() > deadline:
            raise RepartitionError(f"{problem} within {SETTLE_SECONDS:.0f} s: are its workers running? Run this again"
                                   " to go on.")
        time.sleep(1)

    def _reader(self, eof: bool = False) -> Consumer:
        config: dict[str, Any] = {**self.runtime.settings.kafka_client, "group.id": moves.group_of(self.group.name),
                                  "enable.auto.commit": False, "isolation.level": "read_committed"}
        if eof:
            config["enable.partition.eof"] = True
        return Consumer(config)

    def _write_manifest(self) -> None:
        if set_partitions(self.manifest_path, self.group.topics, self.new):
            self.report(f"{self.manifest_path} says {self.new} partitions for {', '.join(self.group.topics)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="repartition", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("group", help="the co-partitioned group, as contracts/topics.toml names it")
    parser.add_argument("partitions", type=int, help="the partition count to grow it to")
    parser.add_argument("--apply", action="store_true", help="do it (without: print the plan)")
    parser.add_argument("--manifest", type=Path, default=None, help="the manifest to update (default: CONTRACTS_MANIFEST"
                        " or contracts/topics.toml)")
    args = parser.parse_args(argv)
    manifest_path = args.manifest or manifest_file()
    runtime: Runtime | None = None
    try:
        manifest: Manifest = load_manifest(manifest_path)
        runtime = Runtime("repartition", manifest=manifest)
        mover = Mover(runtime, args.group, args.partitions, manifest_path)
        move, steps = mover.plan()
        print("\n".join(steps))
        if args.apply:
            mover.apply()
            print(f"moved {args.group} to {args.partitions} partitions")
        elif len(steps) > 1:
            print("nothing done: run it again with APPLY=1 to do it")
        return 0
    except (RepartitionError, ManifestError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KafkaException as error:
        print(f"error: Kafka refused: {error.args[0].str()}; run it again to go on from where it stopped", file=sys.stderr)
        return 1
    finally:
        if runtime is not None:
            runtime.close()


if __name__ == "__main__":
    raise SystemExit(main())
