"""The manifest's links that the AsyncAPI document relies on: a request's reply topic and each service's
consumer group, refused when they contradict the topics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts.bindings import Binding
from contracts.manifest import ManifestError, load_manifest, read_manifest, set_partitions

PROBE = {"type": "record", "name": "Probe", "namespace": "test", "doc": "A probe.",
         "fields": [{"name": "id", "type": "string", "doc": "An id."}]}


def topic(name: str, producer: str, consumers: list[str], extra: str = "") -> str:
    return f"""
[[topic]]
name = "{name}"
dead_letter_topic = "{name}-dead-letters"
key = "probe"
value = "probe"
partitioner = "murmur2"
partitions = 1
replication_factor = 1
compatibility = "FULL_TRANSITIVE"
why = "test"
producer = "{producer}"
consumers = {json.dumps(consumers)}
{extra}
"""


def manifest(tmp_path: Path, text: str) -> Path:
    (tmp_path / "schemas" / "probe").mkdir(parents=True)
    (tmp_path / "schemas" / "probe" / "v1.avsc").write_text(json.dumps(PROBE))
    path = tmp_path / "topics.toml"
    path.write_text("[dead_letters]\npartitions = 1\nreplication_factor = 1\n" + text)
    return path


def test_the_project_manifest_links_requests_to_replies_and_names_every_consumer_group() -> None:
    loaded = load_manifest()
    assert {t.name: t.reply_topic for t in loaded.topics if t.reply_topic} == {
        "generate-invoice": "invoice-generated", "calculate-score": "score-calculated"}
    assert loaded.consumer_groups == {"dashboard": "dashboard", "invoice": "invoice-generator",
                                      "score": "score-calculator"}


def test_a_reply_topic_must_be_written_by_the_requests_consumer_and_read_by_its_producer(tmp_path: Path) -> None:
    text = topic("asks", "web", ["worker"], 'reply_topic = "answers"') + topic("answers", "other", ["web"])
    with pytest.raises(ManifestError, match="its replies on answers must be written by one of its consumers"):
        load_manifest(manifest(tmp_path, text))


def test_a_reply_topic_must_be_a_topic_of_the_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="reply_topic names no topic of the manifest"):
        load_manifest(manifest(tmp_path, topic("asks", "web", ["worker"], 'reply_topic = "nowhere"')))


def test_once_services_are_listed_every_consumer_needs_its_group(tmp_path: Path) -> None:
    text = '[service.worker]\nconsumer_group = "workers"\n' + topic("asks", "web", ["worker", "auditor"])
    with pytest.raises(ManifestError, match="no \\[service.\\*\\] table gives the consumer group of auditor"):
        load_manifest(manifest(tmp_path, text))


def prefixed(path: Path, prefix: str) -> Path:
    path.write_text(f'name_prefix = "{prefix}"\n' + path.read_text())
    return path


def test_a_name_prefix_names_a_second_deployment_of_the_same_contracts(tmp_path: Path) -> None:
    text = (topic("asks", "web", ["worker"], 'reply_topic = "answers"') + topic("answers", "worker", ["web"])
            + '[service.web]\nconsumer_group = "web"\n' + '[service.worker]\nconsumer_group = "workers"\n')
    loaded = load_manifest(prefixed(manifest(tmp_path, text), "second-"))
    assert [t.name for t in loaded.topics] == ["second-asks", "second-answers"]
    assert loaded.named("second-asks").reply_topic == "second-answers"
    assert loaded.named("second-asks").dead_letter_topic == "second-asks-dead-letters"
    assert loaded.named("second-asks").value.name == "second-asks-value"
    assert loaded.consumer_groups == {"web": "second-web", "worker": "second-workers"}
    assert loaded.topic(Binding("asks")).name == "second-asks"


def test_set_partitions_rewrites_only_the_counts_of_the_topics_named(tmp_path: Path) -> None:
    path = prefixed(manifest(tmp_path, topic("one", "web", ["worker"]) + topic("two", "web", ["worker"])), "p-")
    before = path.read_text()
    assert set_partitions(path, ("p-one",), 4)
    assert read_manifest(path).named("p-one").partitions == 4 and read_manifest(path).named("p-two").partitions == 1
    assert path.read_text() == before.replace("partitions = 1", "partitions = 4", 2).replace(
        "[dead_letters]\npartitions = 4", "[dead_letters]\npartitions = 1"), "nothing but the count changed"
    assert not set_partitions(path, ("p-one",), 4)
