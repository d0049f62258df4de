"""contracts.compat: whether a schema version may follow the published ones, with the registry's answer (checked
against the live registry) and a reason that names the field; stricter than the registry only where a change reads
without error but changes meaning (decimals rescaled or narrowed, logical types changed), and marked so."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryError

from contracts import load_manifest
from contracts.compat import MODES, NEW_READS_OLD, OLD_READS_NEW, STRICTER_KINDS, STRICTER_NOTE, Reason, Verdict, can_read, check
from contracts.registry import IncompatibleSchema, Registry, RegistryError

ROOT = Path(__file__).resolve().parents[2]
DIRECT = ("BACKWARD", "FORWARD", "FULL")


def payment(*fields: dict, name: str = "Payment", namespace: str = "test.compat", **extra: Any) -> dict:
    """A record with an id and the fields given: the subject of each example change."""
    return {"type": "record", "name": name, "namespace": namespace, "doc": "A payment.",
            "fields": [{"name": "id", "type": "string"}, *fields], **extra}


def f(name: str, type_: Any, **extra: Any) -> dict:
    return {"name": name, "type": type_, **extra}


def status(*symbols: str, **extra: Any) -> dict:
    return {"type": "enum", "name": "Status", "symbols": list(symbols), **extra}


def decimal(precision: int, scale: int) -> dict:
    return {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}


def logical(physical: str, logical_type: str) -> dict:
    return {"type": physical, "logicalType": logical_type}


def invoice(number_type: str) -> dict:
    return payment(f("invoice", ["null", {"type": "record", "name": "Invoice", "fields": [f("number", number_type)]}],
                     default=None))


def lines(*line_fields: dict) -> dict:
    return payment(f("lines", {"type": "array", "items": {"type": "record", "name": "Line",
                                                            "fields": [f("quantity", "int"), *line_fields]}}))


BOTH = (NEW_READS_OLD, OLD_READS_NEW)


@dataclass(frozen=True)
class Change:
    """v1 -> candidate, whether each of BACKWARD, FORWARD, FULL accepts it, the field a refusal names, and the
    directions refused only where we are stricter than the registry (it reads without error but changes meaning)."""

    name: str
    old: dict
    new: dict
    backward: bool
    forward: bool
    names: dict[str, str | None] = field(default_factory=dict)  # direction -> field the reason names
    ours: tuple[str, ...] = ()  # directions the registry accepts and we refuse

    @property
    def expected(self) -> dict[str, bool]:
        return {"BACKWARD": self.backward, "FORWARD": self.forward, "FULL": self.backward and self.forward}

    @property
    def registry_expects(self) -> dict[str, bool]:
        backward, forward = self.backward or NEW_READS_OLD in self.ours, self.forward or OLD_READS_NEW in self.ours
        return {"BACKWARD": backward, "FORWARD": forward, "FULL": backward and forward}


CHANGES = [
    Change("field removed without default", payment(f("note", "string")), payment(), True, False,
           {OLD_READS_NEW: "note"}),
    Change("field added without default", payment(), payment(f("note", "string")), False, True,
           {NEW_READS_OLD: "note"}),
    Change("optional field with default added", payment(), payment(f("note", ["null", "string"], default=None)),
           True, True),
    Change("type narrowed long to int", payment(f("amount", "long")), payment(f("amount", "int")), False, True,
           {NEW_READS_OLD: "amount"}),
    Change("type promoted int to long", payment(f("amount", "int")), payment(f("amount", "long")), True, False,
           {OLD_READS_NEW: "amount"}),
    Change("type promoted long to double", payment(f("amount", "long")), payment(f("amount", "double")), True, False,
           {OLD_READS_NEW: "amount"}),
    Change("string to bytes and back", payment(f("memo", "string")), payment(f("memo", "bytes")), True, True),
    Change("enum symbol removed", payment(f("status", status("OPEN", "PAID", "VOID"))),
           payment(f("status", status("OPEN", "PAID"))), False, True, {NEW_READS_OLD: "status"}),
    Change("enum symbol removed, the reader's enum has a default", payment(f("status", status("OPEN", "PAID", "VOID"))),
           payment(f("status", status("OPEN", "PAID", default="OPEN"))), True, True),
    Change("enum symbol added", payment(f("status", status("OPEN", "PAID"))),
           payment(f("status", status("OPEN", "PAID", "VOID"))), True, False, {OLD_READS_NEW: "status"}),
    Change("enum symbol added, the old enum has a default",
           payment(f("status", status("OPEN", "PAID", default="OPEN"))),
           payment(f("status", status("OPEN", "PAID", "VOID", default="OPEN"))), True, True),
    Change("union branch dropped", payment(f("ref", ["null", "string", "long"])), payment(f("ref", ["null", "string"])),
           False, True, {NEW_READS_OLD: "ref"}),
    Change("union branch added", payment(f("ref", ["null", "string"])), payment(f("ref", ["null", "string", "long"])),
           True, False, {OLD_READS_NEW: "ref"}),
    Change("field made optional", payment(f("ref", "string")), payment(f("ref", ["null", "string"])), True, False,
           {OLD_READS_NEW: "ref"}),
    Change("field renamed without alias", payment(f("amount", "long")), payment(f("total", "long")), False, False,
           {NEW_READS_OLD: "total", OLD_READS_NEW: "amount"}),
    Change("field renamed with an alias on the reader", payment(f("amount", "long")),
           payment(f("total", "long", aliases=["amount"])), True, False, {OLD_READS_NEW: "amount"}),
    Change("record renamed with an unqualified alias", payment(), payment(name="Settlement", aliases=["Payment"]),
           True, False, {OLD_READS_NEW: None}),
    Change("record renamed without alias", payment(), payment(name="Settlement"), False, False,
           {NEW_READS_OLD: None, OLD_READS_NEW: None}),
    Change("namespace changed", payment(), payment(namespace="test.other"), True, True),
    Change("nested field in an optional record narrowed", invoice("long"), invoice("int"), False, True,
           {NEW_READS_OLD: "invoice.number"}),
    Change("field added without default in array items", lines(), lines(f("sku", "string")), False, True,
           {NEW_READS_OLD: "lines.sku"}),
    # Where a change reads without error but changes meaning: the registry accepts it, we refuse it.
    Change("decimal rescaled", payment(f("amount", decimal(12, 2))), payment(f("amount", decimal(12, 3))),
           False, False, {NEW_READS_OLD: "amount", OLD_READS_NEW: "amount"}, BOTH),
    Change("decimal precision grown at the same scale", payment(f("amount", decimal(12, 2))),
           payment(f("amount", decimal(14, 2))), True, False, {OLD_READS_NEW: "amount"}, (OLD_READS_NEW,)),
    Change("decimal precision shrunk at the same scale", payment(f("amount", decimal(14, 2))),
           payment(f("amount", decimal(12, 2))), False, True, {NEW_READS_OLD: "amount"}, (NEW_READS_OLD,)),
    Change("timestamp-millis to timestamp-micros", payment(f("at", logical("long", "timestamp-millis"))),
           payment(f("at", logical("long", "timestamp-micros"))), False, False, {NEW_READS_OLD: "at", OLD_READS_NEW: "at"},
           BOTH),
    Change("local-timestamp-millis to timestamp-millis", payment(f("at", logical("long", "local-timestamp-millis"))),
           payment(f("at", logical("long", "timestamp-millis"))), False, False, {NEW_READS_OLD: "at", OLD_READS_NEW: "at"},
           BOTH),
    Change("date to a plain int", payment(f("on", logical("int", "date"))), payment(f("on", "int")), False, False,
           {NEW_READS_OLD: "on", OLD_READS_NEW: "on"}, BOTH),
    Change("time-millis to time-micros (int promoted to long)", payment(f("at", logical("int", "time-millis"))),
           payment(f("at", logical("long", "time-micros"))), False, False, {NEW_READS_OLD: "at", OLD_READS_NEW: "at"},
           (NEW_READS_OLD,)),  # old readers cannot read a long as an int at all: the registry refuses that too
    Change("timestamp in an optional field to another unit",
           payment(f("at", ["null", logical("long", "timestamp-millis")], default=None)),
           payment(f("at", ["null", logical("long", "timestamp-micros")], default=None)), False, False,
           {NEW_READS_OLD: "at", OLD_READS_NEW: "at"}, BOTH),
    # Logical types that change nothing a reader sees: uuid text is the same text; Java ignores one on the wrong type.
    Change("uuid added to a string", payment(f("ref", "string")), payment(f("ref", logical("string", "uuid"))),
           True, True),
    Change("a logical type Java ignores added", payment(f("n", "int")), payment(f("n", logical("int", "timestamp-millis"))),
           True, True),
]


@pytest.mark.parametrize("change", CHANGES, ids=lambda change: change.name)
def test_each_known_change_is_judged_in_every_mode_with_a_reason_naming_the_field(change: Change) -> None:
    for mode in DIRECT:
        verdict = check(mode, change.new, [change.old])
        assert verdict.compatible is change.expected[mode], (mode, verdict.reasons)
        transitive = check(f"{mode}_TRANSITIVE", change.new, [change.old])  # one previous version: the same
        assert (transitive.compatible, transitive.reasons) == (verdict.compatible, verdict.reasons)
        directions = {"BACKWARD": {NEW_READS_OLD}, "FORWARD": {OLD_READS_NEW}, "FULL": {NEW_READS_OLD, OLD_READS_NEW}}
        assert {r.direction for r in verdict.reasons} <= directions[mode]
        for direction, name in change.names.items():
            if direction not in directions[mode]:
                continue
            named = [r for r in verdict.reasons if r.direction == direction]
            assert named and all(r.field == name and r.against == 1 for r in named), (mode, named)
            assert all(name in r.message for r in named if name), named
            assert all(r.stricter_than_registry is (r.kind in STRICTER_KINDS) for r in named)
            assert all(r.kind in STRICTER_KINDS for r in named) is (direction in change.ours), (mode, named)
        assert verdict.stricter_than_registry is (not verdict.compatible and change.registry_expects[mode])
    assert check("NONE", change.new, [change.old]) == Verdict("NONE", True, ())


def test_a_decimal_rescale_is_refused_in_every_mode_but_none_and_marked_stricter_than_the_registry() -> None:
    change = next(c for c in CHANGES if c.name == "decimal rescaled")
    for mode in MODES:
        verdict = check(mode, change.new, [change.old])
        assert verdict.compatible is (mode == "NONE")
        assert all(r.kind == "DECIMAL_RESCALED" and r.stricter_than_registry for r in verdict.reasons)
    (reason,) = can_read(change.new, change.old)
    assert reason.path == "/fields/1/type" and "12.34" in reason.message and "1.234" in reason.message


def test_a_decimal_may_gain_precision_at_the_same_scale_where_only_new_readers_read_it() -> None:
    """Every value of decimal(12,2) fits decimal(14,2): upgraded consumers read old data. Old consumers would be
    given values of 14 digits they declare they cannot hold, so FORWARD and FULL still refuse it."""
    old, new = payment(f("amount", decimal(12, 2))), payment(f("amount", decimal(14, 2)))
    assert check("BACKWARD_TRANSITIVE", new, [old]).compatible
    assert can_read(new, old) == []
    (reason,) = can_read(old, new)
    assert (reason.kind, reason.field, reason.stricter_than_registry) == ("DECIMAL_PRECISION_NARROWED", "amount", True)
    assert "999999999999.99" in reason.message and "precision 14" in reason.message
    assert check("FULL", new, [old]).stricter_than_registry


def test_timestamp_millis_to_micros_on_invoice_request_is_refused_under_full_and_the_registry_accepts_it(
        registry: Registry) -> None:
    """The issue's case: requested_at read as microseconds is 1000 times closer to 1970 than written."""
    v1 = json.loads((ROOT / "contracts/schemas/invoice_request/v1.avsc").read_text())
    v2 = json.loads(json.dumps(v1))
    requested_at = next(f for f in v2["fields"] if f["name"] == "requested_at")
    requested_at["type"]["logicalType"] = "timestamp-micros"
    verdict = check("FULL", v2, [v1])
    assert not verdict.compatible and verdict.stricter_than_registry
    assert {(r.direction, r.field, r.kind) for r in verdict.reasons} == {
        (NEW_READS_OLD, "requested_at", "LOGICAL_TYPE_CHANGED"), (OLD_READS_NEW, "requested_at", "LOGICAL_TYPE_CHANGED")}
    assert all("timestamp-millis" in r.message and "timestamp-micros" in r.message for r in verdict.reasons)
    assert not check("FULL_TRANSITIVE", v2, [v1]).compatible
    with _subject(registry, v1, "FULL") as subject:
        assert registry.is_compatible(subject, json.dumps(v2))


def test_a_reason_inside_an_optional_record_gives_the_dotted_field_and_avros_path() -> None:
    v1 = json.loads((ROOT / "contracts/schemas/invoice_reply/v1.avsc").read_text())
    v2 = json.loads(json.dumps(v1))
    v2["fields"][3]["type"][1]["fields"][0]["type"] = "int"  # invoice.number: long -> int
    (reason,) = check("BACKWARD", v2, [v1]).reasons
    assert (reason.field, reason.kind) == ("invoice.number", "TYPE_MISMATCH")
    assert reason.path == "/fields/3/type/1/fields/0/type"  # avro's path: field 3, its union's branch 1, ...
    lines_ = v2["fields"][3]["type"][1]["fields"][3]["type"]["items"]["fields"]
    lines_[1]["type"]["scale"] = 2  # invoice.lines.quantity rescaled too
    fields = {r.field for r in check("FULL", v2, [v1]).reasons}
    assert fields == {"invoice.number", "invoice.lines.quantity"}


def test_a_writer_union_is_explained_branch_by_branch() -> None:
    """avro's checker loses the location of a writer branch the reader cannot take; Java indexes it."""
    reasons = can_read(payment(f("ref", "string")), payment(f("ref", ["null", "string", "long"])))
    assert [(r.path, r.field, r.kind) for r in reasons] == [
        ("/fields/1/type/0", "ref", "TYPE_MISMATCH"), ("/fields/1/type/2", "ref", "TYPE_MISMATCH")]


def test_a_reader_field_matching_two_writer_fields_is_incompatible_as_confluent_says(registry: Registry) -> None:
    """Java's lookupWriterField throws when a reader field matches one writer field by name and another by
    alias; Confluent reports the exception as incompatible, Apicurio answers 422. avro's checker takes the first."""
    old = payment(f("amount", "long"), f("total", "long"))
    new = payment(f("amount", "long", aliases=["total"]), f("total", "long"))
    verdict = check("BACKWARD", new, [old])
    assert not verdict.compatible
    assert [(r.field, r.kind, r.stricter_than_registry) for r in verdict.reasons] == [
        ("amount", "AMBIGUOUS_FIELD_MATCH", False)]
    with _subject(registry, old, "BACKWARD") as subject:
        with pytest.raises(RegistryError, match="answered 422"):  # Apicurio's answer; Confluent's is is_compatible: false
            registry.is_compatible(subject, json.dumps(new))


def test_a_default_that_does_not_fit_its_field_makes_the_schema_invalid_as_in_the_registry(registry: Registry) -> None:
    """Java's parser validates defaults (avro's does not): the registry refuses such a schema with 422."""
    bad = payment(f("count", "int", default=None))
    with pytest.raises(ValueError, match="default of test.compat.Payment.count"):
        check("BACKWARD", bad, [payment()])
    # As Java Avro 1.12 (and the registry): any union branch may fit the default, NaN is a double.
    fine = (f("count", ["null", "int"], default=3), f("ratio", "double", default="NaN"), f("n", "long", default=1))
    assert all(check("NONE", payment(one), []).compatible for one in fine)
    with _subject(registry, payment(), "BACKWARD") as subject:
        with pytest.raises(RegistryError, match="answered 422"):
            registry.is_compatible(subject, json.dumps(bad))


@pytest.mark.parametrize("change", CHANGES, ids=lambda change: change.name)
def test_each_known_change_gets_the_live_registrys_answer_but_where_we_are_marked_stricter(
        registry: Registry, change: Change) -> None:
    """Our verdict is the registry's once our stricter reasons are set aside: where those alone refuse a change, the
    registry accepts it and the verdict says so."""
    with _subject(registry, change.old, "BACKWARD") as subject:
        for mode in DIRECT:
            registry.set_compatibility(mode, subject)
            answer = registry.is_compatible(subject, json.dumps(change.new))
            verdict = check(mode, change.new, [change.old])
            assert answer is change.registry_expects[mode], mode  # the registry agrees with the table above too
            assert all(r.stricter_than_registry for r in verdict.reasons) is answer, (mode, verdict.reasons)
            assert verdict.stricter_than_registry is (answer and not verdict.compatible), mode


def test_a_version_compatible_with_the_latest_only_passes_full_and_fails_full_transitive(registry: Registry) -> None:
    v1 = payment()
    v2 = payment(f("note", "string", default=""))
    v3 = payment(f("note", "string"))  # the default dropped: v1's data has no note to read
    assert check("FULL", v3, [v1, v2]).compatible
    verdict = check("FULL_TRANSITIVE", v3, [v1, v2])
    assert not verdict.compatible
    assert [(r.against, r.direction, r.field) for r in verdict.reasons] == [(1, NEW_READS_OLD, "note")]
    assert check("BACKWARD_TRANSITIVE", v3, [v1, v2]).reasons == verdict.reasons
    assert check("FORWARD_TRANSITIVE", v3, [v1, v2]).compatible
    with _subject(registry, v1, "FULL") as subject:
        registry.register(subject, json.dumps(v2))
        assert registry.is_compatible(subject, json.dumps(v3))  # FULL: against the latest, v2
        registry.set_compatibility("FULL_TRANSITIVE", subject)
        # As on Confluent, POST .../versions/{version} judges against that one version whatever the level (so
        # .../versions/latest still says yes); the level's transitivity shows in registering and in .../versions.
        assert not registry.is_compatible(subject, json.dumps(v3), 1)
        assert registry.is_compatible(subject, json.dumps(v3), 2)
        assert not registry.client.test_compatibility_all_versions(subject, Schema(json.dumps(v3), "AVRO"))
        with pytest.raises(IncompatibleSchema):
            registry.register(subject, json.dumps(v3))


def test_no_previous_version_and_mode_none_are_always_compatible() -> None:
    for mode in MODES:
        assert check(mode, payment(), []).compatible
    assert check("NONE", payment(f("amount", "int")), [payment(f("amount", "string"))]).compatible


@pytest.mark.parametrize("bad, problem", [
    ("{", "not JSON"), ("42", "not a valid Avro schema"), ({"type": "record", "name": "R"}, "not a valid Avro schema"),
])
def test_unreadable_schemas_and_unknown_modes_raise_value_error(bad: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check("BACKWARD", bad, [])
    with pytest.raises(ValueError, match=problem):
        check("BACKWARD", payment(), [payment(), bad])
    with pytest.raises(ValueError, match="unknown compatibility mode 'SIDEWAYS'"):
        check("SIDEWAYS", payment(), [])


def test_every_manifest_subject_is_compatible_with_its_earlier_versions_under_its_level() -> None:
    for subject in load_manifest().subjects:
        for n, version in enumerate(subject.versions):
            earlier = [v.text for v in subject.versions[:n]]
            verdict = check(subject.compatibility, version.text, earlier)
            assert verdict.compatible, (subject.name, version.version, verdict.reasons)
            assert check("FULL_TRANSITIVE", version.text, [version.text]).compatible  # each reads itself


def test_the_reason_type_carries_the_documented_fields() -> None:
    (reason,) = check("BACKWARD", payment(f("note", "string")), [payment()]).reasons
    assert reason == Reason(1, NEW_READS_OLD, "/fields/1", "note", "READER_FIELD_MISSING_DEFAULT_VALUE",
                            reason.message, False)
    document = check("BACKWARD", payment(f("note", "string")), [payment()]).to_json()
    assert document == {"mode": "BACKWARD", "compatible": False, "stricter_than_registry": False, "reasons": [{
        "against": 1, "direction": NEW_READS_OLD, "path": "/fields/1", "field": "note",
        "kind": "READER_FIELD_MISSING_DEFAULT_VALUE", "message": reason.message, "stricter_than_registry": False}]}


# The command line, run as a user would.

def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "contracts", "compat", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def _write(tmp_path: Path, name: str, schema: dict | str) -> Path:
    path = tmp_path / name
    path.write_text(schema if isinstance(schema, str) else json.dumps(schema))
    return path


def test_the_cli_exits_0_when_compatible_and_1_when_not_with_one_line_per_reason(tmp_path: Path) -> None:
    v1 = _write(tmp_path, "v1.avsc", payment(f("amount", "long")))
    v2 = _write(tmp_path, "v2.avsc", payment(f("amount", "long"), f("note", ["null", "string"], default=None)))
    v3 = _write(tmp_path, "v3.avsc", payment(f("amount", "int"), f("note", ["null", "string"], default=None)))
    ok = _cli("--mode", "FULL_TRANSITIVE", v2, v1)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("compatible under FULL_TRANSITIVE")
    broken = _cli("--mode", "BACKWARD_TRANSITIVE", v3, v1, v2)
    assert broken.returncode == 1, broken.stderr
    verdict, *reasons = broken.stdout.splitlines()
    assert verdict.startswith("incompatible under BACKWARD_TRANSITIVE")
    assert len(reasons) == 2 and all("(amount)" in line and "TYPE_MISMATCH" in line for line in reasons)
    assert str(v1) in reasons[0] and str(v2) in reasons[1]


def test_the_cli_json_output_lists_each_reason_with_its_field(tmp_path: Path) -> None:
    v1 = _write(tmp_path, "v1.avsc", payment(f("amount", decimal(12, 2))))
    v2 = _write(tmp_path, "v2.avsc", payment(f("amount", decimal(12, 3)), f("note", "string")))
    result = _cli("--mode", "FULL", "--json", v2, v1)
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert (document["mode"], document["compatible"], document["stricter_than_registry"]) == ("FULL", False, False)
    assert {(r["field"], r["kind"], r["direction"], r["stricter_than_registry"], r["against"])
            for r in document["reasons"]} == {
        ("amount", "DECIMAL_RESCALED", NEW_READS_OLD, True, 1), ("amount", "DECIMAL_RESCALED", OLD_READS_NEW, True, 1),
        ("note", "READER_FIELD_MISSING_DEFAULT_VALUE", NEW_READS_OLD, False, 1)}
    assert all(set(r) == {"against", "direction", "path", "field", "kind", "message", "stricter_than_registry"}
               for r in document["reasons"])


def test_the_cli_marks_a_verdict_only_our_stricter_rules_give_and_each_reason(tmp_path: Path) -> None:
    v1 = _write(tmp_path, "v1.avsc", payment(f("at", logical("long", "timestamp-millis"))))
    v2 = _write(tmp_path, "v2.avsc", payment(f("at", logical("long", "timestamp-micros"))))
    result = _cli("--mode", "FULL", v2, v1)
    assert result.returncode == 1, result.stderr
    verdict, *reasons = result.stdout.splitlines()
    assert verdict == f"incompatible under FULL ({STRICTER_NOTE}): {v2} may not follow {v1}"
    assert len(reasons) == 2 and all("(at): LOGICAL_TYPE_CHANGED" in line for line in reasons)
    assert all(line.endswith(f"[{STRICTER_NOTE}]") for line in reasons)
    document = json.loads(_cli("--mode", "FULL", "--json", v2, v1).stdout)
    assert document["stricter_than_registry"] is True and all(r["stricter_than_registry"] for r in document["reasons"])
    grown = _write(tmp_path, "grown.avsc", payment(f("at", logical("long", "timestamp-millis")), f("n", "int", default=0)))
    assert _cli("--mode", "FULL", grown, v1).stdout.startswith("compatible under FULL")


@pytest.mark.parametrize("content, problem", [
    (None, "cannot be read"), ("{not json", "not JSON"), ('{"type": "record", "name": "R"}', "not a valid Avro schema"),
    (json.dumps(payment(f("count", "int", default="x"))), "does not fit its type int"),
])
def test_the_cli_exits_2_naming_the_file_it_cannot_read(tmp_path: Path, content: str | None, problem: str) -> None:
    good = _write(tmp_path, "v1.avsc", payment())
    bad = tmp_path / "v2.avsc" if content is None else _write(tmp_path, "v2.avsc", content)
    for args in ([bad, good], [good, bad]):
        result = _cli("--mode", "BACKWARD", *args)
        assert result.returncode == 2
        assert result.stdout == ""
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"error: {bad}: ") and problem in line


def test_the_cli_exits_2_on_a_type_defined_twice_with_other_aliases_and_says_the_registry_takes_it(tmp_path: Path) -> None:
    tag = {"type": "record", "name": "Tag", "fields": [{"name": "text", "type": "string"}]}
    twice = _write(tmp_path, "v2.avsc", payment(f("first", tag), f("second", {**tag, "aliases": ["Label"]})))
    result = _cli("--mode", "FULL", twice, _write(tmp_path, "v1.avsc", payment()))
    assert result.returncode == 2
    assert result.stderr.strip().endswith(f"define it once (CONTRACT104 type-defined-twice: {STRICTER_NOTE})")


def test_the_cli_exits_2_on_an_unknown_mode(tmp_path: Path) -> None:
    result = _cli("--mode", "SIDEWAYS", _write(tmp_path, "v1.avsc", payment()))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: unknown compatibility mode 'SIDEWAYS': expected one of {', '.join(MODES)}"


# The live registry: a fresh subject per question, set to the level asked, removed afterwards.

@contextmanager
def _subject(registry: Registry, v1: dict, mode: str) -> Iterator[str]:
    subject = f"test-compat-{uuid.uuid4().hex}"
    try:
        # Apicurio's ccompat answers 404 to PUT /config/{subject} before the subject exists: register first.
        registry.register(subject, json.dumps(v1))
        registry.set_compatibility(mode, subject)
        yield subject
    finally:
        for permanent in (False, True):  # soft, then hard: leave nothing behind (and hide no failure above)
            with suppress(SchemaRegistryError):
                registry.client.delete_subject(subject, permanent)

