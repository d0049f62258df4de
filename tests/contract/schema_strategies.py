"""Hypothesis strategies for Avro schemas and their evolutions: the input of the differential test (test_oracle.py).

`schemas()` draws a record schema as JSON: nested records, unions, enums with and without defaults, fixed, arrays,
maps, aliases of types and fields, namespaces (inherited, explicit, dotted names), references to named types by full
and short name, recursion, every logical type (valid on its type, and some Java ignores), and defaults of every type.
`evolutions(schema)` draws a later version of it, one to three changes applied: a field added, removed, renamed (with
or without an alias), re-aliased or moved; a default added, changed or dropped; a type promoted, narrowed or replaced,
made optional or not, a union widened, narrowed or reordered; an enum's symbols or default changed; a fixed resized; a
named type renamed or moved to another namespace (with or without an alias); a logical type's unit, clock, precision
or scale changed, added or dropped. `chains()` draws a schema and two successive evolutions of it.

Names come from small pools so that names collide, renames meet old names, and short names match across namespaces.
Most results are valid schemas; a few are not (a union holding the same type twice after a promotion, a default left
behind by a type change): whether a schema is valid is part of what the test compares.
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar

from hypothesis import strategies as st

from contracts.avro import NAMED, PRIMITIVES, Names, Node, fullname

__all__ = ["chains", "evolutions", "schemas"]

T = TypeVar("T")
Json = Any

NAMESPACES = ("", "acme", "acme.billing")  # "" means none given
TYPE_NAMES = ("Payment", "Status", "Money", "Line", "Party")
FIELD_NAMES = ("id", "amount", "total", "note", "at", "kind", "ref", "lines")
SYMBOLS = ("OPEN", "PAID", "VOID", "LATE", "GONE")
NUMBERS = ("int", "long", "float", "double")
PROMOTIONS = {"int": ("long", "float", "double"), "long": ("float", "double"), "float": ("double",),
              "string": ("bytes",), "bytes": ("string",)}
NARROWINGS = {"long": ("int",), "float": ("int", "long"), "double": ("int", "long", "float")}
# Logical types on the type Avro gives them, and a few on a type where Java ignores them.
LOGICAL = {
    "int": ("date", "time-millis", "timestamp-millis"),
    "long": ("time-micros", "timestamp-millis", "timestamp-micros", "timestamp-nanos", "local-timestamp-millis",
             "local-timestamp-micros", "local-timestamp-nanos", "date"),
    "string": ("uuid", "made-up"),
    "bytes": ("decimal", "big-decimal"),
}
_MISSING = object()


def _pick(draw: st.DrawFn, options: tuple[T, ...] | list[T]) -> T:
    return draw(st.sampled_from(options))


def _chance(draw: st.DrawFn, percent: int) -> bool:
    return draw(st.integers(0, 99)) < percent


# ---------------------------------------------------------------------------------------------- new schemas


class _Builder:
    """Draws one schema's types; every named type gets a full name no other type of the schema has."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.defined: dict[str, str] = {}  # full name -> the namespace it was defined in

    def name(self, kind: str, namespace: str) -> dict[str, Any]:
        """A named type's head: its name, and maybe a namespace of its own, a dotted name and aliases."""
        draw = self.draw
        short = _pick(draw, TYPE_NAMES)
        how = _pick(draw, ("inherit", "inherit", "explicit", "dotted"))
        head: dict[str, Any] = {"type": kind}
        if how == "inherit":
            head["name"] = short
        elif how == "explicit":
            head["name"], head["namespace"] = short, _pick(draw, NAMESPACES)
        else:
            head["name"] = f"{_pick(draw, NAMESPACES[1:])}.{short}"
        full = fullname(head["name"], head.get("namespace", namespace))
        while full in self.defined:  # unique within the schema
            head["name"] += "X"
            full = fullname(head["name"], head.get("namespace", namespace))
        self.defined[full] = namespace
        if _chance(draw, 15):
            head["aliases"] = [_pick(draw, [*TYPE_NAMES, f"acme.{_pick(draw, TYPE_NAMES)}"])]
        return head

    def type(self, namespace: str, depth: int) -> Json:
        kinds = ["primitive"] * 6 + ["logical"] * 3 + ["union"] * 3 + ["enum", "enum", "fixed", "array", "map"]
        if depth < 3:
            kinds += ["record"] * 2
        if self.defined:
            kinds.append("reference")
        kind = _pick(self.draw, kinds)
        if kind == "union":
            return self.union(namespace, depth)
        return self.single(kind, namespace, depth)

    def single(self, kind: str, namespace: str, depth: int) -> Json:
        draw = self.draw
        if kind == "primitive":
            return _pick(draw, tuple(sorted(PRIMITIVES)))
        if kind == "logical":
            return self.logical(_pick(draw, ("int", "long", "long", "string", "bytes", "bytes", "fixed")), namespace)
        if kind == "enum":
            head = self.name("enum", namespace)
            symbols = draw(st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=4, unique=True))
            head["symbols"] = symbols
            if _chance(draw, 40):
                head["default"] = _pick(draw, symbols)
            return head
        if kind == "fixed":
            return {**self.name("fixed", namespace), "size": draw(st.integers(1, 16))}
        if kind == "array":
            return {"type": "array", "items": self.type(namespace, depth + 1)}
        if kind == "map":
            return {"type": "map", "values": self.type(namespace, depth + 1)}
        if kind == "record":
            return self.record(namespace, depth + 1)
        full = _pick(draw, sorted(self.defined))  # a reference: by full name, or by short name where that resolves
        inner = full.rpartition(".")
        return inner[2] if inner[0] == namespace and _chance(draw, 50) else full

    def logical(self, physical: str, namespace: str) -> Json:
        draw = self.draw
        if physical == "fixed":
            head = self.name("fixed", namespace)
            logical = _pick(draw, ("decimal", "decimal", "duration", "uuid"))
            size = {"duration": 12, "uuid": 16}.get(logical) or draw(st.integers(1, 12))
            head.update(size=size, logicalType=logical)
            if logical == "decimal":
                head.update(_decimal_digits(draw, limit=_max_digits(size) + 1))
            return head
        logical = _pick(draw, LOGICAL[physical])
        schema: dict[str, Any] = {"type": physical, "logicalType": logical}
        if logical == "decimal":
            schema.update(_decimal_digits(draw, limit=20))
        return schema

    def union(self, namespace: str, depth: int) -> Json:
        draw = self.draw
        branches: list[Json] = ["null"] if _chance(draw, 60) else []
        for _ in range(draw(st.integers(1, 3))):
            branch = self.type(namespace, depth + 1)
            if not isinstance(branch, list) and _branch_key(branch, namespace) not in {
                    _branch_key(b, namespace) for b in branches}:
                branches.append(branch)
        if len(branches) > 1 and branches[0] == "null" and _chance(draw, 15):
            branches.append(branches.pop(0))  # null last
        return branches or ["string"]

    def record(self, namespace: str, depth: int) -> Json:
        draw = self.draw
        head = self.name("error" if _chance(draw, 3) else "record", namespace)
        inner = fullname(head["name"], head.get("namespace", namespace)).rpartition(".")[0]
        names = draw(st.lists(st.sampled_from(FIELD_NAMES), min_size=0 if depth else 1, max_size=5, unique=True))
        head["fields"] = [self.field(name, names, inner, depth) for name in names]
        return head

    def field(self, name: str, siblings: list[str], namespace: str, depth: int) -> dict[str, Any]:
        draw = self.draw
        field: dict[str, Any] = {"name": name, "type": self.type(namespace, depth)}
        if _chance(draw, 10):  # mostly a name no other field has: one naming a sibling makes a reader field ambiguous
            field["aliases"] = [_alias(draw, name, siblings)]
        if _chance(draw, 5):
            field["order"] = _pick(draw, ("descending", "ignore"))
        return field


def _alias(draw: st.DrawFn, name: str, siblings: list[str]) -> str:
    others = [n for n in FIELD_NAMES if n != name and n not in siblings]
    return _pick(draw, others if others and _chance(draw, 90) else [n for n in FIELD_NAMES if n != name])


def _free(draw: st.DrawFn, fields: list[dict[str, Any]]) -> list[str]:
    """Names a new field may take: mostly not one a field keeps as an alias (the reader's field would match two)."""
    taken = {f["name"] for f in fields}
    aliased = {a for f in fields for a in f.get("aliases", ())} if _chance(draw, 90) else set()
    return [n for n in FIELD_NAMES if n not in taken | aliased]


def _decimal_digits(draw: st.DrawFn, limit: int) -> dict[str, int]:
    """A decimal's precision and scale: mostly valid, sometimes not (precision 0, scale above it), which Java ignores."""
    precision = draw(st.integers(0 if _chance(draw, 5) else 1, max(1, limit)))
    scale = draw(st.integers(0, precision + (1 if _chance(draw, 5) else 0)))
    return {"precision": precision, "scale": scale} if scale or _chance(draw, 50) else {"precision": precision}


def _max_digits(size: int) -> int:
    """The most decimal digits a fixed of `size` bytes holds (Java's LogicalTypes.Decimal.maxPrecision)."""
    return len(str(2 ** (8 * size - 1) - 1))


def _branch_key(branch: Json, namespace: str) -> str:
    node = Node.of(branch, namespace, Names())
    if isinstance(branch, str) and branch not in PRIMITIVES:
        return fullname(branch, namespace)
    return node.fullname if node.kind in ("record", "enum", "fixed") else node.kind


@st.composite
def schemas(draw: st.DrawFn) -> Json:
    """A record schema, its fields' defaults drawn once every type is known."""
    builder = _Builder(draw)
    schema = builder.record(_pick(draw, NAMESPACES), 0)
    _defaults(draw, schema)
    return schema


# ---------------------------------------------------------------------------------------------- defaults


def _value(draw: st.DrawFn, node: Node, depth: int = 0) -> Json:
    """A JSON default for a type (a union's from its first branch, mostly); _MISSING when none is found in time."""
    kind = node.kind
    if depth > 4:
        return _MISSING
    if kind == "union":
        branches = node.branches()
        if not branches:
            return _MISSING
        first = branches[0] if _chance(draw, 85) else _pick(draw, branches)
        return _value(draw, first, depth + 1)
    if kind == "null":
        return None
    if kind == "boolean":
        return draw(st.booleans())
    if kind in ("int", "long"):
        bits = 31 if kind == "int" else 63
        return draw(st.sampled_from([0, 1, -1, 2 ** bits - 1, -(2 ** bits)]))
    if kind in ("float", "double"):
        return draw(st.sampled_from([0, 1.5, -2.25, 1e10, "NaN"] if _chance(draw, 3) else [0, 1.5, -2.25, 1e10]))
    if kind in ("string", "bytes"):
        return draw(st.sampled_from(["", "x", "\u00e9\u00ff"]))
    if kind == "enum":
        return _pick(draw, node.schema["symbols"])
    if kind == "fixed":
        return "\u0000" * int(node.schema.get("size", 1))
    if kind == "array":
        return [] if _chance(draw, 70) else _list(draw, node.items, depth)
    if kind == "map":
        return {} if _chance(draw, 70) else {k: v for k, v in [("k", _value(draw, node.values, depth + 1))] if v is not _MISSING}
    if kind == "record":
        value = {}
        for field in node.fields():
            if "default" in field.spec and _chance(draw, 30):
                continue  # Java takes the field's own default for a field a record default leaves out
            inner = _value(draw, field.node, depth + 1)
            if inner is _MISSING:
                return _MISSING
            value[field.name] = inner
        return value
    return _MISSING


def _list(draw: st.DrawFn, items: Node, depth: int) -> Json:
    item = _value(draw, items, depth + 1)
    return [] if item is _MISSING else [item]


def _fits(node: Node, value: Json) -> bool:
    """Whether a JSON default fits a type, about as Java Avro 1.12 judges (a union: any branch): what the generator
    mends. Whether the result is valid is for Java's parser and ours to say, and the test compares them."""
    kind = node.kind
    if value is _MISSING:
        return False
    if kind == "union":
        return any(_fits(branch, value) for branch in node.branches())
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind in ("int", "long"):
        bits = 31 if kind == "int" else 63
        return number and isinstance(value, int) and -(2 ** bits) <= value < 2 ** bits
    if kind in ("float", "double"):
        return number or value == "NaN"  # Java reads the text NaN as a number
    if kind in ("string", "bytes", "enum", "fixed"):
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list) and all(_fits(node.items, v) for v in value)
    if kind == "map":
        return isinstance(value, dict) and all(_fits(node.values, v) for v in value.values())
    if kind == "record":
        return isinstance(value, dict) and all(
            _fits(f.node, value[f.name]) if f.name in value else "default" in f.spec for f in node.fields())
    return {"null": value is None, "boolean": isinstance(value, bool)}.get(kind, False)


def _records(schema: Json) -> list[Node]:
    """Every record a schema defines, as nodes that resolve names."""
    names = Names(schema)
    return [Node.of(definition, namespace, names) for definition, namespace in names.defined.values()
            if definition.get("type") in ("record", "error")]


def _defaults(draw: st.DrawFn, schema: Json) -> None:
    """Give about a third of the fields a default."""
    for record in _records(schema):
        for field in record.fields():
            if _chance(draw, 35) and (value := _value(draw, field.node)) is not _MISSING:
                field.spec["default"] = value


def _mend_defaults(draw: st.DrawFn, schema: Json) -> None:
    """A change may leave a default that no longer fits its field (or an enum's default no longer among its symbols):
    mended almost always, by a new default or none; the rest stay, and make the schema invalid."""
    for record in _records(schema):
        for field in record.fields():
            if "default" in field.spec and not _fits(field.node, field.spec["default"]) and _chance(draw, 97):
                value = _value(draw, field.node) if _chance(draw, 50) else _MISSING
                if value is _MISSING or not _fits(field.node, value):
                    del field.spec["default"]
                else:
                    field.spec["default"] = value
    for definition, _ in Names(schema).defined.values():
        if definition.get("type") == "enum" and "default" in definition and definition["default"] not in \
                definition.get("symbols", ()) and _chance(draw, 97):
            del definition["default"]


# ---------------------------------------------------------------------------------------------- evolutions


class _Site:
    """A place where a type is written: container[key], in a namespace."""

    def __init__(self, container: Any, key: Any, namespace: str) -> None:
        self.container, self.key, self.namespace = container, key, namespace

    @property
    def type(self) -> Json:
        return self.container[self.key]

    @type.setter
    def type(self, value: Json) -> None:
        self.container[self.key] = value


def _sites(holder: dict[str, Any]) -> list[_Site]:
    """Every type position of the schema in holder["schema"], outermost first."""
    found: list[_Site] = []

    def walk(container: Any, key: Any, namespace: str) -> None:
        site = _Site(container, key, namespace)
        found.append(site)
        value = site.type
        if isinstance(value, list):
            for i in range(len(value)):
                walk(value, i, namespace)
        elif isinstance(value, dict):
            kind = value.get("type")
            if kind in NAMED and isinstance(value.get("name"), str):
                inner = fullname(value["name"], value.get("namespace", namespace)).rpartition(".")[0]
                for field in value.get("fields", ()) if kind in ("record", "error") else ():
                    walk(field, "type", inner)
            elif kind == "array":
                walk(value, "items", namespace)
            elif kind == "map":
                walk(value, "values", namespace)

    walk(holder, "schema", "")
    return found


def _defined_twice(holder: dict[str, Any]) -> bool:
    """Whether two definitions in the schema have one full name."""
    names = [fullname(s.type["name"], s.type.get("namespace", s.namespace)) for s in _sites(holder)
             if isinstance(s.type, dict) and s.type.get("type") in NAMED and isinstance(s.type.get("name"), str)]
    return len(names) != len(set(names))


def _definitions(holder: dict[str, Any]) -> dict[int, str]:
    """id of each named type's definition -> its full name."""
    return {id(definition): full for full, (definition, _) in Names(holder["schema"]).defined.items()}


def _references(holder: dict[str, Any]) -> list[_Site]:
    return [s for s in _sites(holder) if isinstance(s.type, str) and s.type not in PRIMITIVES]


def _spell_out_references(holder: dict[str, Any]) -> None:
    """Write every reference to a named type as its full name, so renaming a type can follow it everywhere."""
    names = Names(holder["schema"])
    for site in _references(holder):
        found = names.resolve(site.type, site.namespace)
        if found is not None:
            definition, inner = found
            site.type = fullname(definition["name"], definition.get("namespace", inner))


def _follow_renames(holder: dict[str, Any], before: dict[int, str]) -> None:
    """After a named type moved (its name or namespace, or an enclosing one), point its references at it again."""
    moved = {before[key]: full for key, full in _definitions(holder).items() if key in before and before[key] != full}
    for site in _references(holder):
        if site.type in moved:
            site.type = moved[site.type]


def _defines_referenced(value: Json, holder: dict[str, Any]) -> bool:
    """Whether replacing `value` would drop the definition of a type referenced elsewhere."""
    referenced = {site.type for site in _references(holder)}
    return bool(set(Names(value).defined) & referenced)


class _Evolver:
    def __init__(self, draw: st.DrawFn, holder: dict[str, Any]) -> None:
        self.draw, self.holder = draw, holder
        self.builder = _Builder(draw)
        self.builder.defined = {full: "" for full in Names(holder["schema"]).defined}

    def sites(self, *kinds: str) -> list[_Site]:
        """Type positions holding one of `kinds` (a Node kind, or "named" for a definition, "reference")."""
        chosen = []
        for site in _sites(self.holder):
            value = site.type
            kind = "union" if isinstance(value, list) else Node.of(value, site.namespace, Names()).kind
            if isinstance(value, str) and value not in PRIMITIVES:
                kind = "reference"
            if kind in kinds or ("named" in kinds and isinstance(value, dict) and value.get("type") in NAMED):
                chosen.append(site)
        return chosen

    def records(self) -> list[dict[str, Any]]:
        return [s.type for s in self.sites("record")]

    # Each change returns False when the schema has nowhere to make it.

    def add_field(self) -> bool:
        draw = self.draw
        record = _pick(draw, self.records())
        taken = {f["name"] for f in record["fields"]}
        free = _free(draw, record["fields"])
        if not free:
            return False
        inner = fullname(record["name"], record.get("namespace", "")).rpartition(".")[0]
        field = self.builder.field(_pick(draw, free), sorted(taken), inner, 2)
        if _chance(draw, 60):
            value = _value(draw, Node.of(field["type"], inner, Names(self.holder["schema"], field["type"])))
            if value is not _MISSING:
                field["default"] = value
        record["fields"].insert(draw(st.integers(0, len(record["fields"]))), field)
        return True

    def remove_field(self) -> bool:
        records = [r for r in self.records() if r["fields"]]
        if not records:
            return False
        fields = _pick(self.draw, records)["fields"]
        index = self.draw(st.integers(0, len(fields) - 1))
        if _defines_referenced(fields[index]["type"], self.holder):
            return False
        del fields[index]
        return True

    def rename_field(self) -> bool:
        draw = self.draw
        records = [r for r in self.records() if r["fields"]]
        if not records:
            return False
        record = _pick(draw, records)
        field = _pick(draw, record["fields"])
        free = _free(draw, record["fields"])
        if not free:
            return False
        old, field["name"] = field["name"], _pick(draw, free)
        if _chance(draw, 60):
            field["aliases"] = [old]
        elif "aliases" in field and _chance(draw, 50):
            del field["aliases"]
        return True

    def alias_field(self) -> bool:
        draw = self.draw
        records = [r for r in self.records() if r["fields"]]
        if not records:
            return False
        fields = _pick(draw, records)["fields"]
        field = _pick(draw, fields)
        if "aliases" in field and _chance(draw, 40):
            del field["aliases"]
        else:
            field["aliases"] = [_alias(draw, field["name"], [f["name"] for f in fields])]
        return True

    def move_field(self) -> bool:
        records = [r for r in self.records() if len(r["fields"]) > 1]
        if not records:
            return False
        fields = _pick(self.draw, records)["fields"]
        fields.append(fields.pop(self.draw(st.integers(0, len(fields) - 2))))
        return True

    def change_default(self) -> bool:
        draw = self.draw
        records = [s for s in self.sites("record") if s.type["fields"]]
        if not records:
            return False
        site = _pick(draw, records)
        field = _pick(draw, site.type["fields"])
        if "default" in field and _chance(draw, 50):
            del field["default"]
            return True
        inner = fullname(site.type["name"], site.type.get("namespace", site.namespace)).rpartition(".")[0]
        value = _value(draw, Node.of(field["type"], inner, Names(self.holder["schema"])))
        if value is _MISSING:
            return False
        field["default"] = value
        return True

    def rename_type(self) -> bool:
        draw = self.draw
        sites = self.sites("named")
        if not sites:
            return False
        definition = _pick(draw, sites).type
        old = _definitions(self.holder).get(id(definition))
        if old is None:  # a second definition of a name (the schema is invalid already)
            return False
        change = _pick(draw, ("name", "name", "name", "namespace", "namespace", "record-error"))
        if change == "record-error" and definition["type"] in ("record", "error"):
            definition["type"] = "error" if definition["type"] == "record" else "record"
            return True
        before = dict(definition)
        if change == "namespace":
            definition["name"] = definition["name"].rpartition(".")[2]
            definition["namespace"] = _pick(draw, NAMESPACES)
        else:
            prefix, _, short = definition["name"].rpartition(".")
            definition["name"] = (prefix + "." if prefix else "") + _pick(draw, [n for n in TYPE_NAMES if n != short])
        if _defined_twice(self.holder):  # it, or a type inside it, now has the name of another: not this change
            definition.clear()
            definition.update(before)
            return False
        alias = _pick(draw, ("none", "short", "full", "full"))
        if alias != "none":
            definition["aliases"] = [old.rpartition(".")[2] if alias == "short" else old]
        return True

    def change_enum(self) -> bool:
        draw = self.draw
        enums = self.sites("enum")
        if not enums:
            return False
        enum = _pick(draw, enums).type
        symbols = enum["symbols"]
        change = _pick(draw, ("add", "add", "remove", "remove", "reorder", "default", "no default"))
        unused = [s for s in SYMBOLS if s not in symbols]
        if change == "add" and unused:
            symbols.insert(draw(st.integers(0, len(symbols))), _pick(draw, unused))
        elif change == "remove" and len(symbols) > 1:
            symbols.remove(_pick(draw, symbols))
        elif change == "reorder":
            symbols.reverse()
        elif change == "default":
            enum["default"] = _pick(draw, symbols)
        else:
            enum.pop("default", None)
        return True

    def resize_fixed(self) -> bool:
        fixed = self.sites("fixed")
        if not fixed:
            return False
        definition = _pick(self.draw, fixed).type
        definition["size"] = max(1, definition["size"] + _pick(self.draw, (-1, 1, 4)))
        return True

    def retype(self) -> bool:
        """Promote, narrow or replace a type; make it optional, or a union not; widen, narrow or reorder a union."""
        draw = self.draw
        sites = _sites(self.holder)[1:]
        if not sites:
            return False
        site = _pick(draw, sites)
        value = site.type
        if _defines_referenced(value, self.holder):
            return False
        physical = value.get("type") if isinstance(value, dict) else value
        physical = physical if isinstance(physical, str) else None
        change = _pick(draw, ("promote", "narrow", "replace", "optional", "union"))
        if change == "promote" and physical in PROMOTIONS:
            site.type = _pick(draw, PROMOTIONS[physical])
        elif change == "narrow" and physical in NARROWINGS:
            site.type = _pick(draw, NARROWINGS[physical])
        elif change == "optional" and not isinstance(value, list) and not isinstance(site.container, list):
            site.type = ["null", value] if _chance(draw, 80) else [value, "null"]
        elif change == "union" and isinstance(value, list):
            self.change_union(site, value)
        else:
            replacement = self.builder.type(site.namespace, 2)
            site.type = replacement[-1] if isinstance(replacement, list) and isinstance(site.container, list) else replacement
        return True

    def change_union(self, site: _Site, branches: list[Json]) -> None:
        draw = self.draw
        change = _pick(draw, ("widen", "narrow", "reorder", "unwrap"))
        if change == "widen":
            branch = self.builder.type(site.namespace, 2)
            if not isinstance(branch, list):
                branches.insert(draw(st.integers(0, len(branches))), branch)
        elif change == "narrow" and len(branches) > 1:
            branches.pop(draw(st.integers(0, len(branches) - 1)))
        elif change == "reorder":
            branches.reverse()
        else:
            site.type = _pick(draw, branches)

    def change_logical(self) -> bool:
        """Another unit, clock or kind of the same physical type, a decimal's digits, or the logical type added or
        dropped."""
        draw = self.draw
        sites = [s for s in _sites(self.holder)
                 if (isinstance(s.type, str) and s.type in LOGICAL) or (isinstance(s.type, dict) and (
                     s.type.get("type") in LOGICAL or s.type.get("logicalType")))]
        if not sites:
            return False
        site = _pick(draw, sites)
        value = site.type if isinstance(site.type, dict) else {"type": site.type}
        value = dict(value) if value.get("type") not in NAMED else value  # a fixed is changed in place: it has a name
        change = _pick(draw, ("other", "other", "digits", "drop"))
        if change == "digits" and value.get("logicalType") == "decimal":
            value["precision"] = max(1, int(value.get("precision", 1)) + _pick(draw, (-2, -1, 1, 3)))
            value["scale"] = max(0, min(value["precision"], int(value.get("scale", 0)) + _pick(draw, (-1, 0, 0, 1))))
        elif change == "drop":
            for key in ("logicalType", "precision", "scale"):
                value.pop(key, None)
        else:
            value["logicalType"] = _pick(draw, LOGICAL.get(value["type"], ("decimal", "duration", "uuid")))
            if value["logicalType"] == "decimal":
                value.update(_decimal_digits(draw, limit=_max_digits(value["size"]) if "size" in value else 20))
        if value.get("type") not in NAMED:
            site.type = value if "logicalType" in value or _chance(draw, 50) else value["type"]
        return True

    CHANGES = ("add_field", "add_field", "remove_field", "remove_field", "rename_field", "rename_field", "alias_field",
               "move_field", "change_default", "change_default", "rename_type", "rename_type", "change_enum",
               "change_enum", "resize_fixed", "retype", "retype", "retype", "retype", "change_logical", "change_logical")


@st.composite
def evolutions(draw: st.DrawFn, schema: Json) -> Json:
    """A later version of `schema` with one to three changes."""
    holder = {"schema": copy.deepcopy(schema)}
    evolver = _Evolver(draw, holder)
    for _ in range(draw(st.integers(1, 3))):
        evolver.builder.defined = {full: "" for full in Names(holder["schema"]).defined}  # new types get new names
        _spell_out_references(holder)
        before = _definitions(holder)
        for _ in range(10):  # a change the schema has no place for is drawn again
            if getattr(evolver, _pick(draw, _Evolver.CHANGES))():
                break
        _follow_renames(holder, before)
    _mend_defaults(draw, holder["schema"])
    return holder["schema"]


@st.composite
def chains(draw: st.DrawFn) -> list[Json]:
    """Three versions: a schema, an evolution of it, and an evolution of that."""
    first = draw(schemas())
    second = draw(evolutions(first))
    return [first, second, draw(evolutions(second))]
