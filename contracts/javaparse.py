"""What Avro Java 1.12's parser, and so the schema registry, makes of a schema's JSON where the avro package's parser
makes something else. contracts.compat reads every schema through `for_avro` before avro's parser.

Java parses in document order and knows a named type once it is complete (a record after its fields). A name it does
not know yet (a forward reference, a record naming itself or a record around it) stands for a record without fields
until the end, when it is resolved by the full name it has where it is written: a short name written inside a
namespace never reaches a type of the null namespace then. A field's default is checked twice: when the field is
parsed, against the types as they stand (an object fits a name not known yet, nothing else does), and when the names
are resolved and the types copied, against the copies, where a record whose copy has no fields yet throws ("Schema
fields not set yet") when a default reaches it as a record value. Names: an empty namespace is the null namespace; the
types inside an error take its namespace; a named type's aliases are qualified with its namespace. The differential
test against Avro Java (tests/contract/test_oracle.py) checks all of this on generated schemas, and keeps a case of each.

`for_avro(schema)` gives the schema as the avro package must read it to mean the same: every name spelled out in full
(a name of the null namespace under NULL_NAMESPACE, since avro cannot give a type inside a namespace the null one; see
`plain`), a named type defined where it is first used, an error as a record (the same type to Java's compatibility
checker, none to avro's). It raises ValueError, in Java's words where it has some, where Java's parser refuses the
schema for these reasons: a name never defined, a name defined twice as two types (twice as the same is one type), a
union holding a type twice once names are resolved, a default that does not fit its type, or one it cannot check. It
also refuses, where Java does not, a type defined twice as the same type but with other aliases or defaults (Java
keeps each where it is written; avro's parser can hold one): the one case where contracts compat is stricter than
the registry about what a schema is, and says so.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contracts.avro import NAMED, PRIMITIVES

__all__ = ["NULL_NAMESPACE", "DefinedTwice", "for_avro", "plain"]

NULL_NAMESPACE = "__null_namespace__"
_JAVA_DOUBLE = re.compile(r"\s*[+-]?(NaN|Infinity|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[fFdD]?)\s*")  # Double.parseDouble
_MISSING = object()


def plain(text: str) -> str:
    """A message about a schema from for_avro, without its spelling of the null namespace."""
    return text.replace(f"{NULL_NAMESPACE}.", "")


@dataclass(eq=False)
class _Type:
    """A type as Java's parser builds it: a primitive, enum, fixed, array, map, union, record, or a name not known yet
    ("reference"), which `target` holds once resolved."""

    kind: str
    name: str = ""  # a named type's full name, or the one a reference is resolved by
    children: list[_Type] = field(default_factory=list)  # items, values or branches
    fields: list[_Field] = field(default_factory=list)
    target: _Type | None = None


@dataclass(eq=False)
class _Field:
    record: str
    name: str
    type: _Type
    default: Any  # _MISSING when there is none


class DefinedTwice(ValueError):
    """A type defined twice, the same type to Java but with other aliases or defaults: the registry takes the schema,
    Java keeps each definition where it is written, and avro's parser can hold only one (stricter: CONTRACT104)."""


class _Unfinished(Exception):
    """A default reaches, as a record value, a record whose copy has no fields yet: Java throws."""


def for_avro(schema: Any) -> tuple[Any, DefinedTwice | None]:
    """The schema (JSON) as avro's parser must read it to mean what Java's reads, and why we refuse it where Java takes
    it (a DefinedTwice, to raise once avro's parser has found nothing else wrong); ValueError where Java refuses it."""
    parser = _Parser()
    copied = copy.deepcopy(schema)
    holder = [copied]
    parser.parse(holder, 0, None)
    for reference in parser.references:
        reference.target = parser.known.get(reference.name)
        if reference.target is None:
            raise ValueError(f"Undefined schema: {reference.name}")
    for union in parser.unions:  # a name not known yet when the union was parsed is only compared now
        branches = [b.target if b.kind == "reference" and b.target is not None else b for b in union.children]
        keys = [b.name if b.kind in ("record", "enum", "fixed") else b.kind for b in branches]
        if duplicate := next((key for i, key in enumerate(keys) if key in keys[:i]), None):
            raise ValueError(f"Duplicate in union: {duplicate}")
    _check_copies(parser.order)
    return _define_first(holder[0], parser.definitions, parser.again), parser.twice


def _full(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _spelled(full: str) -> str:
    return full if "." in full else f"{NULL_NAMESPACE}.{full}"


class _Parser:
    """Java's Schema.parse over the JSON, in its order, spelling names out for avro as it goes."""

    def __init__(self) -> None:
        self.known: dict[str, _Type] = {}  # the named types complete so far, by full name
        self.order: list[_Type] = []  # the records in the order they were complete
        self.references: list[_Type] = []
        self.unions: list[_Type] = []
        self.again: set[int] = set()  # ids of the JSON of types defined again, the same: references to avro
        self.twice: DefinedTwice | None = None  # the first type defined again with other aliases or defaults
        self.definitions: dict[str, dict[str, Any]] = {}  # spelled full name -> its (rewritten) JSON definition

    def parse(self, container: Any, key: Any, namespace: str | None) -> _Type:
        node = container[key]
        if isinstance(node, str):
            return self.name(container, key, node, namespace)
        if isinstance(node, list):
            union = _Type("union", children=[self.parse(node, i, namespace) for i in range(len(node))])
            self.unions.append(union)
            return union
        if not isinstance(node, dict):
            return _Type("invalid")  # avro's parser says why
        kind = node.get("type")
        if isinstance(kind, (dict, list)) or (isinstance(kind, str) and kind not in PRIMITIVES | NAMED | {"array", "map"}):
            return self.parse(node, "type", namespace)  # {"type": {...}} or {"type": "SomeRecord"}
        if kind in ("array", "map"):
            part = "items" if kind == "array" else "values"
            return _Type(kind, children=[self.parse(node, part, namespace)]) if part in node else _Type("invalid")
        if kind in NAMED and isinstance(node.get("name"), str):
            return self.named(node, namespace)
        return _Type(kind if isinstance(kind, str) else "invalid")

    def name(self, container: Any, key: Any, name: str, namespace: str | None) -> _Type:
        if name in PRIMITIVES:
            return _Type(name)
        full = _full(name, namespace)
        found = self.known.get(full) or self.known.get(name)
        if found is not None:
            container[key] = _spelled(found.name)
            return found
        reference = _Type("reference", full)  # resolved at the end, by this name only
        self.references.append(reference)
        container[key] = _spelled(full)
        return reference

    def named(self, node: dict[str, Any], namespace: str | None) -> _Type:
        given = node.get("namespace")
        full = _full(node["name"], given if isinstance(given, str) else namespace)
        inner = full.rpartition(".")[0] or None
        node["name"] = _spelled(full)
        node.pop("namespace", None)
        if isinstance(node.get("aliases"), list):
            node["aliases"] = [_spelled(_full(a, inner)) if isinstance(a, str) else a for a in node["aliases"]]
        kind = node["type"]
        if kind == "error":
            node["type"] = kind = "record"
        made = _Type(kind, full)
        specs: list[Any] = node["fields"] if kind == "record" and isinstance(node.get("fields"), list) else []
        for spec in specs:
            if isinstance(spec, dict) and "type" in spec:
                made.fields.append(self.field(spec, full, inner))
        known = self.known.setdefault(full, made)
        if known is not made:  # a second definition: Java takes it when it is the same type
            first = self.definitions[_spelled(full)]
            if _shallow(node) != _shallow(first):
                raise ValueError(f"Can't redefine: {full}")
            if _shallow(node, java=False) != _shallow(first, java=False):  # avro's parser cannot hold both
                self.twice = self.twice or DefinedTwice(
                    f"{full} is defined twice, the same type to Java but with other aliases or defaults, which Java "
                    "keeps where each is written and contracts compat cannot: define it once")
            self.again.add(id(node))
            return known
        self.definitions[_spelled(full)] = node
        if kind == "record":
            self.order.append(made)
        return made

    def field(self, spec: dict[str, Any], record: str, namespace: str | None) -> _Field:
        kind = self.parse(spec, "type", namespace)
        made = _Field(record, str(spec.get("name")), kind, spec.get("default", _MISSING))
        if kind.kind in ("float", "double") and isinstance(made.default, str):  # Java reads the text as a double
            if not _JAVA_DOUBLE.fullmatch(made.default):
                raise ValueError(f"the default of {_name(made)}, {json.dumps(made.default)}, is not a number")
            made.default = 0.0  # any number: only its being one matters from here on
        if made.default is not _MISSING and not _fits(kind, made.default, None):
            raise ValueError(f"the default of {_name(made)}, {json.dumps(made.default)}, does not fit its type {kind.kind}")
        return made


def _shallow(node: Any, java: bool = True, top: bool = True) -> Any:
    """A named type's definition as Java's Schema.equals compares it (`java`: without docs, aliases and an enum's
    default), or as contracts compat reads it (without docs), the named types inside it by name."""
    if isinstance(node, list):
        return [_shallow(branch, java, False) for branch in node]
    if not isinstance(node, dict):
        return node
    if not top and node.get("type") in NAMED and "name" in node:
        return node["name"]
    skip = {"doc"} | ({"aliases"} | ({"default"} if node.get("type") == "enum" else set()) if java else set())
    return {key: [_shallow(f, java, False) for f in value] if key == "fields" and isinstance(value, list) else
            _shallow(value, java, False) for key, value in node.items() if key not in skip}


def _name(made: _Field) -> str:
    return f"{made.record}.{made.name}"


def _fits(kind: _Type, value: Any, copied: dict[int, bool] | None) -> bool:
    """Java's Schema.isValidDefault: any union branch, tried in order; enums, bytes and fixed take any text; a record's
    field the value leaves out is checked with its own default. `copied` is None while Java parses (a name not known yet
    is a record without fields); while it copies, whether each record's copy has its fields (_Unfinished if not)."""
    if kind.kind == "reference":
        if copied is None or kind.target is None:
            return isinstance(value, dict)
        kind = kind.target
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind.kind in ("int", "long"):
        bound = 2 ** (31 if kind.kind == "int" else 63)
        return number and isinstance(value, int) and -bound <= value < bound
    if kind.kind in ("float", "double"):
        return number
    if kind.kind == "union":
        return any(_fits(branch, value, copied) for branch in kind.children)
    if kind.kind == "array":
        return isinstance(value, list) and all(_fits(kind.children[0], item, copied) for item in value)
    if kind.kind == "map":
        return isinstance(value, dict) and all(_fits(kind.children[0], item, copied) for item in value.values())
    if kind.kind == "record":
        if not isinstance(value, dict):
            return False
        if copied is not None and not copied.get(id(kind)):
            raise _Unfinished
        return all(_fits(f.type, value[f.name], copied) if f.name in value
                   else f.default is not _MISSING and _fits(f.type, f.default, copied) for f in kind.fields)
    return {"null": value is None, "boolean": isinstance(value, bool)}.get(kind.kind, isinstance(value, str))


def _check_copies(records: list[_Type]) -> None:
    """Java's ParseContext resolves names by copying every named type in the order it was complete (Schemas.visit with a
    ResolvingVisitor: depth first, a record's fields in order, a union's branches last first; a name met there for a
    type not copied yet copies it first, inside). A record's copy gets its fields after everything in them is copied,
    checking each field's default against the copies: a record still without fields throws."""
    copied: dict[int, bool] = {}  # id of a record -> whether its copy has its fields

    def finish(record: _Type) -> None:
        if copied[id(record)]:
            return
        for made in record.fields:
            try:
                fits = made.default is _MISSING or _fits(made.type, made.default, copied)
            except _Unfinished:
                raise ValueError(f"the default of {_name(made)}, {json.dumps(made.default)}, holds a record value of a "
                                 "type Java's parser has not finished when it checks it (Schema fields not set yet)") from None
            if not fits:
                raise ValueError(f"the default of {_name(made)}, {json.dumps(made.default)}, does not fit its type "
                                 f"{made.type.kind}")
        copied[id(record)] = True

    def visit(start: _Type) -> None:
        seen: set[int] = set()
        stack: list[_Type | Callable[[], None]] = [start]
        while stack:
            item = stack.pop()
            if callable(item):
                item()
                continue
            if id(item) in seen or item.kind not in ("record", "reference", "union", "array", "map"):
                continue
            seen.add(id(item))
            if item.kind == "reference":
                target = item.target
                if target is not None and target.kind == "record" and id(target) not in copied:
                    visit(target)
                continue
            if item.kind == "record":
                copied.setdefault(id(item), False)
                stack.append(lambda record=item: finish(record))  # type: ignore[misc]
                stack.extend(reversed([f.type for f in item.fields]))
            else:
                stack.extend(item.children)

    for record in records:
        visit(record)


def _define_first(schema: Any, definitions: dict[str, dict[str, Any]], again: set[int]) -> Any:
    """The schema with each named type defined where it is first used (avro's parser knows no later definitions), and
    defined once (avro's refuses a second definition, even the same)."""
    defined: set[str] = set()

    def walk(node: Any) -> Any:
        if isinstance(node, dict) and id(node) in again:
            node = node["name"]
        if isinstance(node, str) and node in definitions:
            if node in defined:
                return node
            node = definitions[node]
        if isinstance(node, list):
            return [walk(branch) for branch in node]
        if not isinstance(node, dict):
            return node
        kind = node.get("type")
        if kind in NAMED and isinstance(node.get("name"), str) and definitions.get(node["name"]) is node:
            if node["name"] in defined:
                return node["name"]
            defined.add(node["name"])
        for part in ("type", "items", "values"):
            if part in node and (part != "type" or isinstance(node[part], (dict, list)) or node[part] in definitions):
                node[part] = walk(node[part])
        for spec in node.get("fields", ()) if isinstance(node.get("fields"), list) else ():
            if isinstance(spec, dict) and "type" in spec:
                spec["type"] = walk(spec["type"])
        return node

    return walk(schema)
