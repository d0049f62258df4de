"""Properties every subject in the manifest must have, against the live registry.

1. round trip: any valid value survives the project's serializer and deserializer (Confluent wire format);
2. evolution: for every pair of versions the subject's level promises to be compatible, data written with
   one decodes with the other, shared fields keeping their values and new ones taking their defaults;
3. the compatibility checker agrees with those results and with the registry's own verdicts;
4. every record and field has a doc, names follow one convention, and defaults are valid.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from itertools import combinations
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

from contracts import Subject, load_manifest
from contracts.compat import check
from contracts.registry import Registry
from messaging.serde import Codec, WriterSchemas
from messaging.settings import Settings
from tests.contract.evolution import expected_read
from tests.contract.strategies import from_schema

SUBJECTS = load_manifest().subjects
FAST = hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def promised_pairs(subject: Subject) -> list[tuple[int, int]]:
    """(writer version, reader version) pairs the subject's level promises can be read."""
    level = subject.compatibility
    pairs = []
    for older, newer in combinations([v.version for v in subject.versions], 2):
        if not level.endswith("_TRANSITIVE") and newer - older > 1:
            continue
        if level.startswith(("BACKWARD", "FULL")):
            pairs.append((older, newer))  # new readers read old data
        if level.startswith(("FORWARD", "FULL")):
            pairs.append((newer, older))  # old readers read new data
    return pairs


@pytest.fixture(scope="module")
def writers() -> Iterator[WriterSchemas]:
    registry = Registry(Settings.from_env().registry_client)
    yield WriterSchemas(registry)
    registry.close()


def codec(subject: Subject, version: int, writers: WriterSchemas) -> Codec:
    return Codec(subject, subject.versions[version - 1], writers)


@pytest.mark.parametrize(
    ("subject", "version"),
    [(s, v.version) for s in SUBJECTS for v in s.versions],
    ids=lambda x: x.name if isinstance(x, Subject) else f"v{x}",
)
def test_every_valid_value_round_trips_through_the_wire_format(subject: Subject, version: int, writers: WriterSchemas) -> None:
    own = codec(subject, version, writers)

    @FAST
    @given(from_schema(subject.versions[version - 1].schema))
    def round_trip(value: Any) -> None:
        data = own.encode(value)
        assert data[0] == 0 and int.from_bytes(data[1:5], "big") == own.schema_id
        assert own.decode(data) == value

    round_trip()


EVOLUTION = [(s, w, r) for s in SUBJECTS for w, r in promised_pairs(s)]


@pytest.mark.parametrize(("subject", "writer", "reader"), EVOLUTION, ids=[f"{s.name}-v{w}-read-by-v{r}" for s, w, r in EVOLUTION])
def test_data_written_with_one_version_decodes_with_every_promised_reader(
    subject: Subject, writer: int, reader: int, writers: WriterSchemas
) -> None:
    write, read = codec(subject, writer, writers), codec(subject, reader, writers)
    writer_schema, reader_schema = subject.versions[writer - 1].schema, subject.versions[reader - 1].schema

    @FAST
    @given(from_schema(writer_schema))
    def evolves(value: Any) -> None:
        assert read.decode(write.encode(value)) == expected_read(value, writer_schema, reader_schema)

    evolves()


def test_there_is_an_evolution_to_check() -> None:
    assert EVOLUTION, "no subject has two versions yet"


@pytest.mark.parametrize("subject", SUBJECTS, ids=lambda s: s.name)
def test_the_checker_agrees_with_the_level_and_with_the_registry(subject: Subject) -> None:
    registry = Registry(Settings.from_env().registry_client)
    try:
        texts = [v.text for v in subject.versions]
        for index in range(1, len(texts)):
            # Ours, with the subject's own level, against the whole history: what provisioning relied on.
            assert check(subject.compatibility, texts[index], texts[:index]).compatible
            for earlier in range(index):
                # The registry answers for one registered version at a time, non-transitively.
                single = subject.compatibility.removesuffix("_TRANSITIVE")
                ours = check(single, texts[index], [texts[earlier]]).compatible
                theirs = registry.is_compatible(subject.name, texts[index], earlier + 1)
                assert ours == theirs, f"{subject.name}: v{index + 1} against v{earlier + 1}"
    finally:
        registry.close()


RECORD_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
FIELD_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
SYMBOL = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")


def _named_types(schema: Any) -> Iterator[dict[str, Any]]:
    if isinstance(schema, list):
        for branch in schema:
            yield from _named_types(branch)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed"):
            yield schema
        for key in ("items", "values"):
            if key in schema:
                yield from _named_types(schema[key])
        for field in schema.get("fields", []):
            yield from _named_types(field["type"])


@pytest.mark.parametrize(
    "version", [v for s in SUBJECTS for v in s.versions], ids=lambda v: f"{v.path.parent.name}-v{v.version}"
)
def test_every_record_and_field_has_a_doc_a_conventional_name_and_a_valid_default(version) -> None:
    for named in _named_types(version.schema):
        assert RECORD_NAME.match(named["name"]), f"{named['name']}: type names are PascalCase"
        assert named.get("doc"), f"{named['name']} has no doc"
        for symbol in named.get("symbols", []):
            assert SYMBOL.match(symbol), f"{named['name']}.{symbol}: enum symbols are UPPER_SNAKE_CASE"
        for field in named.get("fields", []):
            where = f"{named['name']}.{field['name']}"
            assert FIELD_NAME.match(field["name"]), f"{where}: field names are snake_case"
            assert field.get("doc"), f"{where} has no doc"
    # The checker parses like Java Avro 1.12, which refuses a default that does not fit its field's type.
    check("NONE", version.text, [])


def _record(*fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "record", "name": "Probe", "doc": "d", "fields": [{"doc": "d", **f} for f in fields]}


BREAKING = {
    "field added without default": (_record({"name": "a", "type": "int"}),
                                     _record({"name": "a", "type": "int"}, {"name": "b", "type": "int"})),
    "type narrowed": (_record({"name": "a", "type": "long"}), _record({"name": "a", "type": "int"})),
    "renamed without alias": (_record({"name": "a", "type": "int"}), _record({"name": "b", "type": "int"})),
    "enum symbol removed": (_record({"name": "e", "type": {"type": "enum", "name": "E", "doc": "d", "symbols": ["X", "Y"]}}),
                            _record({"name": "e", "type": {"type": "enum", "name": "E", "doc": "d", "symbols": ["X"]}})),
}
# A rescaled decimal is missing here on purpose: fastavro decodes it with the writer's scale, so Python
# readers see the right value, but the Avro specification (and Java's decoder) use the reader's, which
# turns 12.34 into 1.234. The checker refuses it for that reason (tests/contract/test_compat.py).


@pytest.mark.parametrize("change", BREAKING)
def test_where_the_checker_says_backward_incompatible_old_data_really_breaks(change: str) -> None:
    writer, reader = BREAKING[change]
    assert not check("BACKWARD", reader, [writer]).compatible
    write, read = fastavro.parse_schema(writer), fastavro.parse_schema(reader)
    broken = []

    @FAST
    @given(from_schema(writer))
    def decode(value: Any) -> None:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, write, value)
        buffer.seek(0)
        try:
            if fastavro.schemaless_reader(buffer, write, read) != value:
                broken.append(value)  # read, but not the value written (a rescaled decimal)
        except Exception:
            broken.append(value)  # cannot be read at all

    decode()
    assert broken, f"{change}: every generated record still decoded unchanged"
