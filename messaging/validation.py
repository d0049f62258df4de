"""Explaining why a record does not fit its Avro schema, naming the field (fastavro's own errors often do not)."""

from __future__ import annotations

import io
import json
from functools import cache
from typing import Any

import fastavro

from contracts.avro import Node, root

__all__ = ["first_problem"]


def first_problem(schema: object, record: object) -> str | None:
    """The first field of `record` that `schema` (as written in the .avsc) rejects, as 'path: reason'."""
    return _check(root(schema), record, "")


def _check(node: Node, value: Any, path: str) -> str | None:
    kind = node.kind
    if kind == "union":
        return _union(node, value, path)
    if kind == "unknown":
        return f"{path or 'record'}: unknown type {node.schema['name']}"
    if kind == "enum":
        return None if value in node.schema["symbols"] else f"{path}: {value!r} is not one of {node.schema['symbols']}"
    if kind == "fixed" and node.logical_type is None:
        ok = isinstance(value, bytes) and len(value) == node.schema["size"]
        return None if ok else f"{path}: expected {node.schema['size']} bytes"
    if kind == "record":
        return _record(node, value, path)
    if kind == "array":
        if not isinstance(value, (list, tuple)):
            return f"{path}: expected a list, got {type(value).__name__}"
        return next((p for i, item in enumerate(value) if (p := _check(node.items, item, f"{path}[{i}]"))), None)
    if kind == "map":
        if not isinstance(value, dict):
            return f"{path}: expected a mapping, got {type(value).__name__}"
        return next((p for k, item in value.items() if (p := _check(node.values, item, f"{path}[{k!r}]"))), None)
    return _leaf(json.dumps(node.schema, sort_keys=True), value, path)


def _record(node: Node, value: Any, path: str) -> str | None:
    if not isinstance(value, dict):
        return f"{path or node.short_name}: expected a record, got {type(value).__name__}"
    fields = {field.name: field for field in node.fields()}
    for unknown in value.keys() - fields.keys():
        return f"{_join(path, unknown)}: not a field of {node.short_name}"
    for name, field in fields.items():
        if name not in value:
            if "default" in field.spec:
                continue
            return f"{_join(path, name)}: missing (the field has no default)"
        if problem := _check(field.node, value[name], _join(path, name)):
            return problem
    return None


def _union(node: Node, value: Any, path: str) -> str | None:
    branches = node.branches()
    if value is None:
        return None if any(b.kind == "null" for b in branches) else f"{path}: null is not allowed"
    problems = [_check(branch, value, path) for branch in branches if branch.kind != "null"]
    if any(problem is None for problem in problems):
        return None
    if len(problems) == 1:  # an optional value: the one real branch's reason is the useful one
        return problems[0]
    return f"{path}: fits no branch of the union ({'; '.join(p for p in problems if p)})"


def _leaf(schema_json: str, value: Any, path: str) -> str | None:
    if schema_json == '{"type": "null"}':  # fastavro writes null without looking at the value
        return None if value is None else f"{path}: expected null, got {type(value).__name__}"
    try:
        fastavro.schemaless_writer(io.BytesIO(), _leaf_schema(schema_json), {"value": value})
    except Exception as error:  # any refusal by the writer is the explanation
        return f"{path}: {value!r} does not fit {_describe(json.loads(schema_json))} ({error})"
    return None


@cache
def _leaf_schema(schema_json: str) -> Any:
    return fastavro.parse_schema(
        {"type": "record", "name": "Leaf", "fields": [{"name": "value", "type": json.loads(schema_json)}]}
    )


def _describe(schema: Any) -> str:
    if isinstance(schema, dict) and schema.get("logicalType") == "decimal":
        return f"decimal({schema['precision']}, {schema.get('scale', 0)})"
    if isinstance(schema, dict):
        return str(schema.get("logicalType") or schema.get("type"))
    return str(schema)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
