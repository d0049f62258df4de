"""Connection settings from environment variables, with the local stack's addresses as defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from contracts.env import SettingsError, bootstrap_servers, env_int, kafka_client, registry_client, registry_url

__all__ = ["Settings", "SettingsError", "env_int"]


def _pins(raw: str) -> dict[str, int]:
    """CONTRACT_VERSIONS="invoice_reply=1,score_reply=1" pins schema families to older versions."""
    pins = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        family, _, version = item.partition("=")
        if not version.isdigit():
            raise SettingsError(f"CONTRACT_VERSIONS: expected family=version, got {item!r}")
        pins[family.strip()] = int(version)
    return pins


def _guarantee(raw: str) -> bool:
    if raw not in ("exactly_once", "at_least_once"):
        raise SettingsError(f"PROCESSING_GUARANTEE must be exactly_once or at_least_once, got {raw!r}")
    return raw == "exactly_once"


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str
    registry_url: str
    kafka_client: dict[str, str | int | float | bool] = field(default_factory=dict)  # bootstrap.servers and the security settings
    registry_client: dict[str, str] = field(default_factory=dict)  # the registry's URL and its security settings
    contract_versions: dict[str, int] = field(default_factory=dict)
    instance_id: str | None = None
    state_dir: Path = Path("var/state")  # a worker's partition stores; never shared between processes
    exactly_once: bool = True  # PROCESSING_GUARANTEE: exactly_once (Kafka transactions) or at_least_once

    @classmethod
    def from_env(cls) -> Settings:
        instance_id = os.environ.get("INSTANCE_ID") or None
        return cls(
            bootstrap_servers=bootstrap_servers(),
            registry_url=registry_url(),
            kafka_client=kafka_client(),
            registry_client=registry_client(),
            contract_versions=_pins(os.environ.get("CONTRACT_VERSIONS", "")),
            instance_id=instance_id,
            state_dir=Path(os.environ.get("STATE_DIR") or Path("var/state") / (instance_id or "default")),
            exactly_once=_guarantee(os.environ.get("PROCESSING_GUARANTEE", "exactly_once")),
        )
