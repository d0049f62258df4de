"""A field-level diff between two versions of an Avro schema, for people reviewing a change.

`field_diff(old, new)` walks both schemas side by side and lists what changed, each change with the dotted
path of the field it concerns: `invoice.verification_code` (fields of nested records, union branches
followed into their record), `items[].quantity` (records inside arrays), `attributes{}.name` (inside map
values). A change to the top-level record itself (its doc, its name) has the empty path.

Kinds:
- `added` / `removed`: a field appeared or disappeared; the detail gives its type and whether it has a default;
- `renamed`: a new field whose aliases include the name of an old field that is gone;
- `possibly_renamed`: a field removed and one added with the same type (the only such pair in their record), listed
  after both: it looks like a rename without an alias, and the detail suggests the alias (`was` holds the old path);
- `type_promoted`: an Avro promotion (int -> long, float, double; long -> float, double; float -> double;
  string <-> bytes) between types without a logical type;
- `type_changed`: any other change of type, including logical types, decimal precision or scale, fixed
  sizes and union branches gained or lost;
- `default_changed`: a field's default added, removed or changed (or an enum's default);
- `doc_changed`: a field's or a named type's doc;
- `symbols_changed`: an enum's symbols added, removed or reordered;
- `constraint_changed`: a field's declared constraints (contracts.constraints), each keyword's change said to be
  tighter (a value valid before may now be refused: records already written may break the new rule) or looser;
- `other`: anything else that can matter (named types renamed, aliases, sort order, union order).

This only describes; whether a change is compatible is contracts.compat's business.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from contracts.avro import Names, Node, root

__all__ = ["KINDS", "Change", "field_diff"]

KINDS = (
    "added", "removed", "renamed", "possibly_renamed", "type_changed", "type_promoted", "default_changed", "doc_changed",
    "symbols_changed", "constraint_changed", "other",
)
PROMOTIONS = frozenset({
    ("int", "long"), ("int", "float"), ("int", "double"), ("long", "float"), ("long", "double"),
    ("float", "double"), ("string", "bytes"), ("bytes", "string"),
})


@dataclass(frozen=True)
class Change:
    kind: str  # one of KINDS
    path: str  # dotted field path; "" for the top-level schema itself
    detail: str  # for people
    was: str | None = None  # possibly_renamed: the path of the removed field the added one may be

    def to_json(self) -> dict[str, str]:
        document = asdict(self)
        return document if self.was is not None else {k: v for k, v in document.items() if k != "was"}


def field_diff(old: str | dict[str, Any], new: str | dict[str, Any]) -> list[Change]:
    """Every difference between two versions of a schema, in the new version's field order, removals last
    within each record."""
    old_root, new_root = root(old), root(new)
    differ = _Differ(old_root.names, new_root.names)
    differ.compare(old_root, new_root, "")
    return differ.changes


def _json(value: Any) -> str:
    """JSON as people read it: other scripts as themselves, but an invisible character (a control, a format
    character, a separator) escaped, as the schema file writes it, so that a review never hides one."""
    return "".join(char if char.isprintable() else json.dumps(char)[1:-1]
                   for char in json.dumps(value, ensure_ascii=False))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class _Differ:
    def __init__(self, old: Names, new: Names) -> None:
        self.old, self.new = old, new
        self.changes: list[Change] = []
        self._open: set[tuple[str, str]] = set()  # record pairs being compared: recursive types stop here

    def add(self, kind: str, path: str, detail: str) -> None:
        self.changes.append(Change(kind, path, detail))

    def compare(self, old: Node, new: Node, path: str) -> None:
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
            self.compare(old.items, new.items, path + "[]")
        elif old.kind == "map":
            self.compare(old.values, new.values, path + "{}")
        else:  # a primitive or a fixed: only its logical type, precision, scale or size can differ
            self._renamed_type(old, new, path)
            if old.logical != new.logical or old.schema.get("size") != new.schema.get("size"):
                self.add("type_changed", path, f"{old.describe()} -> {new.describe()}")

    def _unions(self, old: Node, new: Node, path: str) -> None:
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

    def _renamed_type(self, old: Node, new: Node, path: str) -> None:
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

    def _records(self, old: Node, new: Node, path: str) -> None:
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

    def _fields(self, old: Node, new: Node, path: str) -> None:
        old_fields = {f["name"]: f for f in old.schema.get("fields", ()) if isinstance(f, dict) and "name" in f}
        new_fields = [f for f in new.schema.get("fields", ()) if isinstance(f, dict) and "name" in f]
        new_names = {f["name"] for f in new_fields}
        matched: set[str] = set()
        added: dict[str, list[str]] = {}  # a type's description -> the fields added with it
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
                    kind = new.child(field.get("type")).describe()
                    added.setdefault(kind, []).append(name)
                    self.add("added", field_path, f"{kind}, {_default(field)}")
                    continue
                previous = old_fields[alias]
                self.add("renamed", field_path, f"renamed from {_join(path, alias)} (aliases {_json(field['aliases'])})")
            matched.add(previous["name"])
            self._field(previous, field, old, new, field_path)
        removed: dict[str, list[str]] = {}
        for name, field in old_fields.items():
            if name not in matched:
                kind = old.child(field.get("type")).describe()
                removed.setdefault(kind, []).append(name)
                self.add("removed", _join(path, name), f"{kind}, {_default(field, 'had')}")
        self._renames(added, removed, path)

    def _renames(self, added: dict[str, list[str]], removed: dict[str, list[str]], path: str) -> None:
        """A field removed and one added with the same type (the only ones of that type either way) look like a
        rename without an alias: suggest the alias that makes readers of the new version find the old value."""
        for kind, names in added.items():
            if len(names) == 1 and len(removed.get(kind, ())) == 1:
                new, was = names[0], removed[kind][0]
                self.changes.append(Change(
                    "possibly_renamed", _join(path, new),
                    f"{_join(path, was)} was removed and {_join(path, new)} added, both {kind}: if {new} is {was} "
                    f"renamed, add \"aliases\": [{_json(was)}] to {new}, so that readers of this version find the value "
                    f"older data holds under {was} (readers of older versions know only {was}: no alias helps them)",
                    _join(path, was)))

    def _field(self, old: dict[str, Any], new: dict[str, Any], old_record: Node, new_record: Node, path: str) -> None:
        if ("default" in old, old.get("default")) != ("default" in new, new.get("default")):
            if "default" not in old:
                self.add("default_changed", path, f"default added: {_json(new['default'])}")
            elif "default" not in new:
                self.add("default_changed", path, f"default removed (was {_json(old['default'])})")
            else:
                self.add("default_changed", path, f"default: {_json(old['default'])} -> {_json(new['default'])}")
        self._doc(old, new, path, "field")
        self._constraints(old.get("constraints") or {}, new.get("constraints") or {}, path)
        if sorted(old.get("aliases", [])) != sorted(new.get("aliases", [])) and old["name"] == new["name"]:
            self.add("other", path, f"field aliases: {_json(old.get('aliases', []))} -> {_json(new.get('aliases', []))}")
        if old.get("order", "ascending") != new.get("order", "ascending"):
            self.add("other", path, f"sort order: {old.get('order', 'ascending')} -> {new.get('order', 'ascending')}")
        self.compare(old_record.child(old.get("type")), new_record.child(new.get("type")), path)

    def _constraints(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        for keyword in sorted(old.keys() | new.keys()):
            before, after = old.get(keyword), new.get(keyword)
            if before != after and keyword != "patternDescription":
                self.add("constraint_changed", path, f"{keyword}: {_json(before) if before is not None else 'none'} ->"
                         f" {_json(after) if after is not None else 'none'} ({_tightness(keyword, before, after)})")

    def _enums(self, old: Node, new: Node, path: str) -> None:
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


def _same_branch(old: Node, new: Node) -> bool:
    if old.kind != new.kind:
        return False
    if old.kind in ("record", "enum", "fixed"):
        return old.fullname == new.fullname or old.fullname in new.aliases
    return True


def _tightness(keyword: str, before: Any, after: Any) -> str:
    """Whether a constraint's change may refuse a value that was valid: `tighter` or `looser`, as far as it can tell."""
    if before is None or after is None:
        return "tighter: a new rule" if before is None else "looser: the rule is gone"
    if keyword in ("maxLength", "maxItems", "maximum", "exclusiveMaximum"):
        return "tighter" if Decimal(str(after)) < Decimal(str(before)) else "looser"
    if keyword in ("minLength", "minItems", "minimum", "exclusiveMinimum"):
        return "tighter" if Decimal(str(after)) > Decimal(str(before)) else "looser"
    if keyword == "enum":
        return "tighter" if set(before) - set(after) else "looser"
    return "may be tighter: check what the new pattern refuses"


def _default(field: dict[str, Any], verb: str = "") -> str:
    if "default" in field:
        return f"{verb + ' ' if verb else ''}default {_json(field['default'])}"
    return "no default" if not verb else "had no default"
