"""How a record's key picks its partition, as the manifest declares it, and which topics share that placement.

`murmur2` is Java's default partitioner (Kafka's `Utils.murmur2` over the serialized key bytes, made positive,
modulo the partition count); librdkafka calls it `murmur2_random`. The key bytes are the Confluent wire format,
schema id included: a key written under another schema id is another key to the partitioner. A changelog is not
placed by its key: partition p holds the state of its source's partition p.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the manifest imports this module
    from contracts.manifest import Manifest

__all__ = ["CHANGELOG", "MURMUR2", "PARTITIONERS", "CoPartitioned", "librdkafka_partitioner", "murmur2", "partition_for"]

MURMUR2 = "murmur2"
CHANGELOG = "source partition"  # a changelog's entry goes where the record whose state it holds was read
PARTITIONERS = {
    MURMUR2: "murmur2 over the serialized key bytes (Confluent wire format, schema id included), made positive,"
             " modulo the partition count: Java's default partitioner, librdkafka's murmur2_random",
}

# The same partitioners as librdkafka names them (its `partitioner` setting).
LIBRDKAFKA = {MURMUR2: "murmur2_random"}

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's 32-bit murmur2 of `data`, as the signed int Java computes."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length // 4
    # The 4-byte blocks unpacked at once: the re-partitioning command hashes every changelog key it reads.
    for k in struct.unpack_from(f"<{whole}I", data):
        k = (k * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    tail = data[whole * 4:]
    if tail:
        h ^= int.from_bytes(tail, "little")
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Java's default partitioner gives a record with this key."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def librdkafka_partitioner(manifest: Manifest) -> str:
    """The `partitioner` setting that makes a librdkafka producer place keys as the manifest says (one partitioner for
    every keyed topic: a producer has one)."""
    used = {topic.partitioner for topic in manifest.topics if topic.partitioner in PARTITIONERS}
    if len(used) != 1:
        raise ValueError(f"the manifest's topics use {len(used)} partitioners ({', '.join(sorted(used))}); a producer"
                         " can follow only one")
    return LIBRDKAFKA[used.pop()]


@dataclass(frozen=True)
class CoPartitioned:
    """Topics whose partition p belongs to one owner: the same key bytes for a user, the same partitioner and the
    same partition count, so a user's records of all of them meet in one partition's state."""

    name: str  # how people and `make repartition GROUP=...` call it
    topics: tuple[str, ...]
    why: str
