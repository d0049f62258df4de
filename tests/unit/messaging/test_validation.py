"""first_problem names the first field a record breaks, for schemas of every shape."""

from __future__ import annotations

from decimal import Decimal

from messaging.validation import first_problem

RECORD = {
    "type": "record", "name": "Order", "namespace": "shop",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2}},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
        {"name": "extra", "type": ["null", {"type": "map", "values": "int"}], "default": None},
        {"name": "next", "type": ["null", "Order"], "default": None},
    ],
}
GOOD = {"id": 1, "kind": "A", "price": Decimal("1.50"), "tags": ["x"], "extra": {"a": 1}, "next": None}


def test_a_valid_record_has_no_problem() -> None:
    assert first_problem(RECORD, GOOD) is None
    assert first_problem(RECORD, {k: v for k, v in GOOD.items() if k not in ("tags", "extra")}) is None


def test_each_kind_of_problem_names_its_path() -> None:
    assert first_problem(RECORD, {**GOOD, "id": "1"}).startswith("id: ")
    assert first_problem(RECORD, {**GOOD, "kind": "C"}).startswith("kind: 'C' is not one of")
    assert first_problem(RECORD, {**GOOD, "price": Decimal("1.555")}).startswith("price: ")
    assert first_problem(RECORD, {**GOOD, "price": Decimal("99999.00")}).startswith("price: ")
    assert first_problem(RECORD, {**GOOD, "tags": ["x", 2]}).startswith("tags[1]: ")
    assert first_problem(RECORD, {**GOOD, "extra": {"a": "b"}}).startswith("extra['a']: ")
    assert first_problem(RECORD, {**GOOD, "next": {**GOOD, "id": None}}).startswith("next.id: ")
    assert first_problem(RECORD, {k: v for k, v in GOOD.items() if k != "id"}) == "id: missing (the field has no default)"
    assert first_problem(RECORD, {**GOOD, "colour": "red"}) == "colour: not a field of Order"
