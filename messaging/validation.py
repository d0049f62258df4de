"""Explaining why a record does not fit its Avro schema, naming the field (fastavro's own errors often do not)."""

from __future__ import annotations

import io
import json
from functools import cache
from typing import Any

import fastavro

__all__ = ["first_problem"]

NAMED = ("record", "error", "enum", "fixed")


def first_problem(schema: Any, record: Any) -> str | None:
    """The first field of `record` that `schema` (as written in the .avsc) rejects, as 'path: reason'."""
    return _check(schema, record, "", {}, None)


def _check(schema: Any, value: Any, path: str, names: dict[str, Any], namespace: str | None) -> str | None:
    if isinstance(schema, list):
        return _union(schema, value, path, names, namespace)
    if isinstance(schema, str) and schema not in _PRIMITIVES:
        named = names.get(schema) or names.get(f"{namespace}.{schema}")
        if named is None:
            return f"{path or 'record'}: unknown type {schema}"
        return _check(named, value, path, names, namespace)
    if isinstance(schema, dict) and schema.get("type") in NAMED:
        namespace = schema.get("namespace", namespace)
        full = schema["name"] if "." in schema["name"] else f"{namespace}.{schema['name']}"
        names.setdefault(full, schema)
        if schema["type"] == "enum":
            return None if value in schema["symbols"] else f"{path}: {value!r} is not one of {schema['symbols']}"
        if schema["type"] == "fixed" and "logicalType" not in schema:
            ok = isinstance(value, bytes) and len(value) == schema["size"]
            return None if ok else f"{path}: expected {schema['size']} bytes"
        if schema["type"] != "fixed":
            return _record(schema, value, path, names, namespace)
    if isinstance(schema, dict) and schema.get("type") == "array":
        if not isinstance(value, (list, tuple)):
            return f"{path}: expected a list, got {type(value).__name__}"
        return next(
            (p for i, item in enumerate(value) if (p := _check(schema["items"], item, f"{path}[{i}]", names, namespace))),
            None,
        )
    if isinstance(schema, dict) and schema.get("type") == "map":
        if not isinstance(value, dict):
            return f"{path}: expected a mapping, got {type(value).__name__}"
        return next(
            (p for k, item in value.items() if (p := _check(schema["values"], item, f"{path}[{k!r}]", names, namespace))),
            None,
        )
    return _leaf(json.dumps(schema, sort_keys=True), value, path)


def _record(schema: dict[str, Any], value: Any, path: str, names: dict[str, Any], namespace: str | None) -> str | None:
    if not isinstance(value, dict):
        return f"{path or schema['name']}: expected a record, got {type(value).__name__}"
    fields = {field["name"]: field for field in schema["fields"]}
    for unknown in value.keys() - fields.keys():
        return f"{_join(path, unknown)}: not a field of {schema['name']}"
    for name, field in fields.items():
        if name not in value:
            if "default" in field:
                continue
            return f"{_join(path, name)}: missing (the field has no default)"
        if problem := _check(field["type"], value[name], _join(path, name), names, namespace):
            return problem
    return None


def _union(branches: list[Any], value: Any, path: str, names: dict[str, Any], namespace: str | None) -> str | None:
    if value is None:
        return None if "null" in branches else f"{path}: null is not allowed"
    problems = [_check(branch, value, path, names, namespace) for branch in branches if branch != "null"]
    if any(problem is None for problem in problems):
        return None
    if len(problems) == 1:  # an optional value: the one real branch's reason is the useful one
        return problems[0]
    return f"{path}: fits no branch of the union ({'; '.join(p for p in problems if p)})"


_PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")


def _leaf(schema_json: str, value: Any, path: str) -> str | None:
    if schema_json == '"null"':  # fastavro writes null without looking at the value
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
