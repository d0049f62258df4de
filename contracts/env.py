"""Settings every part reads from the environment, with the local stack's addresses as defaults: the contract
tools and provisioning read them here, the services through messaging.settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "METADATA_REFRESH_SECONDS", "PROTOCOLS", "SettingsError", "bootstrap_servers", "credentials_dir", "env_int",
    "kafka_client", "principal_env", "registry_client", "registry_url",
]

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


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


DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


def bootstrap_servers() -> str:
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS", DEFAULT_BOOTSTRAP)


def registry_url() -> str:
    """Any Confluent-API registry (Apicurio's at /apis/ccompat/v7, Confluent's own at its root)."""
    return os.environ.get("SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7")


def registry_client() -> dict[str, str]:
    """SchemaRegistryClient's settings to reach the registry: its URL and, on a secured registry, how to prove who
    we are and whom to trust.

    SCHEMA_REGISTRY_URL, SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO ("user:password" for HTTP basic auth; none when unset)
    and SCHEMA_REGISTRY_SSL_CA_LOCATION (the CA's PEM file for an https URL; the system's CAs when unset): the same
    names in the local stack, in compose and against any other registry.
    """
    config = {"url": registry_url()}
    if user_info := os.environ.get("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"):
        if ":" not in user_info:  # the value is never echoed: it holds a password
            raise SettingsError("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO must be user:password")
        config["basic.auth.user.info"] = user_info
    if authority := os.environ.get("SCHEMA_REGISTRY_SSL_CA_LOCATION"):
        if not Path(authority).exists():
            raise SettingsError(f"SCHEMA_REGISTRY_SSL_CA_LOCATION names {authority}, which does not exist")
        config["ssl.ca.location"] = authority
    return config


# How soon a client learns that a topic grew (librdkafka's default is 5 minutes): a producer places keys by the count
# it knows, and a move to more partitions (messaging/repartition.py) waits this long for every one to know the new.
METADATA_REFRESH_SECONDS = 3


def kafka_client(env: Mapping[str, str] | None = None) -> dict[str, str | int | float | bool]:
    """librdkafka's settings to reach the cluster: its addresses and, on a secured cluster, how to prove who we are,
    from `env` (the process's environment unless given: a principal's credentials file, say).

    KAFKA_SECURITY_PROTOCOL (default PLAINTEXT), KAFKA_SASL_MECHANISM (default SCRAM-SHA-512), KAFKA_SASL_USERNAME,
    KAFKA_SASL_PASSWORD and KAFKA_SSL_CA_LOCATION (the CA's PEM file; the system's CAs when unset): the same names
    in the local stack, in compose and against any other cluster.
    """
    env = os.environ if env is None else env
    protocol = env.get("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT"
    if protocol not in PROTOCOLS:
        raise SettingsError(f"KAFKA_SECURITY_PROTOCOL must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    config: dict[str, str | int | float | bool] = {
        "bootstrap.servers": env.get("KAFKA_BOOTSTRAP_SERVERS", DEFAULT_BOOTSTRAP), "security.protocol": protocol,
        "topic.metadata.refresh.interval.ms": METADATA_REFRESH_SECONDS * 1000}
    if protocol.startswith("SASL_"):
        username, password = env.get("KAFKA_SASL_USERNAME"), env.get("KAFKA_SASL_PASSWORD")
        if not username or not password:
            raise SettingsError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
        config |= {"sasl.mechanism": env.get("KAFKA_SASL_MECHANISM") or "SCRAM-SHA-512",
                   "sasl.username": username, "sasl.password": password}
    if protocol.endswith("SSL") and (authority := env.get("KAFKA_SSL_CA_LOCATION")):
        config["ssl.ca.location"] = authority
    return config


def credentials_dir() -> Path:
    """CREDENTIALS_DIR: where each principal's client settings are kept (<principal>.env and .properties); the
    local stack writes them to var/credentials."""
    return Path(os.environ.get("CREDENTIALS_DIR") or Path(__file__).resolve().parent.parent / "var" / "credentials")


def principal_env(principal: str) -> dict[str, str]:
    """The environment variables that make a process connect as `principal`, from <CREDENTIALS_DIR>/<principal>.env."""
    path = credentials_dir() / f"{principal}.env"
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise SettingsError(f"no credentials for {principal!r}: {path} does not exist (`make up` writes it)") from None
    pairs = (line.split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}
