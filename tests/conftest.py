"""Fixtures shared by the tests that cross a process boundary: the real broker and registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient

from contracts import Manifest, load_manifest
from contracts.registry import Registry
from messaging.settings import Settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
def manifest() -> Manifest:
    return load_manifest()


@pytest.fixture(scope="session")
def admin(settings: Settings) -> AdminClient:
    client = AdminClient({**settings.kafka_client})
    try:
        client.list_topics(timeout=10)
    except Exception as error:  # a missing stack is a failure to report, never a skip
        pytest.fail(f"no Kafka broker at {settings.bootstrap_servers} ({error}); run `make up` first")
    return client


@pytest.fixture(scope="session")
def registry(settings: Settings) -> Iterator[Registry]:
    client = Registry(settings.registry_client)
    client.subjects()  # fails loudly when the registry is not there
    yield client
    client.close()
