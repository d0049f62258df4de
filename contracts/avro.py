"""One walker over Avro schemas as written in .avsc files: name resolution and a typed view of each node.

Every tool that reads a schema's JSON (the field diff, the record validation, the constraints, the typed
records, the hypothesis strategies) walks it through `Node`, so a named type is resolved the one way the
Avro specification says: a name without a dot is looked up in the enclosing namespace, then as written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["LOGICAL", "NAMED", "PRIMITIVES", "Field", "Names", "Node", "fullname", "load", "root"]

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "error", "enum", "fixed"})
LOGICAL = ("logicalType", "precision", "scale")  # the attributes that give a type's values their meaning


def load(schema: Any) -> Any:
    """A schema's JSON from its text (a bare primitive name such as `string` is kept as it is), or as given."""
    if isinstance(schema, str) and schema.strip() not in PRIMITIVES:  # json.loads would read `null` as None
        try:
            return json.loads(schema)
        except ValueError:
            return schema
    return schema


def fullname(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


class Names:
    """The named types (records, enums, fixed) the given schemas define, by full name; the first definition wins."""

    def __init__(self, *schemas: Any) -> None:
        self.defined: dict[str, tuple[dict[str, Any], str]] = {}
        for schema in schemas:
            self._collect(schema, "")

    def _collect(self, schema: Any, namespace: str) -> None:
        if isinstance(schema, list):
            for branch in schema:
                self._collect(branch, namespace)
        elif isinstance(schema, dict):
            kind = schema.get("type")
            if kind in NAMED and isinstance(schema.get("name"), str):
                full = fullname(schema["name"], schema.get("namespace", namespace))
                inner = full.rpartition(".")[0]
                self.defined.setdefault(full, (schema, inner))
                for field in schema.get("fields", ()) if kind in ("record", "error") else ():
                    if isinstance(field, dict):
                        self._collect(field.get("type"), inner)
            elif kind == "array":
                self._collect(schema.get("items"), namespace)
            elif kind == "map":
                self._collect(schema.get("values"), namespace)
            elif isinstance(kind, (dict, list)):
                self._collect(kind, namespace)

    def resolve(self, name: str, namespace: str) -> tuple[dict[str, Any], str] | None:
        for candidate in (fullname(name, namespace), name):
            if candidate in self.defined:
                return self.defined[candidate]
        return None


def root(schema: Any, *more: Any) -> Node:
    """The node of a whole schema (JSON text or loaded); `more` holds schemas defining names it refers to."""
    loaded = load(schema)
    return Node.of(loaded, "", Names(loaded, *map(load, more)))


def _missing(path: str) -> Node:
    raise KeyError(f"no field at {path}")


@dataclass(frozen=True)
class Field:
    """One field of a record: its name, its type's node and the field's JSON (doc, default, constraints...)."""

    name: str
    node: Node
    spec: dict[str, Any]


@dataclass(frozen=True)
class Node:
    """One type in context: its JSON (a dict; a list for a union), the enclosing namespace, and the names.

    Built by `of`, which follows references and wrappers, so `schema` is always the type's own definition."""

    schema: Any
    namespace: str
    names: Names

    @classmethod
    def of(cls, schema: Any, namespace: str, names: Names) -> Node:
        while True:
            if isinstance(schema, str):
                if schema in PRIMITIVES:
                    return cls({"type": schema}, namespace, names)
                found = names.resolve(schema, namespace)
                if found is None:  # an unknown name: kept as an opaque type
                    return cls({"type": "unknown", "name": schema}, namespace, names)
                schema, namespace = found
                return cls(schema, namespace, names)
            if isinstance(schema, dict) and isinstance(schema.get("type"), (dict, list)):
                schema = schema["type"]  # {"type": {...}}: a wrapper around the real type
                continue
            if isinstance(schema, dict) and isinstance(schema.get("type"), str) and schema["type"] not in PRIMITIVES \
                    and schema["type"] not in NAMED | {"array", "map"}:
                schema = schema["type"]  # {"type": "SomeRecord"}: a reference
                continue
            if isinstance(schema, dict) and schema.get("type") in NAMED and isinstance(schema.get("name"), str):
                namespace = fullname(schema["name"], schema.get("namespace", namespace)).rpartition(".")[0]
            return cls(schema, namespace, names)

    @property
    def kind(self) -> str:
        """union, record (errors too), enum, fixed, array, map, a primitive's name, or unknown."""
        if isinstance(self.schema, list):
            return "union"
        kind = self.schema.get("type")
        return "record" if kind == "error" else str(kind)

    @property
    def fullname(self) -> str:
        name = str(self.schema.get("name", ""))
        return fullname(name, self.namespace) if "." not in name else name

    @property
    def short_name(self) -> str:
        return self.fullname.rpartition(".")[2]

    @property
    def aliases(self) -> set[str]:
        return {fullname(alias, self.namespace) for alias in self.schema.get("aliases", ()) if isinstance(alias, str)}

    @property
    def logical(self) -> tuple[Any, ...]:
        """logicalType, precision and scale as written (None where absent)."""
        if isinstance(self.schema, list):
            return (None, None, None)
        return tuple(self.schema.get(key) for key in LOGICAL)

    @property
    def logical_type(self) -> str | None:
        logical = self.logical[0]
        return logical if isinstance(logical, str) else None

    def child(self, schema: Any) -> Node:
        return Node.of(schema, self.namespace, self.names)

    def branches(self) -> list[Node]:
        """A union's branches; any other type is its own single branch."""
        return [self.child(branch) for branch in self.schema] if self.kind == "union" else [self]

    def fields(self) -> Iterator[Field]:
        """A record's fields in order (none for other types)."""
        if self.kind != "record":
            return
        for spec in self.schema.get("fields", ()):
            if isinstance(spec, dict) and isinstance(spec.get("name"), str):
                yield Field(spec["name"], self.child(spec.get("type")), spec)

    @property
    def items(self) -> Node:
        return self.child(self.schema.get("items"))

    @property
    def values(self) -> Node:
        return self.child(self.schema.get("values"))

    def at(self, path: str) -> Node:
        """The type at a field path such as `invoice.lines[].total`, through optional values; KeyError if none."""
        node: Node = self
        for step in path.replace("[]", ".[]").split("."):
            optional = [b for b in node.branches() if b.kind != "null"]
            node = optional[0] if len(optional) == 1 else node
            if step == "[]" and node.kind == "array":
                node = node.items
            else:
                node = next((f.node for f in node.fields() if f.name == step), None) or _missing(path)
        return node

    def branch_key(self) -> str:
        """What identifies a union branch: its full name for named types, its type otherwise."""
        return self.fullname if self.kind in ("record", "enum", "fixed") else self.kind

    def describe(self) -> str:
        """A short description for people: `string`, `[null, string]`, `bytes decimal(16,2)`, `array<record Item>`."""
        kind = self.kind
        if kind == "union":
            return "[" + ", ".join(branch.describe() for branch in self.branches()) + "]"
        if kind == "array":
            return f"array<{self.items.describe()}>"
        if kind == "map":
            return f"map<{self.values.describe()}>"
        if kind == "fixed":
            text = f"fixed {self.short_name}({self.schema.get('size')})"
        elif kind in ("record", "enum"):
            return f"{kind} {self.short_name}"
        elif kind == "unknown":
            return str(self.schema.get("name"))
        else:
            text = kind
        logical = self.schema.get("logicalType")
        if logical == "decimal":
            return f"{text} decimal({self.schema.get('precision')},{self.schema.get('scale', 0)})"
        return f"{text} ({logical})" if logical else text
