"""What Avro schema resolution should make of a value: the expectation the evolution property checks."""

from __future__ import annotations

from typing import Any

__all__ = ["expected_read"]


def _named(schema: Any, names: dict[str, Any], namespace: str | None) -> tuple[Any, str | None]:
    """Resolve a named reference to its definition, remembering definitions as they are met."""
    if isinstance(schema, str) and schema not in _PRIMITIVES:
        full = schema if "." in schema else f"{namespace}.{schema}"
        return names.get(full, names.get(schema)), namespace
    if isinstance(schema, dict) and schema.get("type") in ("record", "enum", "fixed"):
        namespace = schema.get("namespace", namespace)
        name = schema["name"]
        names.setdefault(name if "." in name else f"{namespace}.{name}", schema)
    return schema, namespace


_PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")


def expected_read(value: Any, writer: Any, reader: Any) -> Any:
    """`value` (written with `writer`) as a reader with `reader` must see it: shared fields kept, new ones defaulted."""
    return _expect(value, writer, reader, {}, {}, None, None)


def _expect(value: Any, writer: Any, reader: Any, wnames: dict, rnames: dict, wns: str | None, rns: str | None) -> Any:
    writer, wns = _named(writer, wnames, wns)
    reader, rns = _named(reader, rnames, rns)
    # Unions: the contracts use only optional values (null or one type), so the branch follows the value.
    if isinstance(reader, list):
        return _expect(value, writer, _branch(value, reader), wnames, rnames, wns, rns)
    if isinstance(writer, list):
        return _expect(value, _branch(value, writer), reader, wnames, rnames, wns, rns)
    kind = reader.get("type") if isinstance(reader, dict) else reader
    if kind == "record":
        written = {f["name"]: f for f in writer["fields"]}
        result = {}
        for field in reader["fields"]:
            source = next((written[n] for n in [field["name"], *field.get("aliases", [])] if n in written), None)
            if source is None:
                result[field["name"]] = field["default"]
            else:
                result[field["name"]] = _expect(
                    value[source["name"]], source["type"], field["type"], wnames, rnames, wns, rns
                )
        return result
    if kind == "array":
        return [_expect(v, writer["items"], reader["items"], wnames, rnames, wns, rns) for v in value]
    if kind == "map":
        return {k: _expect(v, writer["values"], reader["values"], wnames, rnames, wns, rns) for k, v in value.items()}
    if kind in ("long", "float", "double") and isinstance(value, int) and not isinstance(value, bool):
        return float(value) if kind != "long" else value  # promotion
    return value


def _branch(value: Any, branches: list[Any]) -> Any:
    if value is None:
        return "null"
    others = [b for b in branches if b != "null"]
    if len(others) != 1:
        raise NotImplementedError("expected_read handles optional unions (null and one type) only")
    return others[0]
