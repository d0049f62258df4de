"""contracts.strategies.from_schema: every generated value is valid for its Avro schema and comes
back from fastavro exactly as it went in."""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.validation import validate
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from tests.contract.strategies import from_schema

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_FILES = sorted((ROOT / "contracts" / "schemas").glob("*/v*.avsc"))

# database=None: no .hypothesis/ directory in the project; deadline=None: no flakes on slow hosts.
EXAMPLES = settings(max_examples=50, deadline=None, database=None)
# For find(): an example that exists is enough, shrinking it to the smallest one only costs time.
FIND = settings(database=None, phases=[Phase.generate])


def decimal_schema(precision: int, scale: int, fixed_size: int | None = None) -> dict:
    if fixed_size is None:
        return {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}
    return {"type": "fixed", "name": f"Dec{fixed_size}_{precision}_{scale}", "size": fixed_size,
            "logicalType": "decimal", "precision": precision, "scale": scale}


def record(name: str, *fields: tuple[str, Any], **extra: Any) -> dict:
    return {"type": "record", "name": name, **extra,
            "fields": [{"name": field, "type": kind} for field, kind in fields]}


LINKED_LIST = record("Node", ("value", "int"), ("next", ["null", "Node"]))
TREE = record("Tree", ("label", "string"), ("children", {"type": "array", "items": "Tree"}))
MAP_TREE = record("Dir", ("files", {"type": "map", "values": "long"}),
                  ("subdirs", {"type": "map", "values": "Dir"}))
MUTUAL = record("Ping", ("pong", ["null", record("Pong", ("ping", ["null", "Ping"]))]))
NAMESPACED = record(
    "Order",
    ("id", {"type": "string", "logicalType": "uuid"}),
    ("state", {"type": "enum", "name": "State", "symbols": ["OPEN", "PAID"]}),
    ("digest", {"type": "fixed", "name": "Digest", "namespace": "shop.crypto", "size": 4}),
    ("buyer", record("Party", ("name", "string"), ("digest", "shop.crypto.Digest"))),
    ("seller", "Party"),  # short name, resolved in the enclosing namespace shop.orders
    ("history", {"type": "array", "items": "shop.orders.State"}),
    ("related", {"type": "map", "values": ["null", "Order"]}),
    ("note", record("Note", ("state", "shop.orders.State"), ("by", "shop.orders.Party"),
                    namespace="shop.notes")),
    namespace="shop.orders",
)
NESTED = record(
    "Outer",
    ("inner", record("Inner", ("flags", {"type": "array", "items": "boolean"}),
                     ("scores", {"type": "map", "values": "double"}))),
    ("matrix", {"type": "array", "items": {"type": "array", "items": "int"}}),
    ("index", {"type": "map", "values": {"type": "array", "items": "Inner"}}),
    ("tags", {"type": "array", "items": {"type": "map", "values": "string"}}),
    ("money", decimal_schema(9, 2)),
)
SMALL = record("Small", ("x", "int"))
LARGER = record("Larger", ("x", "int"), ("y", "string"))
WITH_DEFAULT = {"type": "record", "name": "WithDefault",
                "fields": [{"name": "x", "type": "int"}, {"name": "y", "type": "int", "default": 0}]}

SCHEMAS: dict[str, Any] = {
    **{kind: kind for kind in ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]},
    "date": {"type": "int", "logicalType": "date"},
    "time-millis": {"type": "int", "logicalType": "time-millis"},
    "time-micros": {"type": "long", "logicalType": "time-micros"},
    "timestamp-millis": {"type": "long", "logicalType": "timestamp-millis"},
    "timestamp-micros": {"type": "long", "logicalType": "timestamp-micros"},
    "local-timestamp-millis": {"type": "long", "logicalType": "local-timestamp-millis"},
    "local-timestamp-micros": {"type": "long", "logicalType": "local-timestamp-micros"},
    "uuid": {"type": "string", "logicalType": "uuid"},
    "decimal-bytes-1-0": decimal_schema(1, 0),
    "decimal-bytes-5-2": decimal_schema(5, 2),
    "decimal-bytes-12-3": decimal_schema(12, 3),
    "decimal-bytes-4-4": decimal_schema(4, 4),
    "decimal-bytes-40-10": decimal_schema(40, 10),
    "decimal-fixed-1-2-1": decimal_schema(2, 1, fixed_size=1),
    "decimal-fixed-8-18-4": decimal_schema(18, 4, fixed_size=8),
    "decimal-fixed-16-38-0": decimal_schema(38, 0, fixed_size=16),
    "unknown-logical-on-string": {"type": "string", "logicalType": "made-up"},
    "unknown-logical-on-long": {"type": "long", "logicalType": "made-up"},
    "uuid-on-fixed-falls-back": {"type": "fixed", "name": "U", "size": 16, "logicalType": "uuid"},
    "duration-falls-back": {"type": "fixed", "name": "D", "size": 12, "logicalType": "duration"},
    "enum": {"type": "enum", "name": "Suit", "symbols": ["HEARTS", "SPADES", "CLUBS"]},
    "fixed": {"type": "fixed", "name": "Four", "size": 4},
    "array": {"type": "array", "items": "long"},
    "map": {"type": "map", "values": "string"},
    "nested": NESTED,
    "union-null-string": ["null", "string"],
    "union-many": ["null", "int", "string", "bytes", {"type": "array", "items": "float"}],
    "union-long-double": ["long", "double"],
    "union-double-long": ["double", "long"],
    "union-float-double-int": ["float", "double", "int"],
    "union-string-enum": ["string", {"type": "enum", "name": "E", "symbols": ["A", "B"]}],
    "union-logical": ["null", {"type": "string", "logicalType": "uuid"},
                      {"type": "long", "logicalType": "timestamp-millis"}, decimal_schema(6, 3)],
    "union-decimals-of-different-scale": [decimal_schema(6, 3),
                                          decimal_schema(6, 1, fixed_size=4)],
    "union-records-small-first": [SMALL, LARGER],
    "union-records-larger-first": [LARGER, SMALL],
    "union-records-ambiguous-default": [WITH_DEFAULT, SMALL, "null"],
    "union-map-or-record": [{"type": "map", "values": "string"},
                            record("Strings", ("a", "string"))],
    "linked-list": LINKED_LIST,
    "tree": TREE,
    "map-tree": MAP_TREE,
    "mutual-recursion": MUTUAL,
    "namespaced-references": NAMESPACED,
}


@functools.cache
def strategy_for(schema_json: str, max_depth: int = 3) -> st.SearchStrategy[Any]:
    return from_schema(schema_json, max_depth=max_depth)


def assert_round_trips_exactly(schema: Any, value: Any) -> None:
    parsed = fastavro.parse_schema(schema)
    assert validate(value, parsed)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, value)
    buffer.seek(0)
    back = fastavro.schemaless_reader(buffer, parsed)
    assert buffer.read() == b""
    assert back == value
    # repr also tells 1 from 1.0, Decimal("1.2") from Decimal("1.20") and -0.0 from 0.0.
    assert repr(back) == repr(value)


# Each recursive schema with how to find a value's nested records of the same type.
RECURSIVE: dict[str, tuple[dict, Callable[[dict], list]]] = {
    "linked-list": (LINKED_LIST, lambda node: [node["next"]] if node["next"] is not None else []),
    "tree": (TREE, lambda tree: tree["children"]),
    "map-tree": (MAP_TREE, lambda directory: list(directory["subdirs"].values())),
}


def depth(value: dict, children: Callable[[dict], list]) -> int:
    """Levels of nesting of a recursive record, the outermost one counting as 1."""
    return 1 + max((depth(child, children) for child in children(value)), default=0)


@pytest.mark.parametrize("schema", SCHEMAS.values(), ids=SCHEMAS.keys())
@EXAMPLES
@given(data=st.data())
def test_every_value_validates_and_round_trips_exactly(schema: Any, data: st.DataObject) -> None:
    assert_round_trips_exactly(schema, data.draw(strategy_for(json.dumps(schema))))


@pytest.mark.parametrize("path", CONTRACT_FILES, ids=lambda path: f"{path.parent.name}/{path.name}")
@EXAMPLES
@given(data=st.data())
def test_every_contract_schema_yields_values_that_round_trip(path: Path, data: st.DataObject) -> None:
    assert_round_trips_exactly(json.loads(path.read_text()), data.draw(strategy_for(path.read_text())))


def test_there_are_contract_schemas_to_check() -> None:
    assert CONTRACT_FILES


@pytest.mark.parametrize(("precision", "scale", "size"),
                         [(1, 0, None), (5, 2, None), (4, 4, None), (40, 10, None), (2, 1, 1), (18, 4, 8)])
@EXAMPLES
@given(data=st.data())
def test_decimals_have_exactly_scale_places_and_at_most_precision_digits(
    precision: int, scale: int, size: int | None, data: st.DataObject
) -> None:
    value = data.draw(strategy_for(json.dumps(decimal_schema(precision, scale, size))))
    sign, digits, exponent = value.as_tuple()
    assert exponent == -scale
    assert len(digits) <= precision


def test_decimals_include_negative_zero_and_positive_values() -> None:
    strategy = from_schema(decimal_schema(5, 2))
    assert find(strategy, lambda value: value < 0, settings=FIND) < 0
    assert find(strategy, lambda value: value == 0, settings=FIND) == Decimal("0.00")
    assert find(strategy, lambda value: value > 0, settings=FIND) > 0


@EXAMPLES
@given(from_schema({"type": "long", "logicalType": "timestamp-millis"}))
def test_timestamp_millis_are_utc_with_whole_milliseconds(value: dt.datetime) -> None:
    assert value.tzinfo is dt.UTC
    assert value.microsecond % 1000 == 0


@pytest.mark.parametrize("max_depth", [1, 2, 4])
@pytest.mark.parametrize("name", RECURSIVE)
@EXAMPLES
@given(data=st.data())
def test_recursive_values_never_exceed_max_depth(name: str, max_depth: int, data: st.DataObject) -> None:
    schema, children = RECURSIVE[name]
    value = data.draw(strategy_for(json.dumps(schema), max_depth))
    assert depth(value, children) <= max_depth
    assert_round_trips_exactly(schema, value)


@pytest.mark.parametrize("name", RECURSIVE)
def test_recursion_reaches_max_depth(name: str) -> None:
    schema, children = RECURSIVE[name]
    deepest = find(from_schema(schema, max_depth=4), lambda value: depth(value, children) == 4,
                   settings=FIND)
    assert depth(deepest, children) == 4


@pytest.mark.parametrize("schema", [
    record("Loop", ("self", "Loop")),
    record("Loop", ("self", ["Loop"])),
    record("A", ("b", record("B", ("a", "A")))),
], ids=["self-field", "union-of-itself", "through-another-record"])
def test_unbounded_recursion_raises_value_error(schema: dict) -> None:
    with pytest.raises(ValueError, match="recursion cannot be bounded"):
        from_schema(schema)


def test_max_depth_below_one_raises_value_error() -> None:
    with pytest.raises(ValueError, match="max_depth"):
        from_schema(LINKED_LIST, max_depth=0)


@EXAMPLES
@given(st.data())
def test_schema_may_be_json_text_loaded_json_or_a_primitive_name(data: st.DataObject) -> None:
    assert isinstance(data.draw(from_schema("int")), int)
    assert isinstance(data.draw(from_schema('"string"')), str)
    assert data.draw(from_schema(["null"])) is None
    assert set(data.draw(from_schema(json.dumps(SMALL)))) == {"x"}


@EXAMPLES
@given(st.data())
def test_named_types_defined_elsewhere_can_be_referenced(data: st.DataObject) -> None:
    money = {"type": "fixed", "name": "Money", "namespace": "fin", "size": 8,
             "logicalType": "decimal", "precision": 12, "scale": 2}
    account = {"type": "record", "name": "Account", "namespace": "fin",
               "fields": [{"name": "balance", "type": "Money"}]}
    value = data.draw(from_schema(account, named={"fin.Money": money}))
    names: dict[str, Any] = {}
    fastavro.parse_schema(money, names)
    parsed = fastavro.parse_schema(account, names)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, value)
    buffer.seek(0)
    assert repr(fastavro.schemaless_reader(buffer, parsed)) == repr(value)


@EXAMPLES
@given(from_schema(["double", "long"]))
def test_union_never_draws_ints_that_fastavro_would_write_as_floats(value: Any) -> None:
    assert type(value) is float


def test_union_draws_from_every_branch_that_round_trips() -> None:
    strategy = from_schema(["long", "double"])
    assert type(find(strategy, lambda value: type(value) is int, settings=FIND)) is int
    assert type(find(strategy, lambda value: type(value) is float, settings=FIND)) is float
    records = from_schema([SMALL, LARGER])
    assert find(records, lambda value: set(value) == {"x"}, settings=FIND)
    assert find(records, lambda value: set(value) == {"x", "y"}, settings=FIND)
