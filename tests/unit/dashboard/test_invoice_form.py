"""The invoice form reads amounts as its locale writes them, and reports every problem of a form at once, each by
its field's label, in the fields' order: the schema's constraints and the invoice generator's own rules."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from contracts.manifest import load_manifest
from services.dashboard.formatting import LOCALES
from services.dashboard.intake import InvalidInput
from services.dashboard.invoice_form import InvoiceForm, label
from services.dashboard.rules import ContractRules
from services.dashboard.written import WrittenNumbers

RULES = ContractRules.of(load_manifest())
BRAZIL, US = WrittenNumbers(LOCALES["pt_BR"]), WrittenNumbers(LOCALES["en_US"])


@pytest.mark.parametrize(("text", "value"), [
    ("150,50", "150.50"), ("1.234,56", "1234.56"), ("1234,56", "1234.56"), ("1.234.567", "1234567.00"),
    ("12", "12.00"), ("0,5", "0.50"), (" 7,25 ", "7.25"), ("-3,5", "-3.50"), ("1,50000", "1.50"),
])
def test_pt_br_amounts_mean_what_a_brazilian_means(text: str, value: str) -> None:
    assert BRAZIL.read(text, RULES.unit_price) == Decimal(value)
    assert str(BRAZIL.read(text, RULES.unit_price)) == value  # at the schema's scale


@pytest.mark.parametrize(("text", "value"), [("150.50", "150.50"), ("1,234.56", "1234.56"), ("1,234,567", "1234567.00")])
def test_en_us_amounts_are_read_the_other_way_round(text: str, value: str) -> None:
    assert US.read(text, RULES.unit_price) == Decimal(value)


def test_an_amount_with_one_group_and_no_fraction_is_refused_as_ambiguous_with_how_to_write_it() -> None:
    with pytest.raises(ValueError) as brazil:
        BRAZIL.read("1.234", RULES.unit_price)
    assert str(brazil.value) == ('"1.234" could be a whole number or a fraction: write 1234 or 1.234,00 for the whole'
                                 ' number, or a fraction with at most 2 digits after the ","')
    with pytest.raises(ValueError, match='"1,234" could be a whole number'):
        US.read("1,234", RULES.unit_price)


@pytest.mark.parametrize(("text", "message"), [
    ("12.50", "must be a number written like 1.234,56"),  # the other locale's decimal point
    ("1.23,4", "must be a number written like 1.234,56"),  # a group of two
    ("1 234,56", "must be a number written like 1.234,56"),
    ("abc", "must be a number written like 1.234,56"),
    ("١٢", "must be a number written like 1.234,56"),  # other scripts' digits
    ("10,555", 'has more than 2 digits after the ","'),
    ("1" * 13, 'is too large: at most 12 digits before the ","'),
])
def test_what_is_not_written_as_the_locale_writes_it_is_refused_saying_why(text: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        BRAZIL.read(text, RULES.unit_price)
    assert str(refused.value) == message


def test_the_grammar_is_one_regular_expression_the_page_script_can_use_too() -> None:
    # The same text in ECMA 262 (the page's script): only constructs both dialects read the same way.
    for numbers in (BRAZIL, US):
        assert not re.search(r"\(\?P|\\[AZzdDwWsS]", numbers.pattern + numbers.ambiguous)


FORM = InvoiceForm.of(load_manifest(), RULES, LOCALES["pt_BR"])


def _pairs(name: str, tax_id: str, *rows: tuple[str, str, str]) -> list[tuple[str, str]]:
    pairs = [("csrf_token", "t"), ("idempotency_key", "k"), ("customer_name", name), ("customer_tax_id", tax_id)]
    for description, quantity, price in rows:
        pairs += [("description", description), ("quantity", quantity), ("unit_price", price)]
    return pairs


def test_a_valid_form_gives_the_request_with_exact_amounts() -> None:
    fields = FORM.read(_pairs("ACME", "11.222.333/0001-81", ("Audit", "2,5", "1.234,56")))
    assert fields["items"] == [{"description": "Audit", "quantity": Decimal("2.500"), "unit_price": Decimal("1234.56")}]


def test_every_problem_is_reported_at_once_in_the_fields_order_the_generators_rules_included() -> None:
    with pytest.raises(InvalidInput) as invalid:
        FORM.read(_pairs("ACME", "123.456.789-00", ("Audit", "1", "10,555"), (" ", "0,5", "abc")))
    assert [(e.field, e.message) for e in invalid.value.errors] == [
        ("customer.tax_id", "is not a valid CPF: wrong check digits"),  # the generator's rule
        ("items[0].unit_price", 'has more than 2 digits after the ","'),
        ("items[1].description", "must not be blank"),  # the generator's rule too
        ("items[1].unit_price", "must be a number written like 1.234,56"),
    ]


def test_labels_are_the_pages_own() -> None:
    assert [label(f) for f in ("customer.name", "customer.tax_id", "items", "items[0].unit_price", "items[11].quantity")] == [
        "Name", "CPF or CNPJ", "Services", "Unit price, service 1", "Quantity, service 12"]
