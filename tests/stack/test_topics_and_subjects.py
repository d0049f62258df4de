"""The stack is up and matches the manifest: topics with their settings, subjects with their versions and levels."""

from __future__ import annotations

import subprocess
import sys

from confluent_kafka.admin import AdminClient, ConfigResource

from contracts import Manifest
from contracts.registry import Registry, same_schema


def test_status_reports_every_component_healthy() -> None:
    result = subprocess.run([sys.executable, "-m", "stack", "status"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "kafka" in result.stdout and "registry" in result.stdout
    assert "unhealthy" not in result.stdout


def test_every_topic_exists_with_the_manifests_partitions_and_settings(manifest: Manifest, admin: AdminClient) -> None:
    topics = admin.list_topics(timeout=10).topics
    for topic in manifest.topics:
        assert topic.name in topics, f"{topic.name} was not created"
        partitions = topics[topic.name].partitions
        assert len(partitions) == topic.partitions
        assert all(len(p.replicas) == topic.replication_factor for p in partitions.values())
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic.name)
        config = admin.describe_configs([resource])[resource].result(timeout=10)
        for key, value in topic.config.items():
            assert config[key].value == value, f"{topic.name}: {key}"


def test_every_subject_holds_the_published_versions_and_level(manifest: Manifest, registry: Registry) -> None:
    for subject in manifest.subjects:
        assert registry.versions(subject.name) == [v.version for v in subject.versions], subject.name
        for published in subject.versions:
            held = registry.schema_text(subject.name, published.version)
            assert same_schema(held, published.text), f"{subject.name} v{published.version}"
        assert registry.compatibility(subject.name) == subject.compatibility


def test_the_registry_enforces_a_global_compatibility_level(registry: Registry) -> None:
    assert registry.compatibility() == "BACKWARD"
