"""A field-level diff between two versions of an Avro schema, for people reviewing a change.

`field_diff(old, new)` walks both schemas side by side and lists what changed, each change with the dotted
path of the field it concerns: `invoice.verification_code` (fields of nested records, union branches
followed into their record), `items[].quantity` (records inside arrays), `attributes{}.name` (inside map
values). A change to the top-level record itself (its doc, its name) has the empty path.

Kinds:
- `added` / `removed`: a field appeared or disappeared; the detail gives its type and whether it has a default;
- `renamed`: a new field whose aliases include the name of an old field that is gone;
- `type_promoted`: an Avro promotion (int -> long, float, double; long -> float, double; float -> double;
  string <-> bytes) between types without a logical type;
- `type_changed`: any other change of type, including logical types, decimal precision or scale, fixed
  sizes and union branches gained or lost;
- `default_changed`: a field's default added, removed or changed (or an enum's default);
- `doc_changed`: a field's or a named type's doc;
- `symbols_changed`: an enum's symbols added, removed or reordered;
- `other`: anything else that can matter (named types renamed, aliases, sort order, union order).

This only describes; whether a change is compatible is contracts.compat's business.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["KINDS", "Change", "describe_type", "field_diff"]

KINDS = (
    "added", "removed", "renamed", "type_changed", "type_promoted", "default_changed", "doc_changed",
    "symbols_changed", "other",
)
PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "error", "enum", "fixed"})
PROMOTIONS = frozenset({
    ("int", "long"), ("int", "float"), ("int", "double"), ("long", "float"), ("long", "double"),
    ("float", "double"), ("string", "bytes"), ("bytes", "string"),
})
LOGICAL = ("logicalType", "precision", "scale")


@dataclass(frozen=True)
class Change:
    kind: str  # one of KINDS
    path: str  # dotted field path; "" for the top-level schema itself
    detail: str  # for people

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def field_diff(old: str | dict[str, Any], new: str | dict[str, Any]) -> list[Change]:
    """Every difference between two versions of a schema, in the new version's field order, removals last
    within each record."""
    old_schema, new_schema = _parse(old), _parse(new)
    differ = _Differ(_Names(old_schema), _Names(new_schema))
    differ.compare(_Node.of(old_schema, "", differ.old), _Node.of(new_schema, "", differ.new), "")
    return differ.changes


def describe_type(schema: Any) -> str:
    """A short description of a schema for people: `string`, `[null, string]`, `bytes decimal(16,2)`,
    `record Invoice`, `array<record InvoiceLine>`."""
    schema = _parse(schema)
    return _Node.of(schema, "", _Names(schema)).describe()


def _parse(schema: Any) -> Any:
    if isinstance(schema, str):
        try:
            return json.loads(schema)
        except ValueError:
            return schema  # a bare primitive name such as `string`
    return schema


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _fullname(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


class _Names:
    """The named types (records, enums, fixed) a schema defines, by full name."""

    def __init__(self, schema: Any) -> None:
        self.defined: dict[str, tuple[dict[str, Any], str]] = {}
        self._collect(schema, "")

    def _collect(self, schema: Any, namespace: str) -> None:
        if isinstance(schema, list):
            for branch in schema:
                self._collect(branch, namespace)
        elif isinstance(schema, dict):
            kind = schema.get("type")
            if kind in NAMED and isinstance(schema.get("name"), str):
                full = _fullname(schema["name"], schema.get("namespace", namespace))
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
        for candidate in (_fullname(name, namespace), name):
            if candidate in self.defined:
                return self.defined[candidate]
        return None


@dataclass(frozen=True)
class _Node:
    """One schema in context: its JSON (a dict, a list for unions), the enclosing namespace, and the names."""

    schema: Any
    namespace: str
    names: _Names

    @classmethod
    def of(cls, schema: Any, namespace: str, names: _Names) -> _Node:
        while True:
            if isinstance(schema, str):
                if schema in PRIMITIVES:
                    return cls({"type": schema}, namespace, names)
                found = names.resolve(schema, namespace)
                if found is None:  # an unknown name: keep it as an opaque type
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
                namespace = _fullname(schema["name"], schema.get("namespace", namespace)).rpartition(".")[0]
            return cls(schema, namespace, names)

    @property
    def kind(self) -> str:
        if isinstance(self.schema, list):
            return "union"
        kind = self.schema.get("type")
        return "record" if kind == "error" else str(kind)

    @property
    def fullname(self) -> str:
        name = str(self.schema.get("name", ""))
        return _fullname(name, self.namespace) if "." not in name else name

    @property
    def short_name(self) -> str:
        return self.fullname.rpartition(".")[2]

    @property
    def aliases(self) -> set[str]:
        return {_fullname(alias, self.namespace) for alias in self.schema.get("aliases", ()) if isinstance(alias, str)}

    @property
    def logical(self) -> tuple[Any, ...]:
        return tuple(self.schema.get(key) for key in LOGICAL)

    def child(self, schema: Any) -> _Node:
        return _Node.of(schema, self.namespace, self.names)

    def branches(self) -> list[_Node]:
        return [self.child(branch) for branch in self.schema] if self.kind == "union" else [self]

    def branch_key(self) -> str:
        """What identifies a union branch: its full name for named types, its type otherwise."""
        return self.fullname if self.kind in ("record", "enum", "fixed") else self.kind

    def describe(self, depth: int = 0) -> str:
        kind = self.kind
        if kind == "union":
            return "[" + ", ".join(branch.describe(depth + 1) for branch in self.branches()) + "]"
        if kind == "array":
            return f"array<{self.child(self.schema.get('items')).describe(depth + 1)}>"
        if kind == "map":
            return f"map<{self.child(self.schema.get('values')).describe(depth + 1)}>"
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


class _Differ:
    def __init__(self, old: _Names, new: _Names) -> None:
        self.old, self.new = old, new
        self.changes: list[Change] = []
        self._open: set[tuple[str, str]] = set()  # record pairs being compared: recursive types stop here

    def add(self, kind: str, path: str, detail: str) -> None:
        self.changes.append(Change(kind, path, detail))

    def compare(self, old: _Node, new: _Node, path: str) -> None:
        """Report the differences between two types found at `path`."""
        if old.kind == "union" or new.kind == "union":
            self._unions(old, new, path)
        elif old.kind != new.kind:
            if (old.kind, new.kind) in PROMOTIONS and not any(old.logical) and not any(new.logical):
                self.add("type_promoted", path, f"{old.describe()} -> {new.describe()} (an Avro promotion)")
            else:
                self.add("type_changed", path, f"{old.describe()} -> {new.describe()}")
        elif old.kind == "record":
            self._records(old, new, path)
        elif old.kind == "enum":
            self._enums(old, new, path)
        elif old.kind == "array":
            self.compare(old.child(old.schema.get("items")), new.child(new.schema.get("items")), path + "[]")
        elif old.kind == "map":
            self.compare(old.child(old.schema.get("values")), new.child(new.schema.get("values")), path + "{}")
        else:  # a primitive or a fixed: only its logical type, precision, scale or size can differ
            self._renamed_type(old, new, path)
            if old.logical != new.logical or old.schema.get("size") != new.schema.get("size"):
                self.add("type_changed", path, f"{old.describe()} -> {new.describe()}")

    def _unions(self, old: _Node, new: _Node, path: str) -> None:
        old_branches, new_branches = old.branches(), new.branches()
        pairs, gained = [], []
        unmatched = list(old_branches)
        for branch in new_branches:
            match = next((o for o in unmatched if _same_branch(o, branch)), None)
            if match is None:
                gained.append(branch)
            else:
                unmatched.remove(match)
                pairs.append((match, branch))
        lost = unmatched
        if old.kind != new.kind or gained or lost:
            notes = [f"adds {b.describe()}" for b in gained] + [f"drops {b.describe()}" for b in lost]
            detail = f"{old.describe()} -> {new.describe()}"
            if old.kind == new.kind:
                detail += f" ({'; '.join(notes)})"
            self.add("type_changed", path, detail)
        elif [o.branch_key() for o, _ in pairs] != [o.branch_key() for o in old_branches]:
            self.add("other", path, f"union branches reordered: {old.describe()} -> {new.describe()}"
                     " (the first branch decides which defaults are valid)")
        for old_branch, new_branch in pairs:  # follow the branches kept, into their records
            self.compare(old_branch, new_branch, path)

    def _renamed_type(self, old: _Node, new: _Node, path: str) -> None:
        if old.kind in ("record", "enum", "fixed") and old.fullname != new.fullname:
            kept = " (the old name is kept as an alias)" if old.fullname in new.aliases else " (no alias keeps the old name)"
            self.add("other", path, f"{old.kind} {old.fullname} renamed to {new.fullname}{kept}")

    def _doc(self, old: dict[str, Any], new: dict[str, Any], path: str, what: str) -> None:
        if old.get("doc") != new.get("doc"):
            if "doc" not in old:
                self.add("doc_changed", path, f"{what} doc added: {_json(new['doc'])}")
            elif "doc" not in new:
                self.add("doc_changed", path, f"{what} doc removed (was {_json(old['doc'])})")
            else:
                self.add("doc_changed", path, f"{what} doc: {_json(old['doc'])} -> {_json(new['doc'])}")

    def _records(self, old: _Node, new: _Node, path: str) -> None:
        pair = (old.fullname, new.fullname)
        if pair in self._open:
            return  # a recursive reference: compared where it was first met
        self._open.add(pair)
        try:
            self._renamed_type(old, new, path)
            self._doc(old.schema, new.schema, path, f"record {new.short_name}")
            self._fields(old, new, path)
        finally:
            self._open.discard(pair)

    def _fields(self, old: _Node, new: _Node, path: str) -> None:
        old_fields = {f["name"]: f for f in old.schema.get("fields", ()) if isinstance(f, dict) and "name" in f}
        new_fields = [f for f in new.schema.get("fields", ()) if isinstance(f, dict) and "name" in f]
        new_names = {f["name"] for f in new_fields}
        matched: set[str] = set()
        for field in new_fields:
            name = field["name"]
            field_path = _join(path, name)
            if name in old_fields:
                previous = old_fields[name]
            else:
                alias = next(
                    (a for a in field.get("aliases", ()) if a in old_fields and a not in new_names and a not in matched),
                    None,
                )
                if alias is None:
                    self.add("added", field_path, f"{new.child(field.get('type')).describe()}, {_default(field)}")
                    continue
                previous = old_fields[alias]
                self.add("renamed", field_path, f"renamed from {_join(path, alias)} (aliases {_json(field['aliases'])})")
            matched.add(previous["name"])
            self._field(previous, field, old, new, field_path)
        for name, field in old_fields.items():
            if name not in matched:
                self.add("removed", _join(path, name), f"{old.child(field.get('type')).describe()}, {_default(field, 'had')}")

    def _field(self, old: dict[str, Any], new: dict[str, Any], old_record: _Node, new_record: _Node, path: str) -> None:
        if ("default" in old, old.get("default")) != ("default" in new, new.get("default")):
            if "default" not in old:
                self.add("default_changed", path, f"default added: {_json(new['default'])}")
            elif "default" not in new:
                self.add("default_changed", path, f"default removed (was {_json(old['default'])})")
            else:
                self.add("default_changed", path, f"default: {_json(old['default'])} -> {_json(new['default'])}")
        self._doc(old, new, path, "field")
        if sorted(old.get("aliases", [])) != sorted(new.get("aliases", [])) and old["name"] == new["name"]:
            self.add("other", path, f"field aliases: {_json(old.get('aliases', []))} -> {_json(new.get('aliases', []))}")
        if old.get("order", "ascending") != new.get("order", "ascending"):
            self.add("other", path, f"sort order: {old.get('order', 'ascending')} -> {new.get('order', 'ascending')}")
        self.compare(old_record.child(old.get("type")), new_record.child(new.get("type")), path)

    def _enums(self, old: _Node, new: _Node, path: str) -> None:
        self._renamed_type(old, new, path)
        self._doc(old.schema, new.schema, path, f"enum {new.short_name}")
        before, after = list(old.schema.get("symbols", [])), list(new.schema.get("symbols", []))
        added = [s for s in after if s not in before]
        removed = [s for s in before if s not in after]
        if added or removed:
            notes = ([f"adds {', '.join(added)}"] if added else []) + ([f"removes {', '.join(removed)}"] if removed else [])
            self.add("symbols_changed", path, f"enum {new.short_name} {'; '.join(notes)}")
        elif before != after:
            self.add("symbols_changed", path,
                     f"enum {new.short_name} symbols reordered: {', '.join(before)} -> {', '.join(after)}")
        if old.schema.get("default") != new.schema.get("default"):
            self.add("default_changed", path, f"enum {new.short_name} default: "
                     f"{_json(old.schema.get('default'))} -> {_json(new.schema.get('default'))}")


def _same_branch(old: _Node, new: _Node) -> bool:
    if old.kind != new.kind:
        return False
    if old.kind in ("record", "enum", "fixed"):
        return old.fullname == new.fullname or old.fullname in new.aliases
    return True


def _default(field: dict[str, Any], verb: str = "") -> str:
    if "default" in field:
        return f"{verb + ' ' if verb else ''}default {_json(field['default'])}"
    return "no default" if not verb else "had no default"
