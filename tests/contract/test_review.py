"""`contracts review`: the schema-change review explains every change since a git ref, and its exit status
blocks breaking changes and edits of published versions. Also contracts.diff.field_diff, which it shows.

Most tests run on a temporary git repository holding a copy of the contracts (v1 of every family), with no
registry; one compares the real tree with the live registry, one reviews a shallow clone of this repository."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from contracts.cli import main
from contracts.diff import Change, field_diff
from contracts.findings import findings
from contracts.registry import Registry
from contracts.report import render_github, render_markdown, write_reports
from contracts.review import review
from contracts.review_model import ANY_ORDER, BREAKING, CONSUMERS_FIRST, PRODUCER_FIRST, ReviewInputError
from messaging.settings import Settings
from tests.contract.projects import commit, git, publish, schema

ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE = "http://127.0.0.1:1/apis/ccompat/v7"  # nothing listens on port 1


# ------------------------------------------------------------------------------------------------ helpers


def invoice_record(reply: dict[str, Any]) -> dict[str, Any]:
    invoice = next(f for f in reply["fields"] if f["name"] == "invoice")
    return next(branch for branch in invoice["type"] if isinstance(branch, dict))


def with_verification_code(v1: dict[str, Any]) -> dict[str, Any]:
    v2 = copy.deepcopy(v1)
    invoice_record(v2)["fields"].append({
        "name": "verification_code", "type": ["null", "string"], "default": None,
        "doc": "The code a customer quotes to check that the invoice is genuine.",
    })
    return v2


def subject_of(result, name: str):  # type: ignore[no-untyped-def]
    return next(s for s in result.subjects if s.subject == name)


# ------------------------------------------------------------------------------------------- the review


def test_no_change_since_the_base_is_said_in_one_line_and_exits_0(repo: Path, tmp_path: Path) -> None:
    result = review(repo, "HEAD")
    assert result.subjects == () and result.exit_status == 0
    markdown = render_markdown(result)
    assert markdown.count("\n") == 1 and markdown.lower().startswith("no schema changes since `head`")
    md_file, json_file, _ = write_reports(result, tmp_path / "out")
    assert md_file.read_text() == markdown
    assert json.loads(json_file.read_text())["changed"] is False


def test_a_compatible_v2_is_listed_with_its_diff_verdicts_rollout_and_services(repo: Path, tmp_path: Path) -> None:
    publish(repo, "invoice_reply", 2, with_verification_code(schema(repo, "invoice_reply", 1)))
    commit(repo, "invoice_reply v2")

    result = review(repo, "HEAD~1")

    assert result.exit_status == 0
    assert [s.subject for s in result.subjects] == ["invoice-generated-value"]
    subject = result.subjects[0]
    assert (subject.producer, subject.consumers) == ("invoice", ("dashboard", "score"))
    (version,) = subject.versions
    assert version.version == 2 and version.new_since_base and version.registered is None
    assert Change("added", "invoice.verification_code", "[null, string], default null") in version.changes
    assert version.verdicts["FULL"].compatible and version.verdicts["FULL_TRANSITIVE"].compatible
    assert not version.breaks_level and version.rollout == ANY_ORDER

    markdown = render_markdown(result)
    assert "`invoice-generated-value`" in markdown and "v2" in markdown
    assert "`invoice.verification_code`" in markdown and "default null" in markdown
    assert "| FULL | compatible |" in markdown
    assert "| FULL_TRANSITIVE (this subject's level) | compatible |" in markdown
    assert "Rollout: **any order**" in markdown
    assert "producer `invoice`; consumers `dashboard`, `score`" in markdown

    _, json_file, _ = write_reports(result, tmp_path / "out")
    document = json.loads(json_file.read_text())
    (reported,) = document["subjects"]
    assert reported["versions_added"] == [2] and reported["producer"] == "invoice"
    assert reported["consumers"] == ["dashboard", "score"]
    assert reported["versions"][0]["verdicts"]["FULL_TRANSITIVE"]["compatible"] is True
    assert {"kind": "added", "path": "invoice.verification_code", "detail": "[null, string], default null"} \
        in reported["versions"][0]["changes"]
    assert document["exit_status"] == 0


def test_a_v2_that_changes_a_field_type_breaks_the_level_and_exits_1(repo: Path, tmp_path: Path) -> None:
    v2 = schema(repo, "invoice_reply", 1)
    number = next(f for f in invoice_record(v2)["fields"] if f["name"] == "number")
    number["type"] = "string"
    publish(repo, "invoice_reply", 2, v2)

    result = review(repo, "HEAD")  # uncommitted work counts: the tree is what is reviewed

    assert result.exit_status == 1
    (version,) = subject_of(result, "invoice-generated-value").versions
    assert version.breaks_level and version.rollout == BREAKING
    assert Change("type_changed", "invoice.number", "long -> string") in version.changes
    assert not version.verdicts["BACKWARD"].compatible and not version.verdicts["FORWARD"].compatible
    assert version.verdicts["NONE"].compatible
    markdown = render_markdown(result)
    assert "invoice.number" in markdown and "Breaks the subject's level FULL_TRANSITIVE" in markdown
    reasons = [r for v in version.verdicts.values() for r in v.reasons]
    assert reasons and all(r.against == 1 for r in reasons)
    assert any("number" in f"{r.path} {r.field}" for r in reasons)
    document = json.loads(write_reports(result, tmp_path / "out")[1].read_text())
    reported = document["subjects"][0]["versions"][0]
    assert reported["breaks_level"] is True and document["exit_status"] == 1
    assert "invoice.number" in json.dumps(reported)


def test_a_v2_that_removes_a_field_without_default_is_backward_only_and_breaks_full(repo: Path) -> None:
    v2 = schema(repo, "score_reply", 1)
    v2["fields"] = [f for f in v2["fields"] if f["name"] != "invoices_considered"]
    publish(repo, "score_reply", 2, v2)

    result = review(repo, "HEAD")

    assert result.exit_status == 1
    (version,) = subject_of(result, "score-calculated-value").versions
    assert Change("removed", "invoices_considered", "int, had no default") in version.changes
    assert version.verdicts["BACKWARD_TRANSITIVE"].compatible and not version.verdicts["FORWARD_TRANSITIVE"].compatible
    assert version.breaks_level and version.rollout == CONSUMERS_FIRST
    forward = version.verdicts["FORWARD"].reasons
    assert any("invoices_considered" in f"{r.path} {r.field}" for r in forward)
    markdown = render_markdown(result)
    assert "invoices_considered" in markdown and CONSUMERS_FIRST in markdown


def test_the_same_change_is_fine_where_the_level_allows_it(repo: Path) -> None:
    manifest = repo / "contracts" / "topics.toml"
    text = manifest.read_text()
    start = text.index('name = "score-calculated"')
    manifest.write_text(text[:start] + text[start:].replace('"FULL_TRANSITIVE"', '"BACKWARD"', 1))
    v2 = schema(repo, "score_reply", 1)
    v2["fields"] = [f for f in v2["fields"] if f["name"] != "invoices_considered"]
    publish(repo, "score_reply", 2, v2)

    result = review(repo, "HEAD")

    assert result.exit_status == 0
    subject = subject_of(result, "score-calculated-value")
    assert subject.previous_level == "FULL_TRANSITIVE" and subject.compatibility == "BACKWARD"
    assert not subject.versions[0].breaks_level and subject.versions[0].rollout == CONSUMERS_FIRST
    assert "was FULL_TRANSITIVE" in render_markdown(result)


def test_adding_a_field_without_default_is_forward_only(repo: Path) -> None:
    v2 = schema(repo, "score_request", 1)
    v2["fields"].append({"name": "window_days", "type": "int", "doc": "How many days of history to score."})
    publish(repo, "score_request", 2, v2)

    (version,) = subject_of(review(repo, "HEAD"), "calculate-score-value").versions

    assert Change("added", "window_days", "int, no default") in version.changes
    assert version.rollout == PRODUCER_FIRST and version.breaks_level


def test_editing_a_published_version_is_an_error_naming_subject_and_version(repo: Path, tmp_path: Path) -> None:
    v1 = schema(repo, "score_request", 1)
    v1["fields"][2]["doc"] = "When the request was made."
    publish(repo, "score_request", 1, v1)

    result = review(repo, "HEAD")

    assert result.exit_status == 1
    (problem,) = result.problems
    assert (problem.subject, problem.version, problem.kind) == ("calculate-score-value", 1, "edited")
    assert [c.kind for c in problem.changes] == ["doc_changed"] and problem.changes[0].path == "requested_at"
    markdown = render_markdown(result)
    assert "calculate-score-value version 1" in markdown and "edited" in markdown
    assert "contracts/schemas/score_request/v1.avsc" in markdown
    document = json.loads(write_reports(result, tmp_path / "out")[1].read_text())
    assert [(e["subject"], e["version"], e["kind"]) for e in document["errors"]] == [("calculate-score-value", 1, "edited")]


def test_reformatting_a_published_version_is_not_an_edit(repo: Path) -> None:
    path = repo / "contracts" / "schemas" / "user_key" / "v1.avsc"
    path.write_text(json.dumps(json.loads(path.read_text()), separators=(",", ":")))

    result = review(repo, "HEAD")

    assert result.subjects == () and result.exit_status == 0


def test_a_shared_key_family_change_is_reported_for_every_topic_keyed_by_it(repo: Path) -> None:
    v1 = schema(repo, "user_key", 1)
    published_doc = v1["doc"]
    v1["doc"] = "Edited."
    publish(repo, "user_key", 1, v1)

    result = review(repo, "HEAD")

    assert sorted(p.subject for p in result.problems) == [
        "calculate-score-key", "generate-invoice-key", "invoice-generated-key", "score-calculated-key",
    ]
    expected = Change("doc_changed", "", f'record UserKey doc: {json.dumps(published_doc)} -> "Edited."')
    assert all(p.changes == (expected,) for p in result.problems)


def test_deleting_a_published_version_is_an_error(repo: Path) -> None:
    publish(repo, "invoice_reply", 2, with_verification_code(schema(repo, "invoice_reply", 1)))
    commit(repo, "invoice_reply v2")
    (repo / "contracts" / "schemas" / "invoice_reply" / "v2.avsc").unlink()

    result = review(repo, "HEAD")

    assert result.exit_status == 1
    (problem,) = result.problems
    assert (problem.subject, problem.version, problem.kind) == ("invoice-generated-value", 2, "removed")


def test_a_new_topic_is_reported_as_a_new_subject_with_its_versions(repo: Path) -> None:
    (repo / "contracts" / "schemas" / "audit_event").mkdir()
    publish(repo, "audit_event", 1, {
        "type": "record", "name": "AuditEvent", "namespace": "accounting", "doc": "Something happened.",
        "fields": [{"name": "what", "type": "string", "doc": "What happened."}],
    })
    with (repo / "contracts" / "topics.toml").open("a") as manifest:
        manifest.write(
            '\n[[topic]]\nname = "audit"\ndead_letter_topic = "audit-dead-letters"\nkey = "user_key"\n'
            'value = "audit_event"\npartitioner = "murmur2"\npartitions = 1\nreplication_factor = 1\ncompatibility = "BACKWARD"\n'
            'why = "A log."\nproducer = "dashboard"\nconsumers = ["score"]\n'
        )

    result = review(repo, "HEAD")

    assert result.exit_status == 0
    assert {s.subject: s.new_subject for s in result.subjects} == {"audit-key": True, "audit-value": True}
    value = subject_of(result, "audit-value")
    assert [v.version for v in value.versions] == [1] and value.versions[0].previous is None
    markdown = render_markdown(result)
    assert "`audit-value` (new subject)" in markdown and "First version" in markdown


def test_reviewing_against_an_older_base_covers_every_version_since(repo: Path) -> None:
    v2 = with_verification_code(schema(repo, "invoice_reply", 1))
    publish(repo, "invoice_reply", 2, v2)
    commit(repo, "v2")
    v3 = copy.deepcopy(v2)
    code = next(f for f in invoice_record(v3)["fields"] if f["name"] == "verification_code")
    code["doc"] = "The verification code, as XXXX-XXXX."
    publish(repo, "invoice_reply", 3, v3)
    commit(repo, "v3")

    versions = subject_of(review(repo, "HEAD~2"), "invoice-generated-value").versions

    assert [(v.version, v.previous) for v in versions] == [(2, 1), (3, 2)]
    assert [c.kind for c in versions[1].changes] == ["doc_changed"]
    assert all(v.verdicts["FULL_TRANSITIVE"].compatible for v in versions)


def test_an_unreachable_registry_is_noted_and_the_review_goes_on(repo: Path) -> None:
    publish(repo, "invoice_reply", 2, with_verification_code(schema(repo, "invoice_reply", 1)))

    result = review(repo, "HEAD", UNREACHABLE)

    assert result.registry.status == "unreachable"
    assert [v.version for v in subject_of(result, "invoice-generated-value").versions] == [2]
    assert "not reachable" in render_markdown(result)


def test_an_unknown_ref_or_a_folder_outside_git_is_unusable_input(repo: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ReviewInputError, match="unknown git ref 'no-such-ref'"):
        review(repo, "no-such-ref")
    with pytest.raises(ReviewInputError, match="unknown git ref 'HEAD~1'"):
        review(repo, "HEAD~1")  # the repository has one commit
    outside = tmp_path / "outside"
    shutil.copytree(repo / "contracts", outside / "contracts")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    with pytest.raises(ReviewInputError, match="not in a git repository"):
        review(outside, "HEAD")


def test_the_command_exits_2_with_one_line_for_an_unknown_ref(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", "--base", "no-such-ref-for-review", "--no-registry"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: unknown git ref 'no-such-ref-for-review'")


def test_the_command_prints_markdown_and_writes_both_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["review", "--base", "HEAD", "--no-registry", "--out", str(tmp_path / "out")])
    printed = capsys.readouterr().out
    document = json.loads((tmp_path / "out" / "schema-review.json").read_text())
    assert (tmp_path / "out" / "schema-review.md").read_text() == printed
    assert status == document["exit_status"] and document["base"] == "HEAD"


def test_with_the_live_registry_nothing_published_is_reported_as_edited(registry: Registry, settings: Settings) -> None:
    """The registry holds what the tree publishes (provisioning registered it): comparing the real tree with it and
    with HEAD finds no edited version, and no version the tree publishes is missing from the registry."""
    result = review(ROOT, "HEAD", settings.registry_url)

    assert result.registry.status == "compared", result.registry.detail
    assert [p for p in result.problems if p.kind == "edited"] == []
    committed = {line.split("/")[-2] + "/" + line.split("/")[-1]
                 for line in git(ROOT, "ls-tree", "-r", "--name-only", "HEAD", "--", "contracts/schemas").split()}
    for subject in result.subjects:  # only work in progress since HEAD may be unregistered
        for version in subject.versions:
            assert f"{subject.family}/v{version.version}.avsc" not in committed or version.registered, (
                f"{subject.subject} v{version.version} is committed but not registered"
            )


# --------------------------------------------------------------------------------------------- field_diff


RECORD = {
    "type": "record", "name": "Order", "namespace": "shop", "doc": "An order.",
    "fields": [
        {"name": "id", "type": "string", "doc": "Order id."},
        {"name": "count", "type": "int", "doc": "How many."},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "DONE"]}},
        {"name": "items", "type": {"type": "array", "items": {
            "type": "record", "name": "Item", "doc": "One item.",
            "fields": [{"name": "sku", "type": "string"}, {"name": "quantity", "type": "int"}],
        }}},
        {"name": "buyer", "type": ["null", {
            "type": "record", "name": "Buyer", "fields": [{"name": "name", "type": "string"}],
        }], "default": None},
        {"name": "seller", "type": "Buyer"},
    ],
}


def changed(mutate) -> list[Change]:  # type: ignore[no-untyped-def]
    new = copy.deepcopy(RECORD)
    mutate(new)
    return field_diff(RECORD, json.dumps(new))


def field(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in document["fields"] if f["name"] == name)


def test_identical_schemas_have_no_differences() -> None:
    assert field_diff(RECORD, json.dumps(RECORD, indent=4)) == []


def test_added_and_removed_fields_say_whether_they_have_a_default() -> None:
    def mutate(new: dict[str, Any]) -> None:
        new["fields"].append({"name": "coupon", "type": ["null", "string"], "default": None})
        new["fields"].append({"name": "channel", "type": "string"})
        new["fields"] = [f for f in new["fields"] if f["name"] not in ("count", "note")]

    assert changed(mutate)[:4] == [
        Change("added", "coupon", "[null, string], default null"),
        Change("added", "channel", "string, no default"),
        Change("removed", "count", "int, had no default"),
        Change("removed", "note", "[null, string], had default null"),
    ]


def test_a_field_whose_aliases_name_an_old_field_is_a_rename() -> None:
    def mutate(new: dict[str, Any]) -> None:
        field(new, "count")["name"] = "quantity"
        field(new, "quantity")["aliases"] = ["count"]

    assert changed(mutate) == [Change("renamed", "quantity", 'renamed from count (aliases ["count"])')]


def test_a_rename_without_alias_is_a_removal_an_addition_and_the_alias_suggested() -> None:
    added, removed, suggested = changed(lambda new: field(new, "count").update(name="quantity"))
    assert (added.kind, added.path, removed.kind, removed.path) == ("added", "quantity", "removed", "count")
    assert (suggested.kind, suggested.path, suggested.was) == ("possibly_renamed", "quantity", "count")
    assert 'add "aliases": ["count"] to quantity' in suggested.detail
    assert suggested.to_json() == {"kind": "possibly_renamed", "path": "quantity", "detail": suggested.detail,
                                   "was": "count"}
    assert "was" not in added.to_json()


def test_only_a_pair_of_one_type_alone_looks_like_a_rename() -> None:
    """Fields of another type, or two removed and one added of a type, are no rename to suggest."""
    def retyped(new: dict[str, Any]) -> None:
        field(new, "count").update(name="quantity", type="long")

    assert [c.kind for c in changed(retyped)] == ["added", "removed"]

    def two_for_one(new: dict[str, Any]) -> None:
        new["fields"] = [f for f in new["fields"] if f["name"] != "count"]
        new["fields"] += [{"name": "total", "type": "int"}, {"name": "units", "type": "int"}]

    assert [c.kind for c in changed(two_for_one)] == ["added", "added", "removed"]

    def nested(new: dict[str, Any]) -> None:
        field(new, "items")["type"]["items"]["fields"][1]["name"] = "units"

    assert [(c.kind, c.path, c.was) for c in changed(nested)][-1] == ("possibly_renamed", "items[].units", "items[].quantity")


def test_avro_promotions_are_told_apart_from_type_changes() -> None:
    def promote(new: dict[str, Any]) -> None:
        field(new, "count")["type"] = "long"
        field(new, "id")["type"] = "bytes"

    assert changed(promote) == [
        Change("type_promoted", "id", "string -> bytes (an Avro promotion)"),
        Change("type_promoted", "count", "int -> long (an Avro promotion)"),
    ]
    assert changed(lambda new: field(new, "count").update(type="string")) == [
        Change("type_changed", "count", "int -> string")
    ]
    assert changed(lambda new: field(new, "id").update(type={"type": "string", "logicalType": "uuid"})) == [
        Change("type_changed", "id", "string -> string (uuid)")
    ]


def test_decimal_precision_and_scale_changes_are_type_changes() -> None:
    def widen(new: dict[str, Any]) -> None:
        field(new, "price")["type"] = {"type": "bytes", "logicalType": "decimal", "precision": 14, "scale": 3}

    assert changed(widen) == [Change("type_changed", "price", "bytes decimal(12,2) -> bytes decimal(14,3)")]


def test_default_and_doc_changes_on_fields_and_records() -> None:
    def mutate(new: dict[str, Any]) -> None:
        field(new, "note")["default"] = "none"  # (not valid Avro: a diff does not judge)
        field(new, "id")["doc"] = "The order id."
        field(new, "count")["default"] = 1
        new["doc"] = "An order placed in the shop."

    assert changed(mutate) == [
        Change("doc_changed", "", 'record Order doc: "An order." -> "An order placed in the shop."'),
        Change("doc_changed", "id", 'field doc: "Order id." -> "The order id."'),
        Change("default_changed", "count", "default added: 1"),
        Change("default_changed", "note", 'default: null -> "none"'),
    ]


def test_nested_paths_go_through_arrays_union_branches_and_named_references() -> None:
    def mutate(new: dict[str, Any]) -> None:
        item = field(new, "items")["type"]["items"]
        field(item, "quantity")["type"] = "long"
        item["fields"].append({"name": "gift", "type": "boolean", "default": False})
        item["doc"] = "One line."
        buyer = field(new, "buyer")["type"][1]
        buyer["fields"].append({"name": "email", "type": ["null", "string"], "default": None})

    assert changed(mutate) == [
        Change("doc_changed", "items[]", 'record Item doc: "One item." -> "One line."'),
        Change("type_promoted", "items[].quantity", "int -> long (an Avro promotion)"),
        Change("added", "items[].gift", "boolean, default false"),
        Change("added", "buyer.email", "[null, string], default null"),
        Change("added", "seller.email", "[null, string], default null"),  # `seller` refers to Buyer by name
    ]


def test_enum_symbol_changes_and_union_branches() -> None:
    def mutate(new: dict[str, Any]) -> None:
        field(new, "status")["type"]["symbols"] = ["NEW", "PAID", "DONE"]
        field(new, "note")["type"] = ["null", "string", "long"]

    assert changed(mutate) == [
        Change("type_changed", "note", "[null, string] -> [null, string, long] (adds long)"),
        Change("symbols_changed", "status", "enum Status adds PAID"),
    ]
    assert changed(lambda new: field(new, "id").update(type=["null", "string"], default=None)) == [
        Change("default_changed", "id", "default added: null"),
        Change("type_changed", "id", "string -> [null, string]"),
    ]


def test_field_diff_takes_text_or_parsed_json_and_handles_recursive_types() -> None:
    node = {"type": "record", "name": "Node", "fields": [
        {"name": "value", "type": "int"}, {"name": "next", "type": ["null", "Node"], "default": None},
    ]}
    grown = copy.deepcopy(node)
    field(grown, "value")["type"] = "double"
    assert field_diff(json.dumps(node), grown) == [Change("type_promoted", "value", "int -> double (an Avro promotion)")]


# ------------------------------------------------------------------------- stricter than the registry


def test_a_timestamp_read_in_another_unit_breaks_the_level_and_is_marked_stricter_than_the_registry(
        repo: Path, tmp_path: Path) -> None:
    """The registry accepts timestamp-millis -> timestamp-micros on invoice_request.requested_at (test_compat shows
    it live); the review refuses it as the change of meaning it is, and says it is stricter."""
    v2 = schema(repo, "invoice_request", 1)
    next(f for f in v2["fields"] if f["name"] == "requested_at")["type"]["logicalType"] = "timestamp-micros"
    publish(repo, "invoice_request", 2, v2)

    result = review(repo, "HEAD")

    assert result.exit_status == 1
    (version,) = subject_of(result, "generate-invoice-value").versions
    assert version.breaks_level and version.rollout == BREAKING
    assert all(v.stricter_than_registry for mode, v in version.verdicts.items() if mode != "NONE")
    kinds = {(r.field, r.kind, r.stricter_than_registry) for r in version.verdicts["FULL_TRANSITIVE"].reasons}
    assert kinds == {("requested_at", "LOGICAL_TYPE_CHANGED", True)}
    markdown = render_markdown(result)
    assert "| FULL_TRANSITIVE (this subject's level) | **incompatible** (stricter than the registry, which accepts it) |" \
        in markdown
    assert "CONTRACT103 logical-type-changed" in markdown
    document = json.loads(write_reports(result, tmp_path / "out")[1].read_text())
    verdict = document["subjects"][0]["versions"][0]["verdicts"]["FULL_TRANSITIVE"]
    assert verdict["compatible"] is False and verdict["stricter_than_registry"] is True


def test_a_decimal_precision_grown_at_the_same_scale_meets_a_backward_level(repo: Path) -> None:
    manifest = repo / "contracts" / "topics.toml"
    text = manifest.read_text()
    start = text.index('name = "generate-invoice"')
    manifest.write_text(text[:start] + text[start:].replace('"FULL_TRANSITIVE"', '"BACKWARD"', 1))
    v2 = schema(repo, "invoice_request", 1)
    line = next(f for f in v2["fields"] if f["name"] == "items")["type"]["items"]
    next(f for f in line["fields"] if f["name"] == "unit_price")["type"]["precision"] = 16

    publish(repo, "invoice_request", 2, v2)
    (version,) = subject_of(review(repo, "HEAD"), "generate-invoice-value").versions

    assert not version.breaks_level and version.rollout == CONSUMERS_FIRST
    (reason,) = version.verdicts["FORWARD"].reasons  # old readers would be given 16 digits where they allow 14
    assert (reason.field, reason.kind) == ("items.unit_price", "DECIMAL_PRECISION_NARROWED")


# ------------------------------------------------------------------------------------ shallow clones


def shallow_clone(source: Path, target: Path) -> Path:
    git(source.parent, "clone", "-q", "--depth", "1", f"file://{source}", str(target))
    return target


def test_in_a_shallow_clone_of_this_repository_the_default_base_is_fetched(tmp_path: Path) -> None:
    """CI checks out one commit: HEAD~1 is not there until the review deepens the clone from its remote."""
    clone = shallow_clone(ROOT, tmp_path / "clone")
    assert git(clone, "rev-parse", "--is-shallow-repository").strip() == "true"

    result = review(clone, "HEAD~1")

    assert result.base_commit == git(clone, "rev-parse", "HEAD~1").strip()
    assert result.problems == ()  # the base's published versions were read: nothing looks deleted


def test_a_shallow_clone_without_a_remote_says_how_to_get_the_base(repo: Path, tmp_path: Path) -> None:
    commit(repo, "a second commit")
    clone = shallow_clone(repo, tmp_path / "clone")
    git(clone, "remote", "remove", "origin")
    with pytest.raises(ReviewInputError) as raised:
        review(clone, "HEAD~1")
    said = str(raised.value)
    assert said.startswith("the base 'HEAD~1' is not in this shallow clone") and "\n" not in said
    assert "`git fetch --unshallow`" in said and "BASE=" in said


def test_a_shallow_clone_missing_a_base_that_is_not_below_head_says_how_to_get_it(repo: Path, tmp_path: Path) -> None:
    first = git(repo, "rev-parse", "HEAD").strip()
    commit(repo, "a second commit")
    clone = shallow_clone(repo, tmp_path / "clone")
    with pytest.raises(ReviewInputError, match=r"is not in this shallow clone: run `git fetch --unshallow`"):
        review(clone, first)
    assert review(clone, "HEAD^").base_commit == first  # HEAD^ is fetched like HEAD~1


def test_a_manifest_change_of_who_reads_a_topic_is_reviewed_as_rights_granted(repo: Path) -> None:
    manifest = repo / "contracts" / "topics.toml"
    text = manifest.read_text()
    changelog = text.index('name = "invoice-decisions-changelog"')
    consumers = text.index('consumers = ["invoice"]', changelog)
    manifest.write_text(text[:consumers] + 'consumers = ["invoice", "score"]' + text[consumers + len('consumers = ["invoice"]'):])
    commit(repo, "score reads the invoice decisions")

    result = review(repo, "HEAD~1")

    assert [(g.principal, g.operation, g.name) for g in result.granted] == [
        ("score", "describe", "invoice-decisions-changelog"), ("score", "read", "invoice-decisions-changelog")]
    assert result.revoked == () and result.subjects == () and result.exit_status == 0
    assert "2 rights granted and 0 revoked" in result.summary
    markdown = render_markdown(result)
    assert "## Who may do what (ACLs derived from the manifest)" in markdown
    assert "- granted: User:score may read topic invoice-decisions-changelog (consumes invoice-decisions-changelog)" in markdown


def test_growing_a_co_partitioned_group_is_a_one_way_door_naming_the_command_on_its_line(repo: Path) -> None:
    manifest = repo / "contracts" / "topics.toml"
    text = manifest.read_text()
    for name in ("generate-invoice", "invoice-decisions-changelog"):
        at = text.index(f'name = "{name}"')
        count = text.index("partitions = 6", at)
        text = text[:count] + "partitions = 12" + text[count + len("partitions = 6"):]
    manifest.write_text(text)
    commit(repo, "grow the invoice group")

    result = review(repo, "HEAD~1")

    assert [(d.topic, d.kind) for d in result.doors] == [("generate-invoice", "partition_count_changed")]
    assert result.exit_status == 0 and "1 one-way door" in result.summary
    found = findings(result)
    assert [(f.rule.id, f.rule.level, f.file) for f in found] == [
        ("CONTRACT301", "warning", "contracts/topics.toml")]
    assert text.splitlines()[found[0].line - 1] == "partitions = 12"
    assert "make repartition GROUP=invoice PARTITIONS=12 APPLY=1" in found[0].message
    assert "::warning file=contracts/topics.toml" in render_github(result)
    assert "CONTRACT301 partition-count-changed" in render_markdown(result)


def test_a_new_key_version_moves_every_key_of_every_topic_keyed_by_it(repo: Path) -> None:
    key = json.loads((repo / "contracts" / "schemas" / "user_key" / "v1.avsc").read_text())
    key["fields"][0]["doc"] += " (documented better)"
    publish(repo, "user_key", 2, key)
    commit(repo, "user_key v2")

    result = review(repo, "HEAD~1")

    assert {d.topic for d in result.doors if d.kind == "key_bytes_changed"} == {
        "generate-invoice", "invoice-generated", "calculate-score", "score-calculated"}
    assert all(f.rule.id == "CONTRACT302" and f.rule.level == "warning" for f in findings(result)
               if f.rule.id.startswith("CONTRACT3"))
    assert result.exit_status == 0
