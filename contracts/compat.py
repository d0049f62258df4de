"""May a new schema version follow the published ones? Confluent Schema Registry's answer, with reasons.

avro.compatibility.ReaderWriterCompatibilityChecker (the maintained `avro` package's port of Java's
org.apache.avro.SchemaCompatibility, which Confluent's registry runs) decides whether a reader reads a writer's data.
What this module adds, each where it is done:
- each schema is read as Java's parser reads it (contracts.javaparse: names, aliases, errors, forward references,
  and defaults, which it validates: a bad one is an invalid schema, answered 422);
- a reader field matching two writer fields (by name and by alias), in any pair of records Java's checker compares, is
  refused, as Confluent does (Java throws);
- each reason pairs avro's kind, message and location, which its result keeps in separate, merged sets;
- stricter than the registry, where a change reads without error but changes meaning (Avro resolution keeps the
  number or the bytes and ignores logical types, and so does the registry): a decimal read with another scale or
  with less precision than it was written with, and a number read with another logical type (another unit, clock or
  kind, or one side plain). The verdicts that only these refuse are marked as such (Verdict.stricter_than_registry).
  Also a schema defining a type twice with other aliases or defaults, which Java reads and we cannot (DefinedTwice).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast

import avro.errors
import avro.schema
from avro.compatibility import (
    ReaderWriterCompatibilityChecker,
    SchemaCompatibilityResult,
    SchemaCompatibilityType,
    SchemaIncompatibilityType,
    check_fixed_size,
    check_reader_enum_contains_writer_enum,
    check_schema_names,
    lookup_writer_field,
    schema_name_equals,
)
from avro.schema import DecimalLogicalSchema, NamedSchema

from contracts import javaparse
from contracts.javaparse import DefinedTwice, plain

# The avro package types its schema classes loosely (a union's branches, a record's fields and an array's
# items are attributes of subclasses its functions take as plain Schema): walked here as Any.
Schema = Any

__all__ = ["MODES", "STRICTER_KINDS", "STRICTER_NOTE", "DefinedTwice", "Reason", "Verdict", "can_read", "check"]

MODES: tuple[str, ...] = (
    "NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE",
)
NEW_READS_OLD, OLD_READS_NEW = "new reads old", "old reads new"
_INCOMPATIBLE = SchemaCompatibilityType.incompatible
STRICTER_KINDS = ("DECIMAL_RESCALED", "DECIMAL_PRECISION_NARROWED", "LOGICAL_TYPE_CHANGED", "TYPE_DEFINED_TWICE")
STRICTER_NOTE = "stricter than the registry, which accepts it"  # how every output marks those verdicts and reasons
_OURS = ("AMBIGUOUS_FIELD_MATCH", *STRICTER_KINDS)
# What a number or bytes mean under each logical type that gives them one, on the physical type Java Avro 1.12 takes
# it on (on another type, or unknown, a logical type is ignored: a plain value). uuid is absent: its text or bytes
# read the same without it (the differential test compares this reading with Java's, tests/contract/test_oracle.py).
# Decimals are compared by precision and scale in _decimal.
_MEANING = {
    ("date", "int"): "days since 1970-01-01",
    ("time-millis", "int"): "milliseconds since midnight",
    ("time-micros", "long"): "microseconds since midnight",
    ("timestamp-millis", "long"): "milliseconds since 1970-01-01T00:00Z",
    ("timestamp-micros", "long"): "microseconds since 1970-01-01T00:00Z",
    ("timestamp-nanos", "long"): "nanoseconds since 1970-01-01T00:00Z",
    ("local-timestamp-millis", "long"): "milliseconds since 1970-01-01T00:00 on a local clock, in no time zone",
    ("local-timestamp-micros", "long"): "microseconds since 1970-01-01T00:00 on a local clock, in no time zone",
    ("local-timestamp-nanos", "long"): "nanoseconds since 1970-01-01T00:00 on a local clock, in no time zone",
    ("duration", "fixed"): "months, days and milliseconds",
    ("big-decimal", "bytes"): "a decimal number whose scale is written with its digits",
}
# How avro's kinds read for people: {at} names the field (or the schema), {msg} is avro's own message.
_TEXT = {
    "READER_FIELD_MISSING_DEFAULT_VALUE": "{at} is not in the writer's schema and has no default in the reader's",
    "MISSING_ENUM_SYMBOLS": "{at}: the reader's enum lacks the writer's symbols {msg} and has no default",
    "NAME_MISMATCH": "{at}: the reader's type has another name and no alias for the writer's ({msg})",
}


@dataclass(frozen=True)
class Reason:
    against: int  # 1-based position of the previous schema (its version when given v1..vN); 0 from can_read
    direction: str  # NEW_READS_OLD or OLD_READS_NEW; "" from can_read
    path: str  # where avro locates it, e.g. "/fields/1/type"
    field: str | None  # dotted field path, e.g. "invoice.number", when there is one
    kind: str  # avro's SchemaIncompatibilityType name, upper-cased as Java and Confluent spell it, or one of _OURS
    message: str
    stricter_than_registry: bool  # the registry does not refuse this (kind in STRICTER_KINDS); message says why we do


@dataclass(frozen=True)
class Verdict:
    mode: str
    compatible: bool
    reasons: tuple[Reason, ...]

    @property
    def stricter_than_registry(self) -> bool:
        """Refused only for reasons the registry does not have: the registry would accept this version."""
        return not self.compatible and all(r.stricter_than_registry for r in self.reasons)

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "compatible": self.compatible, "stricter_than_registry": self.stricter_than_registry,
                "reasons": [asdict(r) for r in self.reasons]}


def check(mode: str, new: str | dict[str, Any], previous: Sequence[str | dict[str, Any]]) -> Verdict:
    """Whether `new` may follow `previous` (oldest first) under `mode`, with Confluent's semantics."""
    if mode not in MODES:
        raise ValueError(f"unknown compatibility mode {mode!r}: expected one of {', '.join(MODES)}")
    latest, olds = _parse(new), [_parse(schema) for schema in previous]
    if mode == "NONE" or not olds:
        return Verdict(mode, True, ())
    against = range(1, len(olds) + 1) if mode.endswith("_TRANSITIVE") else [len(olds)]
    reasons: list[Reason] = []
    for n in against:
        if not mode.startswith("FORWARD"):  # BACKWARD, FULL: upgraded consumers read what is already there
            reasons += [replace(r, against=n, direction=NEW_READS_OLD) for r in _can_read(latest, olds[n - 1])]
        if not mode.startswith("BACKWARD"):  # FORWARD, FULL: consumers not yet upgraded read the new data
            reasons += [replace(r, against=n, direction=OLD_READS_NEW) for r in _can_read(olds[n - 1], latest)]
    return Verdict(mode, not reasons, tuple(reasons))


def can_read(reader: str | dict[str, Any], writer: str | dict[str, Any]) -> list[Reason]:
    """Why `reader` cannot read data written with `writer`; empty when it can."""
    return _can_read(_parse(reader), _parse(writer))


def _parse(schema: str | dict[str, Any]) -> Schema:
    return _parse_text(schema if isinstance(schema, str) else json.dumps(schema))


@lru_cache(maxsize=256)  # check() reads the same versions for every mode, the review for every version after them
def _parse_text(text: str) -> Schema:
    try:
        schema = json.loads(text)
    except ValueError as error:
        raise ValueError(f"not JSON: {error}") from None
    try:
        readable, refused = javaparse.for_avro(schema)  # names and defaults as Java's parser, and the registry, read them
        with warnings.catch_warnings():  # like Java, avro reads an invalid logical type as its base type
            warnings.simplefilter("ignore", avro.errors.IgnoredLogicalType)
            parsed = avro.schema.parse(json.dumps(readable))
    except Exception as error:  # avro reports malformed schemas with assorted types (TypeError, KeyError, ...)
        raise ValueError(plain(f"not a valid Avro schema: {error}")) from None
    if refused is not None:
        raise refused  # a schema the registry takes, which we refuse (the review reports it as CONTRACT104)
    return parsed


class _Checker(ReaderWriterCompatibilityChecker):
    """avro's checker, noting where Java's throws: a reader field matching two writer fields, by its name and an alias
    (avro's takes the first). Java's exception ends its whole check, which Confluent answers as incompatible; it may
    come from any pair of records the check compares, a union's branches tried in turn included."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # untyped in the avro package
        self.ambiguous: dict[tuple[int, int], tuple[Schema, Any, list[str]]] = {}  # (reader field, writer) ids -> ...
        self.noting = True  # only while it checks what Java's checks: the walk asks about pairs Java's never compares

    def check_reader_writer_record_fields(self, reader: Schema, writer: Schema, location: list[str]) -> Any:
        for field in reader.fields:
            hits = [n for n in [field.name, *field.props.get("aliases", [])] if n in writer.fields_dict]
            if len(hits) > 1 and self.noting:  # as Java's lookupWriterField counts them
                self.ambiguous.setdefault((id(field), id(writer)), (reader, field, hits))
        return super().check_reader_writer_record_fields(reader, writer, location)


def _checker() -> _Checker:
    return _Checker()


def _can_read(reader: Schema, writer: Schema) -> list[Reason]:
    checker = _checker()  # its memo of pair verdicts serves the whole walk
    verdict = checker.get_compatibility(reader, writer)
    checker.noting = False
    reasons: list[Reason] = []
    _walk(checker, reader, writer, ["/"], None, reasons, frozenset())
    for record, field, hits in checker.ambiguous.values():  # where the walk does not go: a union branch Java tries
        reasons.append(Reason(0, "", "/", None, "AMBIGUOUS_FIELD_MATCH", plain(
            f"field {field.name} of {record.fullname} matches the writer's fields {', '.join(hits)} by its name and "
            "aliases (Java's checker meets it trying a union's branches, and stops)"), False))
    # avro's verdict is the registry's (and Java's exception): the walk explains it and adds our kinds, never overrules it.
    ours = [r for r in reasons if r.kind in _OURS]
    if verdict.compatibility is not _INCOMPATIBLE:
        return ours
    return reasons if len(reasons) > len(ours) else _reasons(verdict, None) + ours


def _walk(checker: _Checker, r: Schema, w: Schema, loc: list[str], field: str | None, out: list[Reason],
          seen: frozenset[tuple[int, int]]) -> None:
    """Walks reader and writer in parallel as Avro resolution pairs them, appending why `r` cannot read `w`.
    avro judges every pair; the walk takes its answer down to the field, and compares what the values mean."""
    if (id(r), id(w)) in seen:  # a recursive type: this pair is being explained further up
        return
    seen |= {(id(r), id(w))}
    broken = checker.get_compatibility(r, w).compatibility is _INCOMPATIBLE
    if r.type == w.type and r.type in ("record", "error"):
        if broken:
            out += _reasons(check_schema_names(r, w, loc), field)
        for i, reader_field in enumerate(r.fields):
            here, name = loc + ["fields", str(i)], f"{field}.{reader_field.name}" if field else reader_field.name
            writer_field = lookup_writer_field(w, reader_field)
            if (ambiguous := checker.ambiguous.pop((id(reader_field), id(w)), None)) is not None:
                out.append(Reason(0, "", _pointer(here), name, "AMBIGUOUS_FIELD_MATCH", f"field {name} matches "
                                  f"the writer's fields {', '.join(ambiguous[2])} by its name and aliases", False))
            elif writer_field is not None:
                _walk(checker, reader_field.type, writer_field.type, here + ["type"], name, out, seen)
            elif broken and not reader_field.has_default:  # avro's rule, restated only to keep the field's name
                enum_default = reader_field.type.type == "enum" and reader_field.type.props.get("default")
                out += _reasons(_checker().get_compatibility(reader_field.type, w, "type", here)
                                if enum_default else _result("reader_field_missing_default_value", name, here), name)
    elif r.type == w.type and r.type in ("array", "map"):
        part = "items" if r.type == "array" else "values"
        _walk(checker, getattr(r, part), getattr(w, part), loc + [part], field, out, seen)
    elif w.type == "union":  # each branch the writer may write must be readable (Java adds its index to the path)
        for j, branch in enumerate(w.schemas):
            counterpart = _counterpart(checker, r, branch) if r.type == "union" else r
            if counterpart is not None:
                _walk(checker, counterpart, branch, loc + [str(j)], field, out, seen)
            elif checker.get_compatibility(r, branch).compatibility is _INCOMPATIBLE:
                message = f"reader union lacking writer type: {branch.type.upper()}"
                out += _reasons(_result("missing_union_branch", message, loc + [str(j)]), field)
    elif r.type == "union" and (counterpart := _counterpart(checker, r, w)) is not None:
        _walk(checker, counterpart, w, loc + [str(r.schemas.index(counterpart))], field, out, seen)
    else:
        if broken and r.type == w.type:  # an enum or a fixed: its name, then its symbols or its size
            named_check = check_reader_enum_contains_writer_enum if r.type == "enum" else check_fixed_size
            out += _reasons(check_schema_names(r, w, loc), field) + _reasons(named_check(r, w, loc), field)
        elif broken:  # a type mismatch, or a reader union with no branch for it: one incompatibility
            out += _reasons(_checker().get_compatibility(r, w, loc[-1], loc[:-1]), field)
        else:  # it reads: the same type, or an Avro promotion
            out += _meaning(r, w, loc, field)


def _counterpart(checker: ReaderWriterCompatibilityChecker, union: Schema, branch: Schema) -> Schema | None:
    """The reader union's branch for a writer branch: of the same type (and name), readable if one is; else the
    first readable one (a promotion); None when there is none, which avro reports as MISSING_UNION_BRANCH."""
    same = [b for b in union.schemas
            if b.type == branch.type and (not isinstance(b, NamedSchema) or schema_name_equals(b, branch))]
    readable = [b for b in union.schemas if checker.get_compatibility(b, branch).compatibility is not _INCOMPATIBLE]
    return next((b for b in same if b in readable), None) or next(iter(same + readable), None)


def _meaning(r: Schema, w: Schema, loc: list[str], field: str | None) -> list[Reason]:
    """Why a value that reads without error is read as another value: Avro resolution keeps a decimal's unscaled
    digits and a number as they are, whatever the logical types say (and so does the registry: stricter than it)."""
    at = f"field {field}" if field else "the schema"
    found: tuple[str, str] | None = None
    if isinstance(r, DecimalLogicalSchema) and isinstance(w, DecimalLogicalSchema):
        found = _decimal(r, w, at)
    elif (read := _logical(r)) != (written := _logical(w)):  # e.g. milliseconds read as microseconds
        found = "LOGICAL_TYPE_CHANGED", (f"{at} is written as {_meant(w, written)} and read as {_meant(r, read)}:"
                                         " the stored value is kept as written, so it reads as another value")
    return [] if found is None else [Reason(0, "", _pointer(loc), field, *found, True)]


def _logical(schema: Schema) -> str | None:
    """The logical type that gives a schema's values their meaning, as Java Avro reads it; None for plain values."""
    props: Any = schema  # DecimalLogicalSchema's stub lacks the get_prop its Schema base has
    if isinstance(schema, DecimalLogicalSchema):
        return f"decimal({props.get_prop('precision')},{props.get_prop('scale') or 0})"
    logical = schema.get_prop("logicalType")
    fits = schema.type != "fixed" or schema.get_prop("size") == 12  # a duration is a fixed of 12 bytes
    return logical if isinstance(logical, str) and (logical, schema.type) in _MEANING and fits else None


def _meant(schema: Schema, logical: str | None) -> str:
    if logical is None:
        return f"a plain {schema.type}"
    meaning = _MEANING.get((logical, schema.type))
    return f"{schema.type} {logical}" + (f" ({meaning})" if meaning else "")


def _decimal(r: Schema, w: Schema, at: str) -> tuple[str, str] | None:
    """A decimal's bytes are its unscaled digits: read with another scale they are another number; read with less
    precision than written, a value may have more digits than the reader allows. None when every value reads."""
    (rp, rs), (wp, ws) = ((cast(int, s.get_prop("precision")), cast(int, s.get_prop("scale") or 0)) for s in (r, w))
    if rs != ws:  # e.g. 12.34 (1234 at scale 2) read at scale 3 is 1.234
        example = f"{Decimal(1234).scaleb(-ws)} written is read as {Decimal(1234).scaleb(-rs)}"
        return "DECIMAL_RESCALED", f"{at} is a decimal written with scale {ws} and read with scale {rs}: {example}"
    if rp < wp:  # e.g. 999999999999.99 fits decimal(14,2), not decimal(12,2)
        return "DECIMAL_PRECISION_NARROWED", (f"{at} is a decimal written with precision {wp} and read with precision"
                                              f" {rp}: {Decimal(10 ** wp - 1).scaleb(-ws)} may be written and has more"
                                              f" digits than the reader allows")
    return None


def _result(kind: str, message: str, loc: list[str]) -> SchemaCompatibilityResult:
    """One incompatibility, shaped as avro's checker shapes it."""
    return SchemaCompatibilityResult(_INCOMPATIBLE, [SchemaIncompatibilityType[kind]], {message}, {_pointer(loc)})


def _reasons(result: SchemaCompatibilityResult, field: str | None) -> list[Reason]:
    """Reasons from an avro result. avro merges messages and locations into sets, which pair with the kinds only
    when there is one of each: the walk arranges that, and only the unexplained fallback pairs them as it can."""
    if result.compatibility is not _INCOMPATIBLE:
        return []
    messages, paths = sorted(result.messages), sorted(result.locations - {"/"} or {"/"})
    reasons = []
    for i, kind in enumerate(result.incompatibilities):
        at, message = f"field {field}" if field else "the schema", messages[min(i, len(messages) - 1)]
        text = _TEXT.get(kind.name.upper(), "{at}: {msg}").format(at=at, msg=plain(message))
        reasons.append(Reason(0, "", paths[min(i, len(paths) - 1)], field, kind.name.upper(), text, False))
    return reasons


def _pointer(loc: list[str]) -> str:
    return "/" + "/".join(loc[1:])
