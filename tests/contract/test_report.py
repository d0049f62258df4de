"""contracts.report: the review for people (Markdown) and for CI (JSON, GitHub workflow commands, SARIF 2.1.0), the
same findings in each, and `contracts review --format`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from contracts.cli import main
from contracts.compat import STRICTER_NOTE
from contracts.findings import RULES, findings
from contracts.report import FORMATS, _data, _property, render_github, render_json, render_markdown, render_sarif, write_reports
from contracts.review import review
from contracts.review_model import Review
from tests.contract.projects import publish, schema

# The parts of the OASIS SARIF 2.1.0 schema (sarif-schema-2.1.0.json) a code-scanning upload relies on, written out
# here (no package ships the official file): required properties, the level enumeration, and, as there, no property
# the specification does not define on these objects.
SARIF_2_1_0: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object", "required": ["version", "runs"], "additionalProperties": False,
    "properties": {"$schema": {"type": "string"}, "version": {"enum": ["2.1.0"]},
                   "runs": {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/run"}}},
    "definitions": {
        "run": {"type": "object", "required": ["tool"], "additionalProperties": False, "properties": {
            "tool": {"$ref": "#/definitions/tool"},
            "automationDetails": {"type": "object", "additionalProperties": False, "properties": {"id": {"type": "string"}}},
            "results": {"type": "array", "items": {"$ref": "#/definitions/result"}}}},
        "tool": {"type": "object", "required": ["driver"], "additionalProperties": False,
                 "properties": {"driver": {"$ref": "#/definitions/toolComponent"}}},
        "toolComponent": {"type": "object", "required": ["name"], "additionalProperties": False, "properties": {
            "name": {"type": "string"},
            "rules": {"type": "array", "uniqueItems": True, "items": {"$ref": "#/definitions/reportingDescriptor"}}}},
        "reportingDescriptor": {"type": "object", "required": ["id"], "additionalProperties": False, "properties": {
            "id": {"type": "string"}, "name": {"type": "string"},
            "shortDescription": {"$ref": "#/definitions/multiformatMessageString"},
            "fullDescription": {"$ref": "#/definitions/multiformatMessageString"},
            "defaultConfiguration": {"type": "object", "additionalProperties": False,
                                     "properties": {"level": {"$ref": "#/definitions/level"}}},
            "properties": {"$ref": "#/definitions/propertyBag"}}},
        "multiformatMessageString": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}},
        "message": {"type": "object", "anyOf": [{"required": ["text"]}, {"required": ["id"]}],
                    "properties": {"text": {"type": "string"}, "id": {"type": "string"}}},
        "level": {"enum": ["none", "note", "warning", "error"]},
        "result": {"type": "object", "required": ["message"], "additionalProperties": False, "properties": {
            "ruleId": {"type": "string"}, "ruleIndex": {"type": "integer", "minimum": -1},
            "level": {"$ref": "#/definitions/level"}, "message": {"$ref": "#/definitions/message"},
            "locations": {"type": "array", "items": {"$ref": "#/definitions/location"}},
            "properties": {"$ref": "#/definitions/propertyBag"}}},
        "location": {"type": "object", "additionalProperties": False,
                     "properties": {"physicalLocation": {"$ref": "#/definitions/physicalLocation"}}},
        "physicalLocation": {
            "type": "object", "anyOf": [{"required": ["address"]}, {"required": ["artifactLocation"]}],
            "additionalProperties": False, "properties": {
                "artifactLocation": {"type": "object", "additionalProperties": False, "properties": {
                    "uri": {"type": "string"}, "uriBaseId": {"type": "string"}}},
                "region": {"type": "object", "additionalProperties": False,
                           "properties": {"startLine": {"type": "integer", "minimum": 1}}}}},
        "propertyBag": {"type": "object"},
    },
}
WORKFLOW_COMMAND = re.compile(r"^::(error|warning|notice) (?:file=([^,]*),line=([0-9]+),)?title=([^:]*)::(.*)$")


def sarif_errors(document: Any) -> list[str]:
    return [error.message for error in jsonschema_rs.validator_for(SARIF_2_1_0).iter_errors(document)]


@pytest.fixture
def breaking(repo: Path) -> Review:
    """invoice_request v2: requested_at read in another unit (stricter than the registry), a line's quantity turned
    into an int (the registry refuses that too)."""
    v2 = schema(repo, "invoice_request", 1)
    next(f for f in v2["fields"] if f["name"] == "requested_at")["type"]["logicalType"] = "timestamp-micros"
    line = next(f for f in v2["fields"] if f["name"] == "items")["type"]["items"]
    next(f for f in line["fields"] if f["name"] == "quantity")["type"] = "int"
    publish(repo, "invoice_request", 2, v2)
    return review(repo, "HEAD")


def test_every_format_carries_every_finding_with_its_rule_file_and_line(breaking: Review) -> None:
    found = findings(breaking)
    assert {(f.rule.id, f.field) for f in found} == {("CONTRACT103", "requested_at"), ("CONTRACT003", "items.quantity")}
    markdown, document = render_markdown(breaking), json.loads(render_json(breaking))
    github, sarif = render_github(breaking), json.loads(render_sarif(breaking))
    assert document["findings"] == [f.to_json() for f in found]
    assert len(sarif["runs"][0]["results"]) == len(found) == len(github.splitlines()) - 1
    for finding in found:
        where = f"`{finding.file}:{finding.line}`"
        assert f"| {finding.rule.id} {finding.rule.name} | `{finding.subject}` v2 | `{finding.field}` | {where} |" \
            in markdown
        assert (f"::error file={finding.file},line={finding.line},title={finding.rule.id} {finding.rule.name}"
                f"::{finding.message}") in github.splitlines()
    stricter = [f for f in found if f.rule.stricter_than_registry]
    assert stricter and all(f.message.endswith(f"({STRICTER_NOTE})") for f in stricter)
    assert all(STRICTER_NOTE not in f.message for f in found if not f.rule.stricter_than_registry)


def test_the_sarif_log_has_the_shape_of_sarif_2_1_0_and_points_into_the_repository(breaking: Review) -> None:
    log = json.loads(render_sarif(breaking))
    assert sarif_errors(log) == []
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [(r["id"], r["name"]) for r in rules] == [(rule.id, rule.name) for rule in RULES]
    assert all(r["fullDescription"]["text"] and r["shortDescription"]["text"] for r in rules)
    assert run["results"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"] and result["level"] == "error"
        (location,) = result["locations"]
        uri, line = location["physicalLocation"]["artifactLocation"]["uri"], location["physicalLocation"]["region"]["startLine"]
        assert not uri.startswith("/") and (breaking.root / uri).is_file()  # relative to the checkout, as scanning wants
        assert line <= len((breaking.root / uri).read_text().splitlines())
    # The excerpt is not vacuous: it refuses what the official schema refuses.
    broken = json.loads(json.dumps(log))
    broken["runs"][0]["results"][0]["level"] = "fatal"
    del broken["runs"][0]["tool"]["driver"]["name"]
    broken["runs"][0]["results"][0]["rule_id"] = "CONTRACT103"
    assert len(sarif_errors(broken)) == 3


def test_the_github_commands_are_one_line_each_with_the_summary_last(breaking: Review) -> None:
    *annotations, summary = render_github(breaking).splitlines()
    parsed = [WORKFLOW_COMMAND.match(line) for line in annotations]
    assert all(match and match.group(1) == "error" for match in parsed)
    assert summary == f"::notice title=Schema review::{breaking.summary}"


def test_workflow_command_values_are_escaped() -> None:
    assert _data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert _property("a,b: c") == "a%2Cb%3A c"


def test_nothing_changed_is_one_notice_and_an_empty_sarif_run(repo: Path) -> None:
    result = review(repo, "HEAD")
    assert render_github(result) == f"::notice title=Schema review::{result.summary}\n"
    log = json.loads(render_sarif(result))
    assert sarif_errors(log) == [] and log["runs"][0]["results"] == []


def test_the_reports_written_are_markdown_json_and_sarif(breaking: Review, tmp_path: Path) -> None:
    paths = write_reports(breaking, tmp_path)
    assert [p.name for p in paths] == ["schema-review.md", "schema-review.json", "schema-review.sarif"]
    assert [p.read_text() for p in paths] == [render_markdown(breaking), render_json(breaking), render_sarif(breaking)]


@pytest.mark.parametrize("form", FORMATS)
def test_the_command_prints_the_format_asked(form: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["review", "--base", "HEAD", "--no-registry", "--format", form, "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert status in (0, 1)
    if form in ("json", "sarif"):
        assert json.loads(printed) == json.loads((tmp_path / f"schema-review.{form}").read_text())
    elif form == "github":
        assert all(WORKFLOW_COMMAND.match(line) for line in printed.splitlines())
    else:
        assert printed == (tmp_path / "schema-review.md").read_text()
