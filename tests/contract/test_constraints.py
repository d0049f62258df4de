"""Constraints declared once in the schemas, and every checker that derives from them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.constraints import ConstraintError, Constraints
from contracts.diff import field_diff
from contracts.manifest import ManifestError, load_manifest
from contracts.records import GENERATE_INVOICE
from tests.contract.strategies import from_schema

ROOT = Path(__file__).resolve().parents[2]
REQUEST = load_manifest().topic(GENERATE_INVOICE).value.latest


def record(field_type: Any, constraints: Any) -> dict[str, Any]:
    field = {"name": "value", "type": field_type, "doc": "A value.", "constraints": constraints}
    return {"type": "record", "name": "R", "doc": "One field.", "fields": [field]}


@pytest.mark.parametrize(
    ("field_type", "constraints", "error"),
    [
        ("string", {"maxItems": 3}, "value: maxItems is not a constraint of a string (it takes enum, maxLength, minLength,"),
        ("boolean", {"minimum": 0}, "value: a boolean takes no constraints"),
        ("string", {"maxLength": -1}, "value: maxLength must be a whole number of at least 0 (got -1)"),
        ("string", {"minLength": 5, "maxLength": 2}, "value: minLength 5 is larger than maxLength 2"),
        ("string", {"pattern": "("}, "value: pattern '(' is not a regular expression"),
        ("int", {"minimum": "many"}, "value: minimum must be a finite number (got 'many')"),
        (["string", "int"], {"maxLength": 3}, "value: constraints on a union of several types are not supported"),
        ("string", ["maxLength"], "value: constraints must be an object of JSON Schema keywords"),
    ],
)
def test_a_malformed_constraint_is_refused_naming_the_field(field_type: Any, constraints: Any, error: str) -> None:
    with pytest.raises(ConstraintError) as refused:
        Constraints.of(record(field_type, constraints))
    assert str(refused.value).startswith(error)


def test_the_manifest_refuses_a_schema_whose_constraints_are_malformed(tmp_path: Path) -> None:
    tree = _copy_contracts(tmp_path)
    _edit_request(tree, lambda schema: _field(schema, "items")["constraints"].update(maxItems="fifty"))
    with pytest.raises(ManifestError, match=rf"invoice_request/v{REQUEST.version}.avsc: items: maxItems must be a whole number"):
        load_manifest(tree / "contracts" / "topics.toml")


def test_each_keyword_has_its_own_message_and_an_optional_value_is_checked_when_present() -> None:
    schema = {"type": "record", "name": "R", "doc": "d", "fields": [
        {"name": "code", "type": ["null", "string"], "doc": "d", "constraints": {"pattern": "[A-Z]{3}", "minLength": 3}},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "doc": "d", "constraints": {"maxItems": 1}},
        {"name": "level", "type": "string", "doc": "d", "constraints": {"enum": ["LOW", "HIGH"]}},
        {"name": "rate", "type": {"type": "bytes", "logicalType": "decimal", "precision": 3, "scale": 2}, "doc": "d",
         "constraints": {"exclusiveMaximum": "1.5"}},
    ]}
    rules = Constraints.of(schema)
    assert rules.violations({"code": None, "tags": [], "level": "LOW", "rate": Decimal("1.49")}) == []
    found = rules.violations({"code": "ab", "tags": ["a", "b"], "level": "MID", "rate": Decimal("1.5")})
    assert [(v.path, v.message) for v in found] == [
        ("code", "must be at least 3 characters long (got 2)"),
        ("code", "must be matching [A-Z]{3}"),
        ("tags", "must have at most 1 items (got 2)"),
        ("level", "must be one of LOW, HIGH (got 'MID')"),
        ("rate", "must be less than 1.5 (got 1.5)"),
    ]
    assert rules["code"].json_schema() == {"pattern": "^(?:[A-Z]{3})$", "minLength": 3}
    assert rules["rate"].describe() == "less than 1.5"


def test_the_request_schema_declares_what_the_dashboard_and_the_generator_used_to_restate() -> None:
    declared = {path: rules.declared for path, rules in REQUEST.constraints.by_path.items()}
    assert declared["items"] == {"minItems": 1, "maxItems": 50}
    assert declared["customer.name"]["maxLength"] == 200
    assert declared["items[].quantity"] == {"exclusiveMinimum": 0}
    assert declared["items[].unit_price"] == {"minimum": 0}


@pytest.mark.parametrize("subject", [s for s in load_manifest().subjects if s.latest.constraints], ids=lambda s: s.name)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_generated_values_keep_every_constraint_their_schema_declares(subject: Any, data: st.DataObject) -> None:
    value = data.draw(from_schema(subject.latest.text))
    assert subject.latest.constraints.violations(value) == []


def _copy_contracts(tmp_path: Path) -> Path:
    """The project's packages in a scratch tree, so that its schemas can be edited without touching the real ones."""
    ignore = shutil.ignore_patterns("__pycache__")
    for package in ("contracts", "messaging", "services"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=ignore)
    (tmp_path / "tests" / "contract").mkdir(parents=True)
    for part in ("tests/__init__.py", "tests/contract/__init__.py", "tests/contract/strategies.py"):
        shutil.copy(ROOT / part, tmp_path / part)
    return tmp_path


def _field(record_schema: dict[str, Any], name: str) -> dict[str, Any]:
    return next(field for field in record_schema["fields"] if field["name"] == name)


def _edit_request(tree: Path, edit: Any) -> None:
    path = tree / "contracts" / "schemas" / "invoice_request" / f"v{REQUEST.version}.avsc"
    schema = json.loads(path.read_text())
    edit(schema)
    path.write_text(json.dumps(schema, indent=2))


FOLLOWERS = r"""
import json, warnings
from decimal import Decimal
from hypothesis import HealthCheck, find, settings
from hypothesis.errors import NoSuchExample
import contracts
from contracts.manifest import load_manifest
from contracts.records import GENERATE_INVOICE
from messaging.serde import Codec, ContractViolation, WriterSchemas
from services.dashboard import intake, openapi
from services.dashboard.rules import ContractRules
from services.invoice.billing import Rules, validate_request
from tests.contract.strategies import from_schema

item = {"description": "Audit", "quantity": "1", "unit_price": "2.00"}
body = {"customer": {"name": "ACME", "tax_id": "11.222.333/0001-81"}, "items": [item] * 4}
found = {"contracts": contracts.__file__}
rules = ContractRules.of(load_manifest())  # as the dashboard makes them from its runtime's manifest
try:
    intake.parse_invoice(body, rules)
except intake.InvalidInput as error:
    found["intake"] = [e.message for e in error.errors]
invoice_input = openapi.document(rules)["paths"]["/api/invoices"]["post"]["requestBody"]["content"]["application/json"]
found["openapi"] = invoice_input["schema"]["properties"]["items"]["maxItems"]
parsed = intake.parse_invoice({**body, "items": [item] * 3}, rules)
parsed["items"].append(parsed["items"][0])
found["generator"] = [p.message for p in validate_request(Rules.of(load_manifest()), parsed["customer"], parsed["items"])]

class Registry:  # a provisioned registry's answer for the one schema this needs
    def lookup(self, subject, text):
        return 1

topic = load_manifest().topic(GENERATE_INVOICE)
codec = Codec(topic.value, topic.value.latest, WriterSchemas(Registry()))
request = {"request_id": "0b7c1d7e-0000-4000-8000-000000000000", "user_id": "0b7c1d7e-0000-4000-8000-000000000001",
           "requested_at": 0, **parsed}
try:
    codec.encode(request)
except ContractViolation as error:
    found["outgoing"] = str(error)
try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        find(from_schema(topic.value.latest.text), lambda value: len(value["items"]) > 3,
             settings=settings(max_examples=300, suppress_health_check=list(HealthCheck)))
    found["strategies"] = "drew more than 3 items"
except NoSuchExample:
    found["strategies"] = "never more than 3 items"
print(json.dumps(found))
"""


def test_changing_one_limit_in_the_schema_changes_every_check_that_derives_from_it(tmp_path: Path) -> None:
    tree = _copy_contracts(tmp_path)
    _edit_request(tree, lambda schema: _field(schema, "items")["constraints"].update(maxItems=3))
    ran = subprocess.run([sys.executable, "-c", FOLLOWERS], cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin"},
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    found = json.loads(ran.stdout)
    assert found["contracts"].startswith(str(tree))  # the edited copy, not the project's own schemas
    assert found["intake"] == ["must have at most 3 items (got 4)"]
    assert found["openapi"] == 3
    assert found["generator"] == ["must have at most 3 items (got 4)"]
    assert found["outgoing"] == f"generate-invoice-value v{REQUEST.version}: items: must have at most 3 items (got 4)"
    assert found["strategies"] == "never more than 3 items"


def test_a_review_shows_an_invisible_character_of_a_pattern_escaped_never_as_itself() -> None:
    old = {"type": "record", "name": "Note", "fields": [{"name": "text", "type": "string", "doc": "A note.",
                                                          "constraints": {"pattern": "[^\\u0000-\\u001f]*"}}]}
    new = json.loads(json.dumps(old))
    new["fields"][0]["constraints"]["pattern"] = "[^\\u0000-\\u001f\u200b\U000e0001]*"  # the characters themselves
    [change] = field_diff(old, new)
    assert "\\u200b" in change.detail and "\\udb40\\udc01" in change.detail
    assert all(char.isprintable() for char in change.detail), change.detail
