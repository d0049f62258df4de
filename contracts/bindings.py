"""Typed topic bindings: how code names a topic of the manifest, with the record types of its key and value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Binding"]

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class Binding(Generic[K, V]):
    """A manifest topic whose keys are K records and values V records.

    The constants are generated into contracts/records.py (`python -m contracts codegen`); the Topic
    itself, with its subjects and settings, comes from `Manifest.topic(binding)`.
    """

    name: str  # the topic's name in contracts/topics.toml
