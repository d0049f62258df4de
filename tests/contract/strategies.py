"""Hypothesis strategies that generate valid data for any Avro schema.

``from_schema(schema)`` returns a strategy whose values have the Python shape that fastavro's
``schemaless_writer`` accepts and its ``schemaless_reader`` returns, so for every value ``v``
``read(write(v)) == v`` holds exactly: same types, same ``repr`` (no ``1`` read back as ``1.0``,
no ``Decimal('1.2')`` as ``Decimal('1.20')``, no ``-0.00`` as ``0.00``).

Shapes: null None; boolean bool; int and long int within their 32/64-bit range; float a finite
32-bit float; double a finite float; bytes bytes; string str (any code point UTF-8 encodes, so no
surrogates); record a dict of every field in schema order; enum one of its symbols; fixed bytes of
exactly ``size``; array list; map dict with str keys; union a value of one branch. NaN is never
generated because NaN != NaN, so no value holding it could compare equal after a round trip;
infinities are left out too (the brief asks for finite floats).

Logical types, as fastavro 1.13 reads them: decimal (bytes or fixed) Decimal with exactly ``scale``
places and at most ``precision`` digits; uuid (string) UUID; date date; time-millis and
time-micros naive time; timestamp-millis and timestamp-micros datetime in UTC
(``timezone.utc``); local-timestamp-millis and local-timestamp-micros naive datetime. Date-times
span years 1..9999, all of which fastavro round-trips exactly; the millis kinds are truncated to
whole milliseconds. A logical type fastavro does not know for its underlying type (e.g. duration,
uuid on fixed, big-decimal, a made-up name) falls back to that type, as the Avro spec says.

Named types (record, enum, fixed, error) may be referenced after their definition by full or
short name; names are resolved by fastavro's ``parse_schema``. ``named`` holds definitions from
elsewhere that ``schema`` refers to (raw or parsed, e.g. another schema's fastavro
``named_schemas``). A recursive record nests inside itself at most ``max_depth`` levels (the
outermost one counts as 1); at the limit a union takes a branch that does not recurse, an array
is empty and a map is empty. If there is no such way out (e.g. a record with a non-nullable field
of its own type), ``from_schema`` raises ValueError.

Unions: fastavro writes a value to the first branch that accepts it, not necessarily the branch
the value was drawn from. An int/long branch after a float/double branch is never drawn from
(fastavro would write its ints as floats). Beyond that, every union value is written and read
back through fastavro and kept only if it comes back identical, so ambiguous branches (e.g. a
record whose fields match an earlier record with defaults, or two decimal branches with different
scales) are filtered out. Limit: a branch that fastavro *always* resolves elsewhere is never
produced, and a union made mostly of such branches may trip hypothesis' filter health check.
Tuple notation (``("Name", value)``) and ``-type`` hints are never generated.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, cast

import fastavro
from hypothesis import strategies as st

from contracts.avro import Node, root
from contracts.constraints import FieldRules, field_rules

__all__ = ["from_schema"]

_MAX_ITEMS = 4  # arrays and maps stay small: values nest, and recursion multiplies sizes
_UTC = dt.UTC
_TEXT = st.text(st.characters(codec="utf-8"))

_PRIMITIVES: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(-(2**31), 2**31 - 1),
    "long": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(width=32, allow_nan=False, allow_infinity=False),
    "double": st.floats(allow_nan=False, allow_infinity=False),
    "bytes": st.binary(),
    "string": _TEXT,
}


def _millis(value: Any) -> Any:
    """Truncate a time or datetime to whole milliseconds (fastavro reads fold back as 0)."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000, fold=0)


def _micros(value: Any) -> Any:
    return value.replace(fold=0)


# Keyed like fastavro's LOGICAL_READERS: "<underlying type>-<logicalType>".
_LOGICAL: dict[str, st.SearchStrategy[Any]] = {
    "long-timestamp-millis": st.datetimes(timezones=st.just(_UTC)).map(_millis),
    "long-timestamp-micros": st.datetimes(timezones=st.just(_UTC)).map(_micros),
    "long-local-timestamp-millis": st.datetimes().map(_millis),
    "long-local-timestamp-micros": st.datetimes().map(_micros),
    "int-date": st.dates(),
    "int-time-millis": st.times().map(_millis),
    "long-time-micros": st.times().map(_micros),
    "string-uuid": st.uuids(),
}


def _decimal(node: Node, rules: FieldRules | None) -> st.SearchStrategy[Decimal]:
    """Decimals built from an unscaled integer, so the exponent is exactly -scale (no -0), within the declared range."""
    scale, bound = node.schema.get("scale", 0), 10 ** node.schema["precision"] - 1
    low, high = -bound, bound
    if rules is not None:  # the bounds in unscaled units, rounded inwards
        for keyword, strict in (("minimum", False), ("exclusiveMinimum", True)):
            if (value := rules.bound(keyword)) is not None:
                unscaled = value.scaleb(scale)
                low = max(low, int(unscaled.to_integral_value(ROUND_CEILING)) + (strict and unscaled % 1 == 0))
        for keyword, strict in (("maximum", False), ("exclusiveMaximum", True)):
            if (value := rules.bound(keyword)) is not None:
                unscaled = value.scaleb(scale)
                high = min(high, int(unscaled.to_integral_value(ROUND_FLOOR)) - (strict and unscaled % 1 == 0))
    return st.integers(low, high).map(lambda unscaled: Decimal(f"{unscaled}E-{scale}"))


def _text(rules: FieldRules | None) -> st.SearchStrategy[str]:
    """Text that UTF-8 encodes, within the declared length, matching the declared pattern and values."""
    if rules is None:
        return _TEXT
    if "enum" in rules.declared:
        return st.sampled_from(rules.declared["enum"])
    most = rules.max_length if rules.max_length is not None else 40
    if "pattern" in rules.declared:
        base = st.from_regex(rules.declared["pattern"], fullmatch=True).filter(lambda text: len(text) <= most)
    else:
        base = st.text(st.characters(codec="utf-8"), min_size=rules.min_length or 0, max_size=most)
    return base.filter(lambda text: not rules.problems(text))


def _integers(kind: str, rules: FieldRules) -> st.SearchStrategy[int]:
    """An int or long within the declared bounds (drawn inside them, not filtered: a range of 0..1000 out of 2**32
    would be mostly thrown away)."""
    bits = 31 if kind == "int" else 63
    low, high = -(2**bits), 2**bits - 1
    for keyword, inclusive in (("minimum", True), ("exclusiveMinimum", False)):
        if (bound := rules.bound(keyword)) is not None:
            low = max(low, int(bound.to_integral_value(ROUND_CEILING)) + (not inclusive and bound % 1 == 0))
    for keyword, inclusive in (("maximum", True), ("exclusiveMaximum", False)):
        if (bound := rules.bound(keyword)) is not None:
            high = min(high, int(bound.to_integral_value(ROUND_FLOOR)) - (not inclusive and bound % 1 == 0))
    return st.integers(low, high)


def _number_kind(node: Node) -> str | None:
    """'int' or 'float' if fastavro represents node's values as plain Python numbers."""
    if f"{node.kind}-{node.logical_type}" in _LOGICAL:
        return None
    return {"int": "int", "long": "int", "float": "float", "double": "float"}.get(node.kind)


def _round_trips(probe: Any, value: Any) -> bool:
    """Whether fastavro writes ``value`` into the probe's union and reads back the same."""
    buffer = io.BytesIO()
    try:
        fastavro.schemaless_writer(buffer, probe, {"value": value})
    except (ValueError, TypeError):
        return False
    buffer.seek(0)
    read = cast(dict[str, Any], fastavro.schemaless_reader(buffer, probe))
    return repr(read["value"]) == repr(value)


class _Builder:
    def __init__(self, parsed_names: dict[str, Any], max_depth: int) -> None:
        self.parsed_names = parsed_names  # fastavro's, for the union probes
        self.max_depth = max_depth
        self.records: dict[tuple[str, tuple[str, ...]], st.SearchStrategy[Any] | None] = {}

    def build(self, node: Node, stack: tuple[str, ...], rules: FieldRules | None = None) -> st.SearchStrategy[Any] | None:
        """Strategy for a schema node (within the constraints of the field holding it), or None if no value of it
        fits within max_depth. ``stack`` lists the records being built around this node, outermost first.
        """
        kind, logical = node.kind, node.logical_type
        if kind == "union":
            return self.union(node, stack, rules)
        if f"{kind}-{logical}" in _LOGICAL:
            return _LOGICAL[f"{kind}-{logical}"]
        if logical == "decimal" and kind in ("bytes", "fixed"):
            return _decimal(node, rules)
        if kind == "record":
            return self.record(node, stack)
        if kind == "enum":
            return st.sampled_from(node.schema["symbols"])
        if kind == "fixed":
            return st.binary(min_size=node.schema["size"], max_size=node.schema["size"])
        if kind == "array":
            items = self.build(node.items, stack)
            fewest = (rules.min_items or 0) if rules else 0
            most = max(fewest, min(_MAX_ITEMS, rules.max_items if rules and rules.max_items is not None else _MAX_ITEMS))
            if items is None:  # no item fits within max_depth: only an empty list, if one is allowed
                return st.just([]) if fewest == 0 else None
            return st.lists(items, min_size=fewest, max_size=most)
        if kind == "map":
            values = self.build(node.values, stack)
            return st.just({}) if values is None else st.dictionaries(_TEXT, values, max_size=_MAX_ITEMS)
        if kind == "string":
            return _text(rules)
        if kind in ("int", "long") and rules is not None:
            return _integers(kind, rules)
        return _PRIMITIVES[kind]

    def record(self, node: Node, stack: tuple[str, ...]) -> st.SearchStrategy[Any] | None:
        name = node.fullname
        if stack.count(name) >= self.max_depth:
            return None
        key = (name, tuple(sorted(stack)))  # only how often each record is open matters
        if key not in self.records:
            inner = (*stack, name)
            fields = list(node.fields())
            built = [self.build(field.node, inner, field_rules(field)) for field in fields]
            keys = [field.name for field in fields]
            complete = all(strategy is not None for strategy in built)
            # tuples, not fixed_dictionaries: keys must come in schema order, as fastavro reads them
            self.records[key] = (
                st.tuples(*built).map(lambda values: dict(zip(keys, values, strict=True))) if complete else None
            )
        return self.records[key]

    def union(self, node: Node, stack: tuple[str, ...], rules: FieldRules | None) -> st.SearchStrategy[Any] | None:
        options = []
        branches = node.branches()
        for index, branch in enumerate(branches):
            earlier = {_number_kind(other) for other in branches[:index]}
            if _number_kind(branch) == "int" and "float" in earlier:
                continue  # fastavro would write this int to the earlier float branch
            strategy = self.build(branch, stack, rules if branch.kind != "null" else None)
            if strategy is not None:
                options.append(strategy)
        if not options:
            return None
        # A record around the union: a parsed record carries the named types it refers to.
        wrapper = {"type": "record", "name": "_UnionProbe", "namespace": node.namespace or None,  # where its names resolve
                   "fields": [{"name": "value", "type": node.schema}]}
        probe = fastavro.parse_schema(wrapper, dict(self.parsed_names))
        return st.one_of(options).filter(lambda value: _round_trips(probe, value))


def from_schema(
    schema: str | dict[str, Any] | list[Any], *, max_depth: int = 3, named: dict[str, Any] | None = None
) -> st.SearchStrategy[Any]:
    """A strategy for values of the Avro ``schema`` (JSON text, or loaded JSON) that fastavro
    writes and reads back unchanged; see the module docstring for shapes and limits.

    Raises ValueError if max_depth < 1 or the schema's recursion cannot be bounded, and fastavro's
    SchemaParseException (or UnknownType) if the schema is invalid.
    """
    if max_depth < 1:
        raise ValueError(f"max_depth must be at least 1, got {max_depth}")
    if isinstance(schema, str) and schema.lstrip()[:1] in ("{", "[", '"'):
        schema = json.loads(schema)
    parsed_names: dict[str, Any] = {}
    for definition in (named or {}).values():
        fastavro.parse_schema(definition, parsed_names)
    fastavro.parse_schema(schema, parsed_names)  # refuses an invalid schema, and names every type for the probes
    strategy = _Builder(parsed_names, max_depth).build(root(schema, *(named or {}).values()), ())
    if strategy is None:
        raise ValueError(
            f"schema recursion cannot be bounded at max_depth={max_depth}: some record can only"
            " hold itself (no null branch, empty array or empty map to stop at)"
        )
    return strategy
