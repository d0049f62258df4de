"""What the pages know of the contracts: the manifest, the AsyncAPI document, and what the registry holds.

The registry is asked off the event loop, at most once per CACHE_SECONDS for all the pages together: the Contracts
page would otherwise make two blocking calls per subject per view.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from contracts.asyncapi import document
from contracts.manifest import Manifest
from contracts.provision import Durability
from contracts.registry import RegistryError
from messaging.runtime import Runtime

__all__ = ["CACHE_SECONDS", "Catalog", "Held"]

CACHE_SECONDS = 10.0


@dataclass(frozen=True)
class Held:
    """What the registry holds of one subject; `error` says why it could not be read."""

    versions: list[int]
    level: str | None
    error: str | None = None


class Catalog:
    def __init__(self, runtime: Runtime) -> None:
        self.manifest: Manifest = runtime.manifest
        self.registry_url = runtime.settings.registry_url
        self._registry = runtime.registry
        settings = runtime.settings
        self.asyncapi: dict[str, Any] = document(  # depends on nothing that changes while the process runs
            runtime.manifest, settings.bootstrap_servers, settings.registry_url, Durability.from_env(),
            str(settings.kafka_client["security.protocol"]))
        self._held: dict[str, Held] = {}
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def held(self) -> dict[str, Held]:
        """Each subject's versions and level in the registry, as read within the last CACHE_SECONDS."""
        async with self._lock:  # one reading for every page waiting on it
            if time.monotonic() - self._read_at > CACHE_SECONDS:
                self._held = await asyncio.to_thread(self._read)
                self._read_at = time.monotonic()
            return self._held

    def _read(self) -> dict[str, Held]:
        held = {}
        for subject in self.manifest.subjects:
            try:
                held[subject.name] = Held(self._registry.versions(subject.name), self._registry.compatibility(subject.name))
            except RegistryError as error:
                return {s.name: Held([], None, str(error)) for s in self.manifest.subjects}  # one failure says it all
        return held
