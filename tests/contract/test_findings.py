"""contracts.findings: the review's failures as stable rule ids, each with its subject, field, file and line."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from avro.compatibility import SchemaIncompatibilityType

from contracts.compat import NEW_READS_OLD, OLD_READS_NEW, STRICTER_KINDS, STRICTER_NOTE
from contracts.findings import RULES, findings, line_of, rule_for
from contracts.report import render_markdown
from contracts.review import _check, review
from contracts.review_model import EDITED, REMOVED
from tests.contract.projects import commit, publish, schema

# The published ids: a rule may be added with a new id, never renumbered, renamed or reused (CI keeps suppressions).
PUBLISHED = {
    "CONTRACT001": "field-added-without-default", "CONTRACT002": "field-removed-without-default",
    "CONTRACT003": "type-changed", "CONTRACT004": "union-branch-removed", "CONTRACT005": "union-branch-added",
    "CONTRACT006": "enum-symbol-removed", "CONTRACT007": "enum-symbol-added", "CONTRACT008": "type-renamed-without-alias",
    "CONTRACT009": "fixed-size-changed", "CONTRACT010": "field-alias-ambiguous", "CONTRACT011": "field-renamed-without-alias",
    "CONTRACT101": "decimal-scale-changed", "CONTRACT102": "decimal-precision-narrowed",
    "CONTRACT103": "logical-type-changed", "CONTRACT104": "type-defined-twice",
    "CONTRACT201": "invalid-schema", "CONTRACT202": "published-version-edited", "CONTRACT203": "published-version-deleted",
    "CONTRACT301": "partition-count-changed", "CONTRACT302": "key-bytes-changed",
}


def test_the_published_rule_ids_keep_their_names() -> None:
    assert {rule.id: rule.name for rule in RULES} == PUBLISHED
    assert all(rule.description.endswith(".") for rule in RULES)


def test_every_reason_and_problem_kind_has_a_rule_and_the_stricter_ones_are_the_1xx() -> None:
    kinds = [kind.name.upper() for kind in SchemaIncompatibilityType]
    kinds += ["AMBIGUOUS_FIELD_MATCH", *STRICTER_KINDS, "INVALID_SCHEMA", EDITED, REMOVED]
    for kind in kinds:
        for direction in (NEW_READS_OLD, OLD_READS_NEW):
            assert rule_for(kind, direction).kind == kind
    assert {r.id for r in RULES if r.stricter_than_registry} == {"CONTRACT101", "CONTRACT102", "CONTRACT103",
                                                                  "CONTRACT104"}
    assert rule_for("READER_FIELD_MISSING_DEFAULT_VALUE", NEW_READS_OLD).name == "field-added-without-default"
    assert rule_for("READER_FIELD_MISSING_DEFAULT_VALUE", OLD_READS_NEW).name == "field-removed-without-default"
    with pytest.raises(KeyError, match="SIDEWAYS"):
        rule_for("SIDEWAYS")


# ----------------------------------------------------------------------------------------------- lines

SCHEMA = """{
  "type": "record", "name": "Order", "namespace": "shop",
  "fields": [
    {"name": "id", "type": "string"},
    {
      "name": "buyer",
      "type": ["null", {"type": "record", "name": "Buyer", "fields": [
        {"name": "email", "type": "string"}
      ]}]
    },
    {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
      {"name": "sku", "type": "string"},
      {"name": "total", "aliases": ["amount"], "type": "long"}
    ]}}},
    {"name": "seller", "type": "shop.Buyer"}
  ]
}
"""


@pytest.mark.parametrize("field, line", [
    ("id", 4), ("buyer", 6), ("buyer.email", 8), ("items.sku", 12), ("items.amount", 13),  # found by its alias
    ("seller.email", 8),  # through the named reference: where Buyer defines it
    ("buyer.phone", 6),  # not there: the nearest enclosing field
    ("gone", 1), (None, 1),
])
def test_a_field_is_found_on_its_line_through_unions_arrays_and_named_types(field: str | None, line: int) -> None:
    assert line_of(SCHEMA, field) == line


def test_a_schema_on_one_line_puts_every_field_on_line_1() -> None:
    assert line_of('{"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}', "a") == 1


# ------------------------------------------------------------------------------------ from a review


def line_naming(path: Path, field: str) -> int:
    """The line of a schema file where a field is named, found by eye."""
    return next(i for i, row in enumerate(path.read_text().splitlines(), 1) if f'"name": "{field}"' in row)


def test_a_breaking_version_gives_one_finding_per_reason_on_the_fields_line(repo: Path) -> None:
    v2 = schema(repo, "invoice_reply", 1)
    invoice = next(b for b in next(f for f in v2["fields"] if f["name"] == "invoice")["type"] if isinstance(b, dict))
    next(f for f in invoice["fields"] if f["name"] == "number")["type"] = "string"
    publish(repo, "invoice_reply", 2, v2)

    found = findings(review(repo, "HEAD"))

    assert {(f.rule.id, f.subject, f.version, f.field, f.file) for f in found} == {
        ("CONTRACT003", "invoice-generated-value", 2, "invoice.number", "contracts/schemas/invoice_reply/v2.avsc")}
    assert len(found) == 2  # FULL_TRANSITIVE: new reads old and old reads new
    assert {f.line for f in found} == {line_naming(repo / "contracts/schemas/invoice_reply/v2.avsc", "number")}
    assert {f.message.split(": ", 1)[0] for f in found} == {
        "invoice-generated-value v2 breaks FULL_TRANSITIVE against v1, new reads old",
        "invoice-generated-value v2 breaks FULL_TRANSITIVE against v1, old reads new"}


def test_a_reason_given_against_several_earlier_versions_is_one_finding(repo: Path) -> None:
    v2 = schema(repo, "score_request", 1)
    v2["fields"].append({"name": "note", "type": ["null", "string"], "default": None, "doc": "Why it was asked."})
    publish(repo, "score_request", 2, v2)
    commit(repo, "v2")
    v3 = copy.deepcopy(v2)
    v3["fields"][2]["type"]["logicalType"] = "local-timestamp-millis"  # requested_at: UTC read as a local clock
    publish(repo, "score_request", 3, v3)

    found = findings(review(repo, "HEAD"))

    assert [(f.rule.id, f.field, f.version) for f in found] == [("CONTRACT103", "requested_at", 3)] * 2
    assert [f.message.split(": ", 1)[0] for f in found] == [
        "calculate-score-value v3 breaks FULL_TRANSITIVE against v1, v2, new reads old",
        "calculate-score-value v3 breaks FULL_TRANSITIVE against v1, v2, old reads new"]
    assert all(f.message.endswith(f"({STRICTER_NOTE})") for f in found)
    assert {f.line for f in found} == {line_naming(repo / "contracts/schemas/score_request/v3.avsc", "requested_at")}


def test_a_field_renamed_without_alias_is_found_with_the_alias_to_add(repo: Path) -> None:
    """v2 renames score to points (same type, no alias): new readers miss the old value (CONTRACT011, mended by the
    alias); old readers miss score whatever alias v2 gives (still CONTRACT002, said so)."""
    v2 = schema(repo, "score_reply", 1)
    next(f for f in v2["fields"] if f["name"] == "score")["name"] = "points"
    publish(repo, "score_reply", 2, v2)

    found = {f.rule.id: f for f in findings(review(repo, "HEAD"))}

    assert sorted(found) == ["CONTRACT002", "CONTRACT011"]
    renamed, removed = found["CONTRACT011"], found["CONTRACT002"]
    assert (renamed.rule.name, renamed.field, removed.field) == ("field-renamed-without-alias", "points", "score")
    assert renamed.message.endswith('it looks like score renamed: add "aliases": ["score"] to points so that this '
                                    "version reads the value older data holds under score")
    assert "readers of the earlier version know only score: no alias helps them" in removed.message
    assert renamed.line == line_naming(repo / "contracts/schemas/score_reply/v2.avsc", "points")
    markdown = render_markdown(review(repo, "HEAD"))
    assert "| CONTRACT011 field-renamed-without-alias | `points` |" in markdown
    assert '| possibly renamed | `points` | score was removed and points added, both int: if points is score renamed' in markdown


def test_a_type_defined_twice_with_other_aliases_is_refused_as_stricter_than_the_registry() -> None:
    """The registry takes it (Avro Java keeps each definition where it is written); contracts compat cannot judge it.
    (This project's manifest refuses such a schema outright: fastavro does not take a type defined twice.)"""
    tag = {"type": "record", "name": "Tag", "fields": [{"name": "text", "type": "string"}]}
    v1 = {"type": "record", "name": "R", "fields": [{"name": "first", "type": tag}]}
    v2 = {"type": "record", "name": "R", "fields": [{"name": "first", "type": tag},
                                                    {"name": "second", "type": {**tag, "aliases": ["Label"]}}]}

    verdict = _check("FULL", v2, [v1])

    (reason,) = verdict.reasons
    assert not verdict.compatible and verdict.stricter_than_registry
    assert (rule_for(reason.kind).id, reason.stricter_than_registry) == ("CONTRACT104", True)
    assert reason.message.startswith("Tag is defined twice, the same type to Java but with other aliases")


def test_a_removed_field_is_on_the_first_line_of_the_new_version(repo: Path) -> None:
    v2 = schema(repo, "score_reply", 1)
    v2["fields"] = [f for f in v2["fields"] if f["name"] != "invoices_considered"]
    publish(repo, "score_reply", 2, v2)

    (finding,) = findings(review(repo, "HEAD"))

    assert (finding.rule.name, finding.field, finding.line) == ("field-removed-without-default", "invoices_considered", 1)


def test_an_edited_version_is_found_on_its_first_changed_field_and_a_deleted_one_on_line_1(repo: Path) -> None:
    publish(repo, "invoice_reply", 2, schema(repo, "invoice_reply", 1))
    commit(repo, "invoice_reply v2")
    v1 = schema(repo, "score_request", 1)
    v1["fields"][2]["doc"] = "When the request was made."
    publish(repo, "score_request", 1, v1)
    (repo / "contracts/schemas/invoice_reply/v2.avsc").unlink()

    found = findings(review(repo, "HEAD"))

    assert sorted((f.rule.id, f.subject, f.version, f.field, f.line) for f in found) == [
        ("CONTRACT202", "calculate-score-value", 1, "requested_at",
         line_naming(repo / "contracts/schemas/score_request/v1.avsc", "requested_at")),
        ("CONTRACT203", "invoice-generated-value", 2, None, 1)]
    assert all("published versions are immutable" in f.message for f in found)
