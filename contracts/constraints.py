"""Constraints declared in the schemas: what makes a value valid beyond its Avro type, said once.

A field declares them in its `constraints` attribute (Avro keeps attributes it does not know, and they
change nothing on the wire), in JSON Schema's words so that the OpenAPI and AsyncAPI documents copy them:

    {"name": "description", "type": "string", "doc": "What was provided.",
     "constraints": {"maxLength": 200, "pattern": "[^\\u0000-\\u001f]*", "patternDescription": "one line of text"}}

Keywords, by the field's type (an optional field's constraints apply to its value when there is one):
- text: `minLength`, `maxLength` (in characters), `pattern` (a regular expression for the WHOLE value, written
  so that it means the same in Python and ECMA 262 in its Unicode mode, as JSON Schema reads it; the documents
  anchor it: a character beyond U+FFFF is written as itself, JSON's escape of its surrogate pair in the file,
  since the two dialects escape such characters differently), `patternDescription` (what the
  pattern means, for people: errors say "must be <it>"), `enum` (the allowed values);
- arrays: `minItems`, `maxItems`;
- numbers and decimals: `minimum`, `exclusiveMinimum`, `maximum`, `exclusiveMaximum` (a decimal's bound may be
  written as a string, so that it is exact).

Every checker derives from them: the dashboard's intake and OpenAPI document, the invoice generator's
validation, the validation of every record a service sends, the AsyncAPI document and the test strategies.
A constrained decimal is also checked against its type's precision and scale, which a decoded value may
exceed (Avro's decimal bytes hold any unscaled number).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any

from contracts.avro import Field, Node, root

__all__ = ["ConstraintError", "Constraints", "FieldRules", "Violation", "decimal_limits", "field_rules", "largest_decimal"]

ATTRIBUTE = "constraints"
TEXT_KEYWORDS = frozenset({"minLength", "maxLength", "pattern", "patternDescription", "enum"})
ARRAY_KEYWORDS = frozenset({"minItems", "maxItems"})
NUMBER_KEYWORDS = frozenset({"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"})
_NUMBERS = frozenset({"int", "long", "float", "double"})


class ConstraintError(ValueError):
    """A schema declares a constraint that is malformed or does not fit its field's type."""


@dataclass(frozen=True)
class Violation:
    path: str  # items[1].quantity: zero-based indexes
    message: str  # for people, without the path


def decimal_limits(node: Node) -> tuple[int, int] | None:
    """(precision, scale) of a decimal type, None for any other type."""
    if node.logical_type != "decimal" or node.kind not in ("bytes", "fixed"):
        return None
    return int(node.schema["precision"]), int(node.schema.get("scale", 0))


def largest_decimal(precision: int, scale: int) -> Decimal:
    """The largest value a decimal(precision, scale) holds: 999.99 for decimal(5, 2)."""
    return Decimal(10 ** precision - 1).scaleb(-scale)


@dataclass(frozen=True)
class FieldRules:
    """The constraints of one field (and the limits of its decimal type), with the checks they imply."""

    path: str  # where the field is: customer.name, items, items[].quantity
    kind: str  # text, array, number or decimal
    declared: Mapping[str, Any]  # the keywords as the schema writes them
    decimal: tuple[int, int] | None = None  # (precision, scale)
    _pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @property
    def min_length(self) -> int | None:
        return self.declared.get("minLength")

    @property
    def max_length(self) -> int | None:
        return self.declared.get("maxLength")

    @property
    def min_items(self) -> int | None:
        return self.declared.get("minItems")

    @property
    def max_items(self) -> int | None:
        return self.declared.get("maxItems")

    def bound(self, keyword: str) -> Decimal | None:
        """A numeric bound (minimum, exclusiveMinimum, ...) as an exact Decimal."""
        value = self.declared.get(keyword)
        return None if value is None else Decimal(str(value))

    @property
    def scale(self) -> int:
        """A decimal's scale (0 for other types): the places its values are written with."""
        return 0 if self.decimal is None else self.decimal[1]

    @cached_property
    def largest(self) -> Decimal | None:
        """The largest value a decimal type holds: 999.99 for decimal(5, 2)."""
        return None if self.decimal is None else largest_decimal(*self.decimal)

    @cached_property
    def _bounds(self) -> tuple[tuple[Decimal, Callable[[Decimal, Decimal], bool], str], ...]:
        """The numeric bounds it declares, as exact Decimals, with their tests (read once: a worker checks each
        record's numbers against them)."""
        return tuple((bound, broken, words) for keyword, broken, words in _BOUNDS
                     if (bound := self.bound(keyword)) is not None)

    def problems(self, value: Any) -> list[str]:
        """What is wrong with a value of this field's type, in words; empty when it is valid."""
        if self.kind == "text" and isinstance(value, str):
            return self._text(value)
        if self.kind == "array" and isinstance(value, (list, tuple)):
            return self._count(len(value))
        if self.kind in ("number", "decimal") and isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            return self._number(value)
        return []

    def _text(self, value: str) -> list[str]:
        found = []
        if self.min_length is not None and len(value) < self.min_length:
            found.append(f"must be at least {self.min_length} characters long (got {len(value)})")
        if self.max_length is not None and len(value) > self.max_length:
            found.append(f"must be at most {self.max_length} characters long (got {len(value)})")
        elif self._pattern is not None and self._pattern.fullmatch(value) is None:
            found.append(f"must be {self.declared.get('patternDescription') or 'matching ' + self.declared['pattern']}"
                         f"{self._culprit(value)}")
        if "enum" in self.declared and value not in self.declared["enum"]:
            found.append(f"must be one of {', '.join(self.declared['enum'])} (got {value!r})")
        return found

    def _culprit(self, value: str) -> str:
        """The first character the pattern refuses, when the pattern is a set of allowed characters (it matches
        every run of them, the empty one too): "a control character" says less than "found U+0007"."""
        assert self._pattern is not None
        if self._pattern.fullmatch("") is None:
            return ""
        culprit = next((char for char in value if self._pattern.fullmatch(char) is None), None)
        return "" if culprit is None else f" (found U+{ord(culprit):04X})"

    def _count(self, count: int) -> list[str]:
        if self.min_items is not None and count < self.min_items:
            return [f"must have at least {self.min_items} item{'s' if self.min_items != 1 else ''} (got {count})"]
        if self.max_items is not None and count > self.max_items:
            return [f"must have at most {self.max_items} items (got {count})"]
        return []

    def _number(self, value: int | float | Decimal) -> list[str]:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        if not number.is_finite():
            return [f"must be a finite number (got {value})"]
        found = [f"must be {words} {bound} (got {value})" for bound, broken, words in self._bounds if broken(number, bound)]
        if self.decimal is not None:
            exponent = number.as_tuple().exponent
            places = 0 if isinstance(exponent, int) and -exponent <= self.decimal[1] else _places(number)
            if places > self.decimal[1]:
                found.append(f"must have at most {self.decimal[1]} decimal places (got {value})")
            largest = self.largest
            if largest is not None and number > largest:
                found.append(f"must be at most {largest} (got {value})")
            elif largest is not None and number < -largest:
                found.append(f"must be at least {-largest} (got {value})")
        return found

    def describe(self) -> str:
        """The constraints in words, for documents and pages: `at most 200 characters; one line of text`."""
        words = []
        if self.min_length is not None:
            words.append(f"at least {self.min_length} characters")
        if self.max_length is not None:
            words.append(f"at most {self.max_length} characters")
        if "pattern" in self.declared:
            words.append(str(self.declared.get("patternDescription") or f"matching {self.declared['pattern']}"))
        if "enum" in self.declared:
            words.append(f"one of {', '.join(self.declared['enum'])}")
        if self.min_items is not None:
            words.append(f"at least {self.min_items} item{'s' if self.min_items != 1 else ''}")
        if self.max_items is not None:
            words.append(f"at most {self.max_items} items")
        for keyword, _, relation in _BOUNDS:
            if keyword in self.declared:
                words.append(f"{relation} {self.bound(keyword)}")
        return "; ".join(words)

    def json_schema(self) -> dict[str, Any]:
        """The constraints as JSON Schema keywords (the pattern anchored, as JSON Schema patterns are not)."""
        schema: dict[str, Any] = {}
        for keyword, value in self.declared.items():
            if keyword == "pattern":
                schema["pattern"] = f"^(?:{value})$"
            elif keyword in NUMBER_KEYWORDS:
                schema[keyword] = _json_number(self.bound(keyword))
            elif keyword != "patternDescription":
                schema[keyword] = value
        return schema


_BOUNDS: tuple[tuple[str, Callable[[Decimal, Decimal], bool], str], ...] = (
    ("minimum", operator.lt, "at least"),
    ("exclusiveMinimum", operator.le, "greater than"),
    ("maximum", operator.gt, "at most"),
    ("exclusiveMaximum", operator.ge, "less than"),
)


def _places(value: Decimal) -> int:
    """Decimal places that carry value: Decimal("1.500") has one, like 1.5."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _json_number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass(frozen=True)
class _Step:
    """How to reach constrained fields below a record field: the field's rules, then its record or its items."""

    name: str
    rules: FieldRules | None
    record: tuple[_Step, ...] = ()  # the fields below, when the value is a record
    items: _Step | None = None  # the array's items, when the value is an array


@dataclass(frozen=True)
class Constraints:
    """Every constraint of a schema by field path, and a checker for whole (or partial) records."""

    by_path: Mapping[str, FieldRules]
    _steps: tuple[_Step, ...] = ()

    @classmethod
    def of(cls, schema: Any) -> Constraints:
        """The constraints of a schema (JSON text or loaded); ConstraintError when one is malformed."""
        by_path: dict[str, FieldRules] = {}
        steps = _record_steps(root(schema), "", by_path, ())
        return cls(by_path, steps)

    def __getitem__(self, path: str) -> FieldRules:
        return self.by_path[path]

    def __bool__(self) -> bool:
        return bool(self.by_path)

    def violations(self, record: Any) -> list[Violation]:
        """Every constraint the record breaks, in field order. Fields the record lacks are not checked, so a
        part of a record (the customer and items of a request being built) can be checked too."""
        return list(_check(self._steps, record, ""))

    def first(self, record: Any) -> Violation | None:
        return next(_check(self._steps, record, ""), None)


def _check(steps: tuple[_Step, ...], record: Any, path: str) -> Iterator[Violation]:
    if not isinstance(record, Mapping):
        return
    for step in steps:
        value = record.get(step.name)
        if value is None:
            continue
        yield from _check_value(step, value, f"{path}.{step.name}" if path else step.name)


def _check_value(step: _Step, value: Any, path: str) -> Iterator[Violation]:
    if step.rules is not None:
        for message in step.rules.problems(value):
            yield Violation(path, message)
    if step.record:
        yield from _check(step.record, value, path)
    if step.items is not None and isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            if item is not None:
                yield from _check_value(step.items, item, f"{path}[{index}]")


def field_rules(field: Field, path: str = "") -> FieldRules | None:
    """The constraints one record field declares, None when it declares none."""
    declared = field.spec.get(ATTRIBUTE)
    path = path or field.name
    return None if declared is None else _rules(_value_type(field.node, path, True), declared, path)


def _record_steps(node: Node, path: str, found: dict[str, FieldRules], open_records: tuple[str, ...]) -> tuple[_Step, ...]:
    if node.fullname in open_records:  # a recursive record: its constraints are already collected above
        return ()
    steps = []
    for spec in node.fields():
        here = f"{path}.{spec.name}" if path else spec.name
        step = _step(spec.name, spec.node, spec.spec.get(ATTRIBUTE), here, found, (*open_records, node.fullname))
        if step is not None:
            steps.append(step)
    return tuple(steps)


def _step(name: str, node: Node, declared: Any, path: str, found: dict[str, FieldRules],
          open_records: tuple[str, ...]) -> _Step | None:
    value = _value_type(node, path, declared is not None)
    rules = _rules(value, declared, path) if declared is not None else None
    if rules is not None:
        found[path] = rules
    record: tuple[_Step, ...] = ()
    items = None
    if value.kind == "record":
        record = _record_steps(value, path, found, open_records)
    elif value.kind == "array":
        items = _step(name, value.items, None, f"{path}[]", found, open_records)
    if rules is None and not record and items is None:
        return None
    return _Step(name, rules, record, items)


def _value_type(node: Node, path: str, declared: bool) -> Node:
    """The type a field's values have: an optional field's non-null branch."""
    if node.kind != "union":
        return node
    branches = [branch for branch in node.branches() if branch.kind != "null"]
    if len(branches) == 1:
        return branches[0]
    if declared:
        raise ConstraintError(f"{path}: constraints on a union of several types are not supported")
    return node


def _rules(node: Node, declared: Any, path: str) -> FieldRules:
    if not isinstance(declared, dict):
        raise ConstraintError(f"{path}: {ATTRIBUTE} must be an object of JSON Schema keywords")
    limits = decimal_limits(node)
    if limits is not None:
        kind, allowed = "decimal", NUMBER_KEYWORDS
    elif node.kind == "string":
        kind, allowed = "text", TEXT_KEYWORDS
    elif node.kind == "array":
        kind, allowed = "array", ARRAY_KEYWORDS
    elif node.kind in _NUMBERS:
        kind, allowed = "number", NUMBER_KEYWORDS
    else:
        raise ConstraintError(f"{path}: a {node.describe()} takes no constraints")
    unknown = sorted(set(declared) - allowed)
    if unknown:
        raise ConstraintError(f"{path}: {', '.join(unknown)} is not a constraint of a {node.describe()}"
                              f" (it takes {', '.join(sorted(allowed))})")
    pattern = _compiled(declared.get("pattern"), path)
    _check_sizes(declared, path)
    for keyword in NUMBER_KEYWORDS & declared.keys():
        try:
            if not Decimal(str(declared[keyword])).is_finite() or isinstance(declared[keyword], bool):
                raise InvalidOperation
        except InvalidOperation:
            raise ConstraintError(f"{path}: {keyword} must be a finite number (got {declared[keyword]!r})") from None
    if "enum" in declared and not (isinstance(declared["enum"], list) and all(isinstance(v, str) for v in declared["enum"])):
        raise ConstraintError(f"{path}: enum must be a list of strings")
    return FieldRules(path, kind, dict(declared), limits, pattern)


def _compiled(pattern: Any, path: str) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    if not isinstance(pattern, str):
        raise ConstraintError(f"{path}: pattern must be a string")
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ConstraintError(f"{path}: pattern {pattern!r} is not a regular expression ({error})") from None


def _check_sizes(declared: Mapping[str, Any], path: str) -> None:
    for keyword in ("minLength", "maxLength", "minItems", "maxItems"):
        value = declared.get(keyword)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ConstraintError(f"{path}: {keyword} must be a whole number of at least 0 (got {value!r})")
    for low, high in (("minLength", "maxLength"), ("minItems", "maxItems")):
        if low in declared and high in declared and declared[low] > declared[high]:
            raise ConstraintError(f"{path}: {low} {declared[low]} is larger than {high} {declared[high]}")
