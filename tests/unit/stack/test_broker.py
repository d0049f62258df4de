"""The cluster id given to Kafka's storage tool: never one it would read as an option."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack import broker


def test_a_new_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(broker, "STATE", tmp_path)
    made = set()
    for _ in range(2000):  # one random id in 64 starts with "-": 2000 draws meet dozens
        (tmp_path / "kafka" / "cluster.id").unlink(missing_ok=True)
        made.add(broker._cluster_id(1))
    assert len(made) == 2000 and not any(made_id.startswith("-") for made_id in made)
    assert {len(made_id) for made_id in made} == {22}  # Kafka's form: 16 bytes, URL-safe base64, unpadded


def test_a_stored_id_that_starts_with_a_dash_is_replaced_and_a_good_one_kept(monkeypatch: pytest.MonkeyPatch,
                                                                               tmp_path: Path) -> None:
    monkeypatch.setattr(broker, "STATE", tmp_path)
    stored = tmp_path / "kafka" / "cluster.id"
    stored.parent.mkdir()
    stored.write_text("-Xq3a9VHSAqLxZK8u3a1bQ")  # could never have formatted a storage
    replaced = broker._cluster_id(1)
    assert not replaced.startswith("-") and broker._cluster_id(1) == replaced == stored.read_text()
