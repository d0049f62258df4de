"""Provisioning is idempotent and refuses edited or incompatible versions with the registry's reason."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from contracts.manifest import load_manifest
from contracts.provision import ProvisioningError, provision
from contracts.registry import Registry

V1 = {
    "type": "record", "name": "Probe", "namespace": "test", "doc": "A probe record.",
    "fields": [{"name": "count", "type": "int", "doc": "A count."}],
}
# Renaming the only field without an alias breaks both directions: FULL_TRANSITIVE must refuse it.
V2_INCOMPATIBLE = {**V1, "fields": [{"name": "total", "type": "int", "doc": "A total."}]}
V2_COMPATIBLE = {**V1, "fields": [*V1["fields"], {"name": "note", "type": "string", "default": "", "doc": "A note."}]}


def _manifest(tmp_path: Path, topic: str, *versions: dict) -> Path:
    for family in ("probe_key", "probe_value"):
        (tmp_path / "schemas" / family).mkdir(parents=True, exist_ok=True)
    (tmp_path / "schemas" / "probe_key" / "v1.avsc").write_text(json.dumps(V1))
    for number, schema in enumerate(versions, start=1):
        (tmp_path / "schemas" / "probe_value" / f"v{number}.avsc").write_text(json.dumps(schema))
    path = tmp_path / f"topics-{len(versions)}.toml"
    path.write_text(
        f"""
[dead_letters]
partitions = 1
replication_factor = 1

[[topic]]
name = "{topic}"
dead_letter_topic = "{topic}-dead-letters"
key = "probe_key"
value = "probe_value"
partitioner = "murmur2"
partitions = 1
replication_factor = 1
compatibility = "FULL_TRANSITIVE"
why = "test"
producer = "tests"
consumers = ["tests"]
config = {{ "retention.ms" = "3600000" }}
"""
    )
    return path


@pytest.fixture
def topic() -> str:
    return f"test-provisioning-{uuid.uuid4().hex[:8]}"


def test_a_second_provisioning_run_changes_nothing_and_says_so() -> None:
    first = subprocess.run([sys.executable, "-m", "contracts", "provision"], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    second = subprocess.run([sys.executable, "-m", "contracts", "provision"], capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("nothing to change"), second.stdout


def test_versions_are_registered_in_order_and_a_rerun_is_a_no_op(
    tmp_path: Path, topic: str, admin: AdminClient, registry: Registry
) -> None:
    manifest = load_manifest(_manifest(tmp_path, topic, V1, V2_COMPATIBLE))
    lines: list[str] = []
    assert provision(manifest, admin, registry, lines.append) > 0
    assert registry.versions(f"{topic}-value") == [1, 2]
    assert registry.compatibility(f"{topic}-value") == "FULL_TRANSITIVE"
    assert provision(manifest, admin, registry, lines.append) == 0


def test_an_incompatible_new_version_is_refused_naming_subject_version_and_reason(
    tmp_path: Path, topic: str, admin: AdminClient, registry: Registry
) -> None:
    provision(load_manifest(_manifest(tmp_path, topic, V1)), admin, registry, lambda _: None)
    with pytest.raises(ProvisioningError) as refused:
        provision(load_manifest(_manifest(tmp_path, topic, V1, V2_INCOMPATIBLE)), admin, registry, lambda _: None)
    message = str(refused.value)
    assert f"{topic}-value version 2" in message
    assert "incompatible under FULL_TRANSITIVE" in message
    assert "count" in message or "total" in message  # the registry's reason names the field
    assert registry.versions(f"{topic}-value") == [1]


def test_an_edited_published_version_is_refused(
    tmp_path: Path, topic: str, admin: AdminClient, registry: Registry
) -> None:
    provision(load_manifest(_manifest(tmp_path, topic, V1)), admin, registry, lambda _: None)
    edited = {**V1, "doc": "An edited doc is still an edit."}
    with pytest.raises(ProvisioningError, match=rf"{topic}-value version 1: v1.avsc differs .* immutable"):
        provision(load_manifest(_manifest(tmp_path / "edited", topic, edited)), admin, registry, lambda _: None)
