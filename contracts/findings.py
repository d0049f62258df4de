"""A review's failures as findings for CI: each with a stable rule id, its subject, field, file and line.

A finding is what makes `contracts review` exit 1: a reason the subject's own level refuses a new version (one per
reason, the earlier versions it concerns merged), or a published version edited or deleted. The rule ids are stable:
a rule may be added with a new number, never renumbered or reused, so CI suppressions and dashboards keep working.
CONTRACT0xx are the registry's own rules, CONTRACT1xx where we are stricter than the registry (the change reads
without error but changes meaning), CONTRACT2xx the publishing rules, CONTRACT3xx the one-way doors of the manifest
(contracts.doors: warnings, approvable knowingly; they do not fail the review). contracts.report renders them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from json_source_map import calculate  # type: ignore[import-untyped]

from contracts.compat import NEW_READS_OLD, OLD_READS_NEW, STRICTER_KINDS, STRICTER_NOTE, Reason
from contracts.diff import Change
from contracts.doors import KEY_VERSION, PARTITIONS, manifest_line
from contracts.review_model import EDITED, REMOVED, Problem, Review, SubjectReview, VersionReview

__all__ = ["RULES", "Finding", "Rule", "findings", "line_of", "rule_for", "rule_of"]


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    kind: str  # the compat Reason kind, or the Problem kind, it covers
    direction: str | None  # the direction it covers when the kind's meaning depends on it; None for any
    description: str
    level: str = "error"  # "warning": approvable, but only knowingly (a one-way door)

    @property
    def stricter_than_registry(self) -> bool:
        return self.kind in STRICTER_KINDS


RULES: tuple[Rule, ...] = (
    Rule("CONTRACT001", "field-added-without-default", "READER_FIELD_MISSING_DEFAULT_VALUE", NEW_READS_OLD,
         "The new version reads a field that older data lacks and gives it no default."),
    Rule("CONTRACT002", "field-removed-without-default", "READER_FIELD_MISSING_DEFAULT_VALUE", OLD_READS_NEW,
         "The new version no longer writes a field that older readers have no default for."),
    Rule("CONTRACT003", "type-changed", "TYPE_MISMATCH", None,
         "A field's type changed to one the other side cannot read (not an Avro promotion)."),
    Rule("CONTRACT004", "union-branch-removed", "MISSING_UNION_BRANCH", NEW_READS_OLD,
         "The new version's union lacks a branch older data may use."),
    Rule("CONTRACT005", "union-branch-added", "MISSING_UNION_BRANCH", OLD_READS_NEW,
         "The new version may write a branch (or a null) older readers cannot take."),
    Rule("CONTRACT006", "enum-symbol-removed", "MISSING_ENUM_SYMBOLS", NEW_READS_OLD,
         "The new version's enum lacks a symbol older data may hold, and has no default."),
    Rule("CONTRACT007", "enum-symbol-added", "MISSING_ENUM_SYMBOLS", OLD_READS_NEW,
         "The new version may write an enum symbol older readers lack, and their enum has no default."),
    Rule("CONTRACT008", "type-renamed-without-alias", "NAME_MISMATCH", None,
         "A record, enum or fixed has another name and no alias for the other side's."),
    Rule("CONTRACT009", "fixed-size-changed", "FIXED_SIZE_MISMATCH", None, "A fixed type's size changed."),
    Rule("CONTRACT010", "field-alias-ambiguous", "AMBIGUOUS_FIELD_MATCH", None,
         "A reader field matches two writer fields, one by its name and one by an alias."),
    Rule("CONTRACT011", "field-renamed-without-alias", "READER_FIELD_MISSING_DEFAULT_VALUE", NEW_READS_OLD,
         "A field looks renamed (one removed and one added with the same type) and the new one has no alias for the "
         "old name: readers of the new version do not find the value older data holds; the finding names the alias."),
    Rule("CONTRACT101", "decimal-scale-changed", "DECIMAL_RESCALED", None,
         "A decimal's scale differs between writer and reader: 12.34 written at scale 2 reads as 1.234 at scale 3."),
    Rule("CONTRACT102", "decimal-precision-narrowed", "DECIMAL_PRECISION_NARROWED", None,
         "A reader's decimal has less precision than the writer's (same scale): written values may not fit it."),
    Rule("CONTRACT103", "logical-type-changed", "LOGICAL_TYPE_CHANGED", None,
         "A value is read with another logical type (timestamp-millis as timestamp-micros, a local timestamp as a "
         "UTC one, a date as a plain int, ...): the stored number is kept, so it means another value."),
    Rule("CONTRACT104", "type-defined-twice", "TYPE_DEFINED_TWICE", None,
         "A named type is defined twice, the same type to Java but with other aliases or defaults: the registry takes "
         "the schema and keeps each definition where it is written; contracts compat cannot, so it refuses it."),
    Rule("CONTRACT201", "invalid-schema", "INVALID_SCHEMA", None,
         "The version is not a schema the registry accepts (for example a default that does not fit its field)."),
    Rule("CONTRACT202", "published-version-edited", EDITED, None,
         "A published version's file differs from the base or from the registry: published versions are immutable."),
    Rule("CONTRACT203", "published-version-deleted", REMOVED, None,
         "A version published at the base has been deleted: published versions are immutable."),
    Rule("CONTRACT301", "partition-count-changed", PARTITIONS, None,
         "A keyed topic's partition count changed: keys move between partitions, and the state kept per partition "
         "stays behind unless it is moved (make repartition); Kafka cannot remove partitions.", "warning"),
    Rule("CONTRACT302", "key-bytes-changed", KEY_VERSION, None,
         "A keyed topic's key schema has a new version: the serialized key carries its schema id, so every key's "
         "bytes, and so its partition, change.", "warning"),
)


def rule_for(kind: str, direction: str | None = None) -> Rule:
    """The rule covering a compat Reason's kind (and direction) or a Problem's kind; KeyError for an unknown kind."""
    matching = [rule for rule in RULES if rule.kind == kind]
    if not matching:
        raise KeyError(f"no rule covers {kind!r}")
    return next((rule for rule in matching if rule.direction in (None, direction)), matching[0])


RENAMED = next(rule for rule in RULES if rule.id == "CONTRACT011")


def rule_of(reason: Reason, changes: Sequence[Change]) -> tuple[Rule, str]:
    """The rule a version's reason breaks, and a suggestion for people: a field missing where the version's diff shows a
    likely rename (contracts.diff's possibly_renamed) is CONTRACT011 when the alias would mend it (new readers), and
    says so either way; any other reason, rule_for's rule and no suggestion."""
    rule = rule_for(reason.kind, reason.direction)
    if reason.kind != "READER_FIELD_MISSING_DEFAULT_VALUE":
        return rule, ""
    for change in changes:
        if change.kind != "possibly_renamed" or change.was is None:
            continue
        new, was = _dotted(change.path), _dotted(change.was)
        short_new, short_was = new.rpartition(".")[2], was.rpartition(".")[2]
        if reason.direction == NEW_READS_OLD and reason.field == new:
            return RENAMED, (f"; it looks like {was} renamed: add \"aliases\": [{json.dumps(short_was)}] to {short_new} "
                             f"so that this version reads the value older data holds under {short_was}")
        if reason.direction == OLD_READS_NEW and reason.field == was:
            return rule, (f"; it looks renamed to {new}, and readers of the earlier version know only {short_was}: no "
                          "alias helps them")
    return rule, ""


def _dotted(path: str) -> str:
    """A diff's field path as compat names fields: the diff writes items[].quantity, compat items.quantity."""
    return path.replace("[]", "").replace("{}", "")


@dataclass(frozen=True)
class Finding:
    rule: Rule
    subject: str
    version: int
    field: str | None  # dotted field path, e.g. "invoice.number"; None for the schema itself
    file: str  # the version's schema file, relative to the project root
    line: int  # the field's line in it; 1 when the field is not in the file
    message: str  # one sentence for people, naming the subject, the versions and, if so, the stricter rule

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule.id, "name": self.rule.name, "level": self.rule.level, "subject": self.subject,
                "version": self.version, "field": self.field, "file": self.file, "line": self.line,
                "message": self.message, "stricter_than_registry": self.rule.stricter_than_registry}


def findings(result: Review) -> list[Finding]:
    """Every finding of a review, subject by subject: edits of published versions first, then breaking versions; then
    the one-way doors of the manifest (warnings)."""
    found = []
    for subject in result.subjects:
        found += [_problem(result.root, subject, problem) for problem in subject.problems]
        for version in subject.versions:
            if version.breaks_level:
                found += _breaking(result.root, subject, version)
    if result.doors:
        manifest = "contracts/topics.toml"
        text = (result.root / manifest).read_text(encoding="utf-8")
        found += [Finding(rule_for(door.kind), door.subject, door.version, None, manifest,
                          manifest_line(text, door.topic, door.setting), door.message) for door in result.doors]
    return found


def _problem(root: Path, subject: SubjectReview, problem: Problem) -> Finding:
    field = next((_dotted(c.path) for c in problem.changes if c.path), None)  # the first field that changed
    return Finding(rule_for(problem.kind), subject.subject, problem.version, field, problem.path,
                   _line(root / problem.path, field), problem.message)


def _breaking(root: Path, subject: SubjectReview, version: VersionReview) -> Iterator[Finding]:
    """One finding per reason the level's verdict gives, the earlier versions it was given against merged."""
    against: dict[Reason, list[int]] = {}
    for reason in version.verdicts[version.level].reasons:
        against.setdefault(replace(reason, against=0), []).append(reason.against)
    for reason, numbers in against.items():
        rule, suggestion = rule_of(reason, version.changes)
        earlier = ", ".join(f"v{n}" for n in numbers)
        how = f", {reason.direction}" if reason.direction else ""
        stricter = f" ({STRICTER_NOTE})" if rule.stricter_than_registry else ""
        message = (f"{subject.subject} v{version.version} breaks {version.level} against {earlier}{how}: "
                   f"{reason.message}{suggestion}{stricter}")
        yield Finding(rule, subject.subject, version.version, reason.field, version.path,
                      _line(root / version.path, reason.field), message)


def _line(path: Path, field: str | None) -> int:
    try:
        return line_of(path.read_text(encoding="utf-8"), field)
    except (OSError, ValueError):  # a deleted or unreadable file: its first line
        return 1


# ------------------------------------------------------------------------------------- lines of fields


def line_of(text: str, field: str | None) -> int:
    """The line of a field, given by its dotted path (`invoice.lines.quantity`), in a schema's JSON text: the line of
    the deepest part of the path found, followed through unions, arrays, maps and named references; 1 otherwise."""
    schema = json.loads(text)
    lines = _object_lines(schema, calculate(text))
    names = {key: record for record in _records_anywhere(schema) for key in _names_of(record)}
    line, types = 1, [schema]
    for name in field.split(".") if field else []:
        match = next((f for t in types for record in _records(t, names) for f in record.get("fields", [])
                      if isinstance(f, dict) and name in (f.get("name"), *f.get("aliases", []))), None)
        if match is None:
            break
        line, types = lines[id(match)], [match.get("type")]
    return line


def _object_lines(document: Any, where: dict[str, Any]) -> dict[int, int]:
    """The line (1-based) of each JSON object of the parsed `document`, by the object's id: the line of its "name"
    when it has one (a field's), else of its first character; from the source map of its text (json_source_map:
    JSON pointer -> where each key and value starts)."""
    found: dict[int, int] = {}

    def walk(node: Any, pointer: str) -> None:
        if isinstance(node, dict):
            named = where.get(f"{pointer}/name")
            found[id(node)] = (named.key_start if named else where[pointer].value_start).line + 1
            for key, value in node.items():
                walk(value, f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{pointer}/{index}")

    walk(document, "")
    return found


def _records(schema: Any, names: dict[str, dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The records a type may hold a value of: itself, its union branches, array items, map values, or the one it names."""
    if isinstance(schema, list):
        for branch in schema:
            yield from _records(branch, names)
    elif isinstance(schema, str):
        if (named := names.get(schema) or names.get(schema.rpartition(".")[2])) is not None:
            yield named
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in ("record", "error"):
            yield schema
        elif kind in ("array", "map"):
            yield from _records(schema.get("items" if kind == "array" else "values"), names)
        else:
            yield from _records(kind, names)  # {"type": {...}} or {"type": "SomeRecord"}


def _records_anywhere(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, list):
        for item in node:
            yield from _records_anywhere(item)
    elif isinstance(node, dict):
        if node.get("type") in ("record", "error") and isinstance(node.get("name"), str):
            yield node
        for value in node.values():
            yield from _records_anywhere(value)


def _names_of(record: dict[str, Any]) -> set[str]:
    name = record["name"]
    return {name, name.rpartition(".")[2]} | ({f"{record['namespace']}.{name}"} if record.get("namespace") else set())
