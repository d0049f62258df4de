"""What the dashboard accepts before anything is sent to Kafka."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from contracts.manifest import load_manifest
from services.dashboard import intake
from services.dashboard.formatting import LOCALES
from services.dashboard.intake import (
    InvalidInput,
    form_fields,
    invoice_form_values,
    parse_idempotency_key,
    parse_log_in,
    parse_sign_up,
)
from services.dashboard.rules import ContractRules
from services.dashboard.written import WrittenNumbers

RULES = ContractRules.of(load_manifest())  # as the app makes them from its runtime's manifest


def parse_invoice(data: Any) -> dict[str, Any]:
    return intake.parse_invoice(data, RULES)


def parse_invoice_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return intake.parse_invoice_form(pairs, RULES, WrittenNumbers(LOCALES["en_US"]).read)


ITEM = {"description": "Audit", "quantity": "1.5", "unit_price": "10"}
VALID: dict[str, Any] = {"customer": {"name": "ACME", "tax_id": "11.222.333/0001-81"}, "items": [ITEM]}


def fields(data: object) -> set[str]:
    with pytest.raises(InvalidInput) as invalid:
        parse_invoice(data)
    return {error.field for error in invalid.value.errors}


def with_item(**changes: object) -> dict[str, object]:
    return {**VALID, "items": [{**ITEM, **changes}]}


def test_amounts_are_brought_to_the_contracts_scale() -> None:
    item = parse_invoice(VALID)["items"][0]
    assert item["quantity"] == Decimal("1.500") and str(item["quantity"]) == "1.500"
    assert str(item["unit_price"]) == "10.00"


def test_business_rules_are_left_to_the_generator() -> None:
    # A blank name and a bad CNPJ break no constraint of the schema: the generator rejects them with reasons.
    parse_invoice({"customer": {"name": " ", "tax_id": "1"},
                   "items": [{"description": "a", "quantity": "1", "unit_price": "0"}]})


def test_the_constraints_the_schema_declares_are_checked_before_anything_is_sent() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_invoice({"customer": {"name": "x", "tax_id": "1#"},
                       "items": [{"description": "a", "quantity": "-1", "unit_price": "0"}]})
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("customer.tax_id", "must be digits, letters, dots, slashes, dashes and spaces (found U+0023)"),
        ("items[0].quantity", "must be greater than 0 (got -1.000)"),
    ]
    assert fields({**VALID, "items": []}) == {"items"}


def test_every_structural_problem_is_named() -> None:
    assert fields([]) == {"body"}
    assert fields({"customer": "x", "items": {}}) == {"customer", "items"}
    assert fields({**VALID, "items": [{"description": 3, "quantity": "1.0001", "unit_price": "ten"}]}) == {
        "items[0].description", "items[0].quantity", "items[0].unit_price"}
    assert fields({**VALID, "items": [dict(ITEM)] * 51}) == {"items"}
    assert fields({**VALID, "customer": {"name": "x" * 201, "tax_id": "1"}}) == {"customer.name"}


def test_an_unknown_field_is_refused_at_every_level_by_name() -> None:
    assert fields({**VALID, "extra": 1}) == {"extra"}
    assert fields({**VALID, "customer": {**VALID["customer"], "email": "a@b.co"}}) == {"customer.email"}
    assert fields(with_item(discount="1")) == {"items[0].discount"}


def test_an_amount_must_be_a_string_since_a_json_number_may_have_been_a_float() -> None:
    assert fields(with_item(quantity=1)) == {"items[0].quantity"}
    assert fields(with_item(unit_price=Decimal("1.5"))) == {"items[0].unit_price"}


def test_an_amount_that_would_need_rounding_is_refused_however_many_digits() -> None:
    # Before: rounded to 28 significant digits first, so this was taken as 0.01.
    assert fields(with_item(unit_price="0.0099999999999999999999999999999")) == {"items[0].unit_price"}
    assert fields(with_item(quantity="6290000.3052053553712312275")) == {"items[0].quantity"}
    assert fields(with_item(quantity="1" * 40)) == {"items[0].quantity"}


@pytest.mark.parametrize("written", ["1e2", "1_000", "+5", "1,000", "1,5", " 1", "1 ", "١٢", "１２", "NaN", ".5", "5.",
                                     ""])
def test_an_amount_written_any_other_way_than_the_pattern_is_refused(written: str) -> None:
    assert fields(with_item(quantity=written)) == {"items[0].quantity"}


def test_control_characters_and_invisible_format_characters_are_refused_in_text() -> None:
    assert fields({**VALID, "customer": {"name": "ACME\x00", "tax_id": "1"}}) == {"customer.name"}
    assert fields(with_item(description="Audit \u202eTXT.exe")) == {"items[0].description"}
    for hidden in ("\u200b", "\u200d", "\u2028", "\u2029", "\ufeff", "\u00ad", "\u2060", "\U000e0041"):
        assert fields({**VALID, "customer": {"name": f"ACME{hidden}", "tax_id": "1"}}) == {"customer.name"}, hidden
    with pytest.raises(InvalidInput) as zero_width:
        parse_invoice(with_item(description="Audit\u200b"))
    assert [e.message for e in zero_width.value.errors] == [
        "must be one line of visible text: no control characters, line or paragraph separators, or invisible format"
        " characters (zero-width and directional marks, soft hyphens, byte order marks, tags) (found U+200B)"]
    assert fields({**VALID, "customer": {"name": "\ud972", "tax_id": "1"}}) == {"customer.name"}
    parse_invoice(with_item(description="Consultoria ✓ 😀 عربى"))  # other text, other scripts: fine


def test_the_form_is_read_without_truncating_rows_or_dropping_fields() -> None:
    row = [("description", "Audit"), ("quantity", "1"), ("unit_price", "2.50")]
    head = [("csrf_token", "t"), ("customer_name", "ACME"), ("customer_tax_id", "1")]
    assert parse_invoice_form(head + row + [("description", ""), ("quantity", ""), ("unit_price", "")])["items"] == [
        {"description": "Audit", "quantity": Decimal("1.000"), "unit_price": Decimal("2.50")}]
    with pytest.raises(InvalidInput) as ragged:
        parse_invoice_form(head + row + [("description", "Extra")])
    assert "items" in {error.field for error in ragged.value.errors}
    assert invoice_form_values(head + row + [("description", "Extra")])["items"][1] == {
        "description": "Extra", "quantity": "", "unit_price": ""}
    with pytest.raises(InvalidInput) as unknown:
        parse_invoice_form(head + row + [("notes", "x"), ("customer_name", "Other")])
    assert {(e.field, e.message) for e in unknown.value.errors} == {
        ("notes", "is not a known field"), ("customer_name", "was sent more than once")}


def test_a_form_of_single_fields_refuses_unknown_and_repeated_ones() -> None:
    assert form_fields([("a", "1"), ("b", "2")], {"a", "b", "c"}) == {"a": "1", "b": "2"}
    for pairs in ([("a", "1"), ("z", "2")], [("a", "1"), ("a", "2")]):
        with pytest.raises(InvalidInput):
            form_fields(pairs, {"a"})


PASSWORD = "violet kettle on the stairs"


def test_sign_up_needs_an_email_address_and_a_password_the_rules_accept() -> None:
    assert parse_sign_up({"email": "Ana@Example.com", "password": PASSWORD}) == ("ana@example.com", PASSWORD)
    assert parse_sign_up({"email": "o'brien+tag@mail.xn--p1ai", "password": PASSWORD})[0] == "o'brien+tag@mail.xn--p1ai"
    bad_bodies: list[Any] = [
        {"email": "nope", "password": PASSWORD}, {"email": "a@b", "password": PASSWORD},
        {"email": " a@b.co", "password": PASSWORD}, {"email": "a@b.co", "password": "fourteen chars"},
        {"email": "a@b.co", "password": "password1234567"}, {"email": "a@b.co", "password": "x" * 201},
        {"email": "a@b.co", "password": PASSWORD, "admin": True}, {"email": 1}, []]
    for bad in bad_bodies:
        with pytest.raises(InvalidInput):
            parse_sign_up(bad)


def test_a_refused_password_is_told_why_together_with_the_other_fields() -> None:
    with pytest.raises(InvalidInput) as invalid:
        parse_sign_up({"email": "not an address", "password": "12345678"})
    assert [(e.field, e.message.split(" (")[0].split(":")[0]) for e in invalid.value.errors] == [
        ("email", "is not an email address like name@example.com"),
        ("password", "must be at least 15 characters"),
        ("password", "is one of the most common passwords"),
    ]
    with pytest.raises(InvalidInput) as invalid:
        parse_sign_up({"email": "ana.souza@example.com", "password": "Ana.Souza@Example.com"})
    assert [(e.field, e.message) for e in invalid.value.errors] == [
        ("password", "must not be built from your email address: choose another")]


def test_log_in_only_checks_types_so_older_accounts_can_still_sign_in() -> None:
    assert parse_log_in({"email": "Old@Localhost", "password": "x"}) == ("old@localhost", "x")
    with pytest.raises(InvalidInput):
        parse_log_in({"email": "a@b.co", "password": "x", "remember": True})


def test_an_idempotency_key_is_visible_ascii() -> None:
    assert parse_idempotency_key(None, "k") is None
    assert parse_idempotency_key("3f2c-ab:1", "k") == "3f2c-ab:1"
    for bad in ("", "a b", "x" * 256, "clé"):
        with pytest.raises(InvalidInput) as invalid:
            parse_idempotency_key(bad, "Idempotency-Key")
        assert invalid.value.errors[0].field == "Idempotency-Key"
