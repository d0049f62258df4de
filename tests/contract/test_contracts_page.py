"""The dashboard's Contracts page marks what `contracts compat` refuses in a published version although the registry
accepted it, with the review's rule id and the reason (services/dashboard/pages.py, templates/contracts.html)."""

from __future__ import annotations

import json
from pathlib import Path

from jinja2 import ChainableUndefined

from contracts.compat import STRICTER_NOTE
from contracts.manifest import SchemaVersion, Subject, load_manifest
from services.dashboard.pages import _history, templates

ROOT = Path(__file__).resolve().parents[2]


def subject_with(tmp_path: Path, *documents: dict) -> Subject:
    versions = []
    for number, document in enumerate(documents, start=1):
        path = tmp_path / f"v{number}.avsc"
        path.write_text(json.dumps(document, indent=2))
        versions.append(SchemaVersion(number, path, path.read_text()))
    return Subject("generate-invoice-value", "invoice_request", "FULL_TRANSITIVE", tuple(versions))


def page(subject: Subject) -> str:
    """The Contracts page's topic section for one subject (what the rest of the page needs renders empty)."""
    entry = {"topic": {"name": "generate-invoice"}, "subjects": [
        {"name": subject.name, "family": subject.family, "expected_level": subject.compatibility,
         "history": _history(subject)}]}
    template = templates.env.overlay(undefined=ChainableUndefined).get_template("contracts.html")
    return template.render(topics=[entry])


def test_a_version_published_with_a_timestamp_in_another_unit_is_marked_with_the_reason(tmp_path: Path) -> None:
    v1 = json.loads((ROOT / "contracts/schemas/invoice_request/v1.avsc").read_text())
    v2 = json.loads(json.dumps(v1))
    next(f for f in v2["fields"] if f["name"] == "requested_at")["type"]["logicalType"] = "timestamp-micros"
    subject = subject_with(tmp_path, v1, v2)

    (step,) = _history(subject)

    assert (step["from"], step["to"]) == (1, 2)
    assert {(r.field, r.kind) for r in step["stricter"]} == {("requested_at", "LOGICAL_TYPE_CHANGED")}
    html = page(subject)
    assert f"Refused under FULL_TRANSITIVE by <code>contracts compat</code> ({STRICTER_NOTE})" in html
    assert ("<code>requested_at</code> CONTRACT103 logical-type-changed (LOGICAL_TYPE_CHANGED), new reads old against v1:"
            in html)
    assert "read as long timestamp-micros (microseconds since 1970-01-01T00:00Z)" in html


def test_the_published_contracts_carry_no_mark() -> None:
    for subject in load_manifest().subjects:
        assert all(step["stricter"] == [] for step in _history(subject)), subject.name
        assert "Refused under" not in page(subject)


def test_the_page_shows_the_constraints_the_latest_version_declares() -> None:
    subject = next(s for s in load_manifest().subjects if s.family == "invoice_request")
    entry = {"topic": {"name": "generate-invoice"}, "subjects": [
        {"name": subject.name, "family": subject.family, "published": [v.version for v in subject.versions],
         "history": [], "constraints": subject.latest.constraints.by_path.values()}]}
    html = templates.env.overlay(undefined=ChainableUndefined).get_template("contracts.html").render(topics=[entry])
    assert f"Constraints declared in <code>{subject.name}</code> v{subject.latest.version}" in html
    assert "<tr><td><code>items</code></td><td>at least 1 item; at most 50 items</td>" in html
    assert "<td><code>items[].quantity</code></td><td>greater than 0</td>" in html
