"""What the dashboard accepts before anything is sent to Kafka."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.dashboard.intake import InvalidInput, parse_credentials, parse_invoice

VALID = {"customer": {"name": "ACME", "tax_id": "11.222.333/0001-81"},
         "items": [{"description": "Audit", "quantity": "1.5", "unit_price": Decimal("10")}]}


def fields(data: object) -> set[str]:
    with pytest.raises(InvalidInput) as invalid:
        parse_invoice(data)
    return {error.field for error in invalid.value.errors}


def test_amounts_are_brought_to_the_contracts_scale() -> None:
    parsed = parse_invoice(VALID)
    item = parsed["items"][0]
    assert item["quantity"] == Decimal("1.500") and str(item["quantity"]) == "1.500"
    assert str(item["unit_price"]) == "10.00"


def test_business_rules_are_left_to_the_generator() -> None:
    # A negative quantity and a bad CNPJ encode fine; the generator rejects them with reasons.
    parse_invoice({"customer": {"name": "x", "tax_id": "1"}, "items": [{"description": "a", "quantity": "-1", "unit_price": "0"}]})


def test_every_structural_problem_is_named() -> None:
    assert fields([]) == {"body"}
    assert fields({"customer": "x", "items": {}}) == {"customer", "items"}
    assert fields({**VALID, "extra": 1}) == {"extra"}
    bad_item = {"description": 3, "quantity": "1.0001", "unit_price": "ten"}
    assert fields({**VALID, "items": [bad_item]}) == {"items[0].description", "items[0].quantity", "items[0].unit_price"}
    assert fields({**VALID, "items": [{"description": "a", "quantity": 1.5, "unit_price": "1"}]}) == {"items[0].quantity"}
    assert fields({**VALID, "items": [{"description": "a", "quantity": "1e12", "unit_price": "1"}]}) == {"items[0].quantity"}
    assert fields({**VALID, "items": [{"description": "a", "quantity": "NaN", "unit_price": "1"}]}) == {"items[0].quantity"}
    assert fields({**VALID, "items": [dict(VALID["items"][0])] * 51}) == {"items"}
    assert fields({**VALID, "customer": {"name": "x" * 201, "tax_id": "1"}}) == {"customer.name"}


def test_credentials_need_an_email_and_eight_characters() -> None:
    assert parse_credentials({"email": " Ana@Example.com ", "password": "12345678"}) == ("ana@example.com", "12345678")
    for bad in ({"email": "nope", "password": "12345678"}, {"email": "a@b.c", "password": "short"}, {"email": 1}):
        with pytest.raises(InvalidInput):
            parse_credentials(bad)


def test_huge_numbers_and_broken_text_are_refused_not_crashed_on() -> None:
    assert fields({**VALID, "items": [{"description": "a", "quantity": "6290000.3052053553712312275", "unit_price": "1"}]}) == {"items[0].quantity"}
    assert fields({**VALID, "items": [{"description": "a", "quantity": "1" * 40, "unit_price": "1"}]}) == {"items[0].quantity"}
    assert fields({**VALID, "customer": {"name": "\ud972", "tax_id": "1"}}) == {"customer.name"}
