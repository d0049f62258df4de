"""`contracts codegen`: the typed records and topic bindings in contracts/records.py, generated from the manifest."""

from __future__ import annotations

import json
import typing
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from contracts import records
from contracts.bindings import Binding
from contracts.cli import main
from contracts.codegen import RECORDS, CodegenError, generate
from contracts.manifest import Manifest, ManifestError, load_manifest

KEY = {"type": "record", "name": "ProbeKey", "namespace": "test", "doc": "Key of a probe.",
       "fields": [{"name": "id", "type": {"type": "string", "logicalType": "uuid"}, "doc": "The probe's id."}]}
PART = {"type": "record", "name": "Part", "doc": "One part.", "fields": [{"name": "name", "type": "string", "doc": "Its name."}]}
PROBE = {"type": "record", "name": "Probe", "namespace": "test", "doc": "A probe with one field of every shape.", "fields": [
    {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}, "doc": "Money."},
    {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}, "doc": "When."},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}, "doc": "Which day."},
    {"name": "kind", "type": {"type": "enum", "name": "Kind", "doc": "What kind.", "symbols": ["SMALL", "LARGE"]},
     "doc": "Its kind."},
    {"name": "note", "type": ["null", "string"], "default": None, "doc": "A note, or null."},
    {"name": "tags", "type": {"type": "array", "items": "string"}, "doc": "Tags."},
    {"name": "counts", "type": {"type": "map", "values": "long"}, "doc": "Counts by name."},
    {"name": "parts", "type": {"type": "array", "items": PART}, "doc": "The parts."},
    {"name": "spare", "type": ["null", "Part"], "default": None, "doc": "A spare part, or null."},
]}


def project(tmp_path: Path, *probe_versions: dict[str, Any], key: dict[str, Any] = KEY) -> Manifest:
    """A manifest of one topic, probe-events, with `key` keys and the given versions of Probe as values."""
    for family, versions in (("probe_key", [key]), ("probe", probe_versions)):
        (tmp_path / "schemas" / family).mkdir(parents=True)
        for number, schema in enumerate(versions, 1):
            (tmp_path / "schemas" / family / f"v{number}.avsc").write_text(json.dumps(schema))
    path = tmp_path / "topics.toml"
    path.write_text("""
[dead_letters]
partitions = 1
replication_factor = 1

[[topic]]
name = "probe-events"
dead_letter_topic = "probe-events-dead-letters"
key = "probe_key"
value = "probe"
partitioner = "murmur2"
partitions = 1
replication_factor = 1
compatibility = "FULL_TRANSITIVE"
why = "test"
producer = "a"
consumers = ["b"]
""")
    return load_manifest(path)


def run(text: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "generated"}
    exec(compile(text, "records.py", "exec"), namespace)
    return namespace


def test_the_generated_module_is_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["codegen", "--check"]) == 0, capsys.readouterr().err
    assert "is up to date" in capsys.readouterr().out


def test_each_avro_record_becomes_a_typeddict_of_what_fastavro_reads(tmp_path: Path) -> None:
    text = generate(project(tmp_path, PROBE))
    assert '''
# What kind.
Kind = Literal["SMALL", "LARGE"]


class Part(TypedDict):
    """One part."""

    # Its name.
    name: str


class Probe(TypedDict):
    """A probe with one field of every shape."""

    # Money.
    amount: Decimal
    # When.
    at: datetime
    # Which day.
    day: date
    # Its kind.
    kind: Kind
    # A note, or null.
    note: str | None
    # Tags.
    tags: list[str]
    # Counts by name.
    counts: dict[str, int]
    # The parts.
    parts: list[Part]
    # A spare part, or null.
    spare: Part | None
''' in text
    assert "    id: Uuid\n" in text and "\nUuid = UUID | str\n" in text
    assert 'PROBE_EVENTS: Binding[ProbeKey, Probe] = Binding("probe-events")' in text
    module = run(text)  # and it is Python whose annotations resolve to those types
    part = module["Part"]
    assert typing.get_type_hints(module["Probe"], module) == {
        "amount": Decimal, "at": datetime, "day": date, "kind": typing.Literal["SMALL", "LARGE"], "note": str | None,
        "tags": list[str], "counts": dict[str, int], "parts": list[part], "spare": part | None,
    }
    assert typing.get_type_hints(module["ProbeKey"], module) == {"id": UUID | str}
    assert module["PROBE_EVENTS"] == Binding("probe-events")


def test_fields_added_after_the_first_version_are_not_required(tmp_path: Path) -> None:
    label = {"name": "label", "type": ["null", "string"], "default": None, "doc": "Added in v2."}
    weight = {"name": "weight", "type": ["null", "double"], "default": None, "doc": "Added in v2."}
    v2 = json.loads(json.dumps(PROBE))
    v2["fields"].append(label)
    v2["fields"][7]["type"]["items"]["fields"].append(weight)
    text = generate(project(tmp_path, PROBE, v2))
    assert "    label: NotRequired[str | None]\n" in text and "    weight: NotRequired[float | None]\n" in text
    assert "    name: str\n" in text and "    amount: Decimal\n" in text
    assert "from typing import Literal, NotRequired, TypedDict\n" in text


def test_the_output_is_the_same_on_every_run(tmp_path: Path) -> None:
    assert generate(project(tmp_path / "one", PROBE)) == generate(project(tmp_path / "two", PROBE))


def test_one_name_for_two_different_records_is_refused(tmp_path: Path) -> None:
    key = {**KEY, "fields": [{"name": "part", "type": {**PART, "fields": []}, "doc": "A Part unlike the value's."}]}
    with pytest.raises(CodegenError, match="probe and probe_key both define Part, differently"):
        generate(project(tmp_path, PROBE, key=key))


def test_check_fails_on_a_stale_module_saying_how_to_fix_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "records.py"
    stale.write_text(RECORDS.read_text(encoding="utf-8").replace("    tax_id: str\n", "", 1), encoding="utf-8")
    assert main(["codegen", "--check", "--out", str(stale)]) == 1
    error = capsys.readouterr().err
    assert f"{stale} is stale" in error and "Run `make codegen`" in error
    assert "+    tax_id: str" in error  # the start of the difference is shown
    assert main(["codegen", "--check", "--out", str(tmp_path / "missing.py")]) == 1
    assert "missing.py is missing" in capsys.readouterr().err


def test_codegen_writes_the_module(tmp_path: Path) -> None:
    out = tmp_path / "records.py"
    assert main(["codegen", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == generate(load_manifest())


def test_every_topic_has_a_binding_typed_with_its_key_and_value_records() -> None:
    manifest = load_manifest()
    bindings = {name: value for name, value in vars(records).items() if isinstance(value, Binding)}
    assert sorted(b.name for b in bindings.values()) == sorted(t.name for t in manifest.topics)
    for constant, binding in bindings.items():
        topic = manifest.topic(binding)
        assert topic.name == binding.name
        key, value = (subject.latest.schema["name"] for subject in topic.subjects)
        assert records.__annotations__[constant] == f"Binding[{key}, {value}]"


def test_a_binding_of_no_manifest_topic_is_refused() -> None:
    with pytest.raises(ManifestError, match="no topic 'nowhere' in the manifest"):
        load_manifest().topic(Binding("nowhere"))
