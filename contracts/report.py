"""Rendering a schema review: Markdown for a pull request, JSON for tools, GitHub Actions workflow commands and
SARIF 2.1.0 for CI annotations and code scanning. Every format carries the same findings (contracts.findings)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from contracts import compat
from contracts.compat import STRICTER_NOTE
from contracts.diff import Change
from contracts.findings import RULES, Finding, findings, rule_of
from contracts.review_model import EDITED, Review, SubjectReview, VersionReview

__all__ = ["FORMATS", "render_github", "render_json", "render_markdown", "render_sarif", "write_reports"]

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def write_reports(result: Review, out: Path) -> tuple[Path, ...]:
    """Write out/schema-review.md, .json and .sarif; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    renders = {out / "schema-review.md": render_markdown, out / "schema-review.json": render_json,
               out / "schema-review.sarif": render_sarif}
    for path, render in renders.items():
        path.write_text(render(result))
    return tuple(renders)


def render_json(result: Review) -> str:
    """The whole review, and its findings, as JSON."""
    document = {**result.to_json(), "findings": [f.to_json() for f in findings(result)]}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_github(result: Review) -> str:
    """GitHub Actions workflow commands: an annotation per finding (an error, or a warning for a one-way door) on its
    file and line, then the summary as a notice."""
    lines = [f"::{f.rule.level} file={_property(f.file)},line={f.line},title={_property(f.rule.id + ' ' + f.rule.name)}"
             f"::{_data(f.message)}" for f in findings(result)]
    lines += [f"::notice file=contracts/topics.toml,title=Right {verb}::{_data(grant.describe())}"
              for verb, rights in (("granted", result.granted), ("revoked", result.revoked)) for grant in rights]
    return "\n".join([*lines, f"::notice title=Schema review::{_data(result.summary)}"]) + "\n"


def _data(text: str) -> str:
    """A workflow command's message, escaped as the runner unescapes it."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render_sarif(result: Review) -> str:
    """SARIF 2.1.0: every rule in tool.driver.rules, a result per finding with its file and line."""
    index = {rule.id: i for i, rule in enumerate(RULES)}
    rules = [{
        "id": rule.id, "name": rule.name,
        "shortDescription": {"text": rule.name.replace("-", " ")}, "fullDescription": {"text": rule.description},
        "defaultConfiguration": {"level": rule.level}, "properties": {"stricterThanRegistry": rule.stricter_than_registry},
    } for rule in RULES]
    results = [{
        "ruleId": f.rule.id, "ruleIndex": index[f.rule.id], "level": f.rule.level, "message": {"text": f.message},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": f.file, "uriBaseId": "%SRCROOT%"},
                                            "region": {"startLine": f.line}}}],
        "properties": {"subject": f.subject, "version": f.version, "field": f.field},
    } for f in findings(result)]
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "contracts review", "rules": rules}},
        "automationDetails": {"id": f"schema-review/{result.base_commit}"},
        "results": results,
    }]}
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def render_markdown(result: Review) -> str:
    """The review as Markdown, for a pull request; one line when nothing differs."""
    if not result.changed:
        return result.summary + "\n"
    lines = [f"# Schema review since `{result.base}` ({result.base_commit[:7]})", ""]
    registry = result.registry
    if registry.compared:
        lines.append(f"Registry: compared with {registry.url}.")
    elif registry.status == "unreachable":
        lines.append(f"Registry: **not reachable**: {registry.detail}; compared with `{result.base}` only.")
    else:
        lines.append(f"Registry: not consulted; compared with `{result.base}` only.")
    lines += ["", f"**{result.summary}**", ""]
    found = findings(result)
    if found:
        lines += ["## Findings", "", "| rule | subject | field | where | finding |", "|---|---|---|---|---|"]
        lines += [_finding_row(f) for f in found]
        lines.append("")
    if result.problems:
        lines += ["## Errors", ""]
        lines += [f"- **{p.kind}**: {_md(p.message)}" for p in result.problems]
        lines.append("")
    for subject in result.subjects:
        lines += _subject_markdown(result, subject)
    if result.granted or result.revoked:
        lines += ["## Who may do what (ACLs derived from the manifest)", ""]
        lines += [f"- granted: {_md(grant.describe())}" for grant in result.granted]
        lines += [f"- revoked: {_md(grant.describe())}" for grant in result.revoked]
        lines.append("")
    if result.removed_subjects:
        lines += ["## Subjects no longer in the manifest", ""]
        lines += [f"- `{name}` (its topic left `contracts/topics.toml`; the registry and the broker keep it)"
                  for name in result.removed_subjects]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _finding_row(finding: Finding) -> str:
    field = f"`{finding.field}`" if finding.field else "(the schema)"
    return (f"| {finding.rule.id} {finding.rule.name} | `{finding.subject}` v{finding.version} | {field} "
            f"| `{finding.file}:{finding.line}` | {_md(finding.message)} |")


def _subject_markdown(result: Review, subject: SubjectReview) -> list[str]:
    title = f"## `{subject.subject}`" + (" (new subject)" if subject.new_subject else "")
    lines = [title, ""]
    level = subject.compatibility
    if subject.previous_level:
        level += f" (was {subject.previous_level} at `{result.base}`)"
    consumers = ", ".join(f"`{c}`" for c in subject.consumers) or "none"
    lines += [
        f"- Topic: `{subject.topic}` (schemas in `contracts/schemas/{subject.family}/`)",
        f"- Compatibility level: {level}",
        f"- Services affected: producer `{subject.producer}`; consumers {consumers}",
    ]
    if subject.versions:
        lines.append("- Versions added: " + ", ".join(f"v{v.version} ({_origin(result, v)})" for v in subject.versions))
    elif subject.new_subject:
        lines.append("- New subject; every version is already registered")
    lines.append("")
    for note in subject.notes:
        lines += [f"Note: {_md(note)}.", ""]
    for problem in subject.problems:
        said = "edited after it was published" if problem.kind == EDITED else "deleted after it was published"
        where = f"`{result.base}`" if problem.against == "base" else "the registry"
        lines += [f"**Error: v{problem.version} (`{problem.path}`) was {said}** (compared with {where}).", ""]
        if problem.changes:
            lines += [f"What changed in the published v{problem.version}:", ""] + _changes_table(problem.changes) + [""]
    for version in subject.versions:
        lines += _version_markdown(subject, version)
    return lines


def _origin(result: Review, version: VersionReview) -> str:
    said = []
    if version.new_since_base:
        said.append(f"new since `{result.base}`")
    if version.registered is False:
        said.append("not yet registered")
    return ", ".join(said)


def _version_markdown(subject: SubjectReview, version: VersionReview) -> list[str]:
    lines = [f"### v{version.version} (`{version.path}`)", ""]
    if version.previous is None:
        return lines + ["First version: nothing to diff or to be compatible with.", ""]
    lines += [f"Changes from v{version.previous}:", ""]
    lines += (_changes_table(version.changes) if version.changes else ["No field-level difference."]) + [""]
    if version.previous == 1:
        heading = "Compatibility with v1:"
    else:
        heading = (f"Compatibility with the earlier versions (the transitive modes check v1..v{version.previous},"
                   f" the others v{version.previous}):")
    lines += [heading, "", "| mode | verdict |", "|---|---|"]
    for mode, verdict in version.verdicts.items():
        mark = " (this subject's level)" if mode == version.level else ""
        said = "compatible" if verdict.compatible else "**incompatible**"
        lines.append(f"| {mode}{mark} | {said}{f' ({STRICTER_NOTE})' if verdict.stricter_than_registry else ''} |")
    lines.append("")
    if version.breaks_level:
        lines.append(f"**Breaks the subject's level {version.level}.**")
    else:
        lines.append(f"Meets the subject's level {version.level}.")
    lines += ["", f"Rollout: **{version.rollout}**.", ""]
    reasons = _reasons(version.verdicts)
    if reasons:
        lines += ["Why:", "", "| rule | field | against | direction | problem | modes |", "|---|---|---|---|---|---|"]
        for reason, modes in reasons:
            rule, suggestion = rule_of(reason, version.changes)
            where = f"`{reason.field}`" if reason.field else f"(at `{reason.path}`)"
            stricter = f" ({STRICTER_NOTE})" if reason.stricter_than_registry else ""
            lines.append(f"| {rule.id} {rule.name} | {where} | v{reason.against} | {reason.direction} "
                         f"| {_md(reason.message + suggestion)}{stricter} | {', '.join(modes)} |")
        lines.append("")
    return lines


def _reasons(verdicts: Mapping[str, compat.Verdict]) -> list[tuple[compat.Reason, list[str]]]:
    """Each distinct reason once, with the modes that give it."""
    found: dict[compat.Reason, list[str]] = {}
    for mode, verdict in verdicts.items():
        for reason in verdict.reasons:
            found.setdefault(reason, []).append(mode)
    return list(found.items())


def _changes_table(changes: tuple[Change, ...]) -> list[str]:
    lines = ["| change | field | detail |", "|---|---|---|"]
    for change in changes:
        where = f"`{change.path}`" if change.path else "(the record itself)"
        lines.append(f"| {change.kind.replace('_', ' ')} | {where} | {_md(change.detail)} |")
    return lines


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


FORMATS: dict[str, Callable[[Review], str]] = {
    "markdown": render_markdown, "json": render_json, "github": render_github, "sarif": render_sarif,
}
