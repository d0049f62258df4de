"""Settings every part reads from the environment, with the local stack's addresses as defaults: the contract
tools and provisioning read them here, the services through messaging.settings."""

from __future__ import annotations

import os

__all__ = ["SettingsError", "bootstrap_servers", "env_int", "registry_url"]


class SettingsError(ValueError):
    """An environment variable holds something unusable."""


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None


def bootstrap_servers() -> str:
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


def registry_url() -> str:
    """Any Confluent-API registry (Apicurio's at /apis/ccompat/v7, Confluent's own at its root)."""
    return os.environ.get("SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7")
