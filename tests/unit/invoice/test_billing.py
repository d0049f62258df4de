"""Unit tests for services.invoice.billing: tax ids, validation, invoice arithmetic, ISS rate."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.manifest import load_manifest
from contracts.records import GENERATE_INVOICE
from services.invoice.billing import (
    Problem,
    Rules,
    compute_totals,
    digits_of,
    is_valid_cnpj,
    is_valid_cpf,
    parse_iss_rate,
    validate_request,
)

# The limits the request's schema declares (contracts/schemas/invoice_request): the generator checks those.
REQUEST = load_manifest().topic(GENERATE_INVOICE).value.latest.constraints
RULES = Rules.of(load_manifest())
MAX_ITEMS = REQUEST["items"].max_items
MAX_NAME_LENGTH = REQUEST["customer.name"].max_length
MAX_DESCRIPTION_LENGTH = REQUEST["items[].description"].max_length

CPF_WEIGHTS = range(10, 1, -1)
CNPJ_WEIGHTS = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)


def reference_check_digit(digits: str, weights) -> str:
    # The textbook form "sum * 10 mod 11, and 10 becomes 0", written independently of the module's.
    return str(sum(int(d) * w for d, w in zip(digits, weights, strict=False)) * 10 % 11 % 10)


def with_check_digits(body: str, weights) -> str:
    first = reference_check_digit(body, weights)
    return body + first + reference_check_digit(body + first, (weights[0] + 1, *weights))


def not_all_same(digits: str) -> bool:
    return len(set(digits)) > 1


valid_cpfs = st.text("0123456789", min_size=9, max_size=9).filter(not_all_same).map(
    lambda body: with_check_digits(body, CPF_WEIGHTS)
)
valid_cnpjs = st.text("0123456789", min_size=12, max_size=12).filter(not_all_same).map(
    lambda body: with_check_digits(body, CNPJ_WEIGHTS)
)


def change_digit(digits: str, position: int, shift: int) -> str:
    return digits[:position] + str((int(digits[position]) + shift) % 10) + digits[position + 1 :]


def item(description: str = "Consulting", quantity: str = "1", unit_price: str = "100.00") -> dict:
    return {"description": description, "quantity": Decimal(quantity), "unit_price": Decimal(unit_price)}


CUSTOMER = {"name": "Padaria Pão Quente Ltda", "tax_id": "11.222.333/0001-81"}


def fields(problems: list[Problem]) -> list[str]:
    return [problem.field for problem in problems]


# --- CPF and CNPJ -----------------------------------------------------------------------------


def test_digits_of_strips_the_usual_punctuation() -> None:
    assert digits_of("529.982.247-25") == "52998224725"
    assert digits_of("11.222.333/0001-81") == "11222333000181"
    assert digits_of(" 529 982 247 25 ") == "52998224725"


def test_digits_of_keeps_other_characters_for_validation_to_reject() -> None:
    assert digits_of("529.982.247-2X") == "5299822472X"


@pytest.mark.parametrize("cpf", ["52998224725", "11144477735", "70499962206", "80499962206", "00000000191"])
def test_known_cpf_is_valid(cpf: str) -> None:
    assert is_valid_cpf(cpf)


@pytest.mark.parametrize("cnpj", ["11222333000181", "11444777000161", "00000000000191"])
def test_known_cnpj_is_valid(cnpj: str) -> None:
    assert is_valid_cnpj(cnpj)


@pytest.mark.parametrize("cpf", ["52998224724", "52998224715", "11144477736"])
def test_cpf_with_wrong_check_digit_is_invalid(cpf: str) -> None:
    assert not is_valid_cpf(cpf)


@pytest.mark.parametrize("cnpj", ["11222333000182", "11222333000191", "11444777000160"])
def test_cnpj_with_wrong_check_digit_is_invalid(cnpj: str) -> None:
    assert not is_valid_cnpj(cnpj)


@pytest.mark.parametrize("digit", "0123456789")
def test_cpf_and_cnpj_of_one_repeated_digit_are_invalid(digit: str) -> None:
    assert not is_valid_cpf(digit * 11)
    assert not is_valid_cnpj(digit * 14)


@pytest.mark.parametrize(
    "digits",
    [
        "",
        "5299822472",  # 10 digits
        "529982247250",  # 12 digits
        "11222333000181",  # a valid CNPJ is not a CPF
        "529.982.247-25",  # punctuation is digits_of's job
        "5299822472A",
        "٥٢٩٩٨٢٢٤٧٢٥",  # Arabic-Indic digits: str.isdigit() accepts them, a CPF does not
    ],
)
def test_cpf_that_is_not_eleven_ascii_digits_is_invalid(digits: str) -> None:
    assert not is_valid_cpf(digits)


@pytest.mark.parametrize("digits", ["", "1122233300018", "112223330001811", "52998224725", "1122233300018A"])
def test_cnpj_that_is_not_fourteen_ascii_digits_is_invalid(digits: str) -> None:
    assert not is_valid_cnpj(digits)


@given(valid_cpfs)
def test_cpf_with_computed_check_digits_is_valid(cpf: str) -> None:
    assert is_valid_cpf(cpf)


@given(valid_cnpjs)
def test_cnpj_with_computed_check_digits_is_valid(cnpj: str) -> None:
    assert is_valid_cnpj(cnpj)


@given(valid_cpfs, st.integers(0, 10), st.integers(1, 9))
def test_cpf_with_one_digit_changed_is_invalid_unless_first_check_digit_is_zero(
    cpf: str, position: int, shift: int
) -> None:
    # Mod 11 maps remainders 0 and 1 both to check digit 0, so when that digit is 0 a changed body
    # digit can land on another valid CPF (see the test below); otherwise every change is caught.
    changed = change_digit(cpf, position, shift)
    assert not is_valid_cpf(changed) or (position < 9 and cpf[9] == "0")


@given(valid_cnpjs, st.integers(0, 13), st.integers(1, 9))
def test_cnpj_with_one_digit_changed_is_invalid_unless_first_check_digit_is_zero(
    cnpj: str, position: int, shift: int
) -> None:
    changed = change_digit(cnpj, position, shift)
    assert not is_valid_cnpj(changed) or (position < 12 and cnpj[12] == "0")


@given(valid_cpfs, st.integers(9, 10), st.integers(1, 9))
def test_cpf_with_a_check_digit_changed_is_invalid(cpf: str, position: int, shift: int) -> None:
    assert not is_valid_cpf(change_digit(cpf, position, shift))


@given(valid_cnpjs, st.integers(12, 13), st.integers(1, 9))
def test_cnpj_with_a_check_digit_changed_is_invalid(cnpj: str, position: int, shift: int) -> None:
    assert not is_valid_cnpj(change_digit(cnpj, position, shift))


def test_one_changed_digit_can_give_another_valid_cpf_when_check_digit_is_zero() -> None:
    # Documents the limit of the mod-11 scheme itself, not a bug: both numbers are valid CPFs.
    assert change_digit("70499962206", 0, 1) == "80499962206"
    assert is_valid_cpf("70499962206") and is_valid_cpf("80499962206")


# --- validate_request -------------------------------------------------------------------------


def test_valid_request_has_no_problems() -> None:
    assert validate_request(RULES, CUSTOMER, [item(), item("Support", "2.5", "80.00")]) == []


@pytest.mark.parametrize("tax_id", ["529.982.247-25", "52998224725", "11.222.333/0001-81", "11222333000181"])
def test_valid_cpf_or_cnpj_with_or_without_punctuation_is_accepted(tax_id: str) -> None:
    assert validate_request(RULES, {"name": "Maria", "tax_id": tax_id}, [item()]) == []


def test_request_reports_every_problem_at_once_with_field_paths() -> None:
    customer = {"name": "  ", "tax_id": "529.982.247-24"}
    items = [
        item(),
        item("", "0", "-1"),
        {"description": None, "quantity": 1.5, "unit_price": "10"},
        item("Training", "1.0001", "10.001"),
    ]
    problems = validate_request(RULES, customer, items)
    assert problems == [
        Problem("customer.name", "must not be blank"),
        Problem("customer.tax_id", "is not a valid CPF: wrong check digits"),
        Problem("items[1].description", "must not be blank"),
        Problem("items[1].quantity", "must be greater than 0 (got 0)"),
        Problem("items[1].unit_price", "must be at least 0 (got -1)"),
        Problem("items[2].description", "must be text (got NoneType)"),
        Problem("items[2].quantity", "must be a decimal number (got float)"),
        Problem("items[2].unit_price", "must be a decimal number (got str)"),
        Problem("items[3].quantity", "must have at most 3 decimal places (got 1.0001)"),
        Problem("items[3].unit_price", "must have at most 2 decimal places (got 10.001)"),
    ]


def test_one_field_can_have_several_problems() -> None:
    problems = validate_request(RULES, CUSTOMER, [item(quantity="-1000000000.0001")])
    assert problems == [
        Problem("items[0].quantity", "must be greater than 0 (got -1000000000.0001)"),
        Problem("items[0].quantity", "must have at most 3 decimal places (got -1000000000.0001)"),
        Problem("items[0].quantity", "must be at least -999999999.999 (got -1000000000.0001)"),
    ]


@pytest.mark.parametrize(
    ("tax_id", "message"),
    [
        ("", "must not be blank"),
        (" ./- ", "must not be blank"),
        ("529.982.247-2X", "must contain only digits (a CNPJ also capital letters before its 2 check digits),"
                           " dots, slashes, dashes and spaces"),
        ("5299822472", "must have 11 digits (CPF) or 14 characters (CNPJ) (got 10)"),
        ("111.111.111-11", "is not a valid CPF: all digits are the same"),
        ("529.982.247-52", "is not a valid CPF: wrong check digits"),
        ("00.000.000/0000-00", "is not a valid CNPJ: all digits are the same"),
        ("11.222.333/0001-18", "is not a valid CNPJ: wrong check digits"),
        (None, "must be text (got NoneType)"),
    ],
)
def test_invalid_tax_id_says_what_is_wrong(tax_id: object, message: str) -> None:
    assert validate_request(RULES, {"name": "Maria", "tax_id": tax_id}, [item()]) == [Problem("customer.tax_id", message)]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2, "must be a decimal number (got int)"),
        (True, "must be a decimal number (got bool)"),
        (None, "must be a decimal number (got NoneType)"),
        (Decimal("NaN"), "must be a finite number (got NaN)"),
        (Decimal("sNaN"), "must be a finite number (got sNaN)"),
        (Decimal("Infinity"), "must be a finite number (got Infinity)"),
        (Decimal("-Infinity"), "must be a finite number (got -Infinity)"),
    ],
)
def test_non_decimal_or_non_finite_number_is_a_problem_not_an_exception(value: object, message: str) -> None:
    quantity = {"description": "Consulting", "quantity": value, "unit_price": Decimal("1.00")}
    price = {"description": "Consulting", "quantity": Decimal("1"), "unit_price": value}
    assert validate_request(RULES, CUSTOMER, [quantity, price]) == [
        Problem("items[0].quantity", message),
        Problem("items[1].unit_price", message),
    ]


def test_missing_item_fields_are_problems_not_exceptions() -> None:
    assert fields(validate_request(RULES, {}, [{}])) == [
        "customer.name",
        "customer.tax_id",
        "items[0].description",
        "items[0].quantity",
        "items[0].unit_price",
    ]


def test_request_without_items_is_a_problem() -> None:
    assert validate_request(RULES, CUSTOMER, []) == [Problem("items", "must have at least 1 item (got 0)")]


def test_item_count_is_limited() -> None:
    assert validate_request(RULES, CUSTOMER, [item()] * MAX_ITEMS) == []
    assert validate_request(RULES, CUSTOMER, [item()] * (MAX_ITEMS + 1)) == [
        Problem("items", f"must have at most {MAX_ITEMS} items (got {MAX_ITEMS + 1})")
    ]


def test_name_and_description_lengths_are_limited() -> None:
    assert validate_request(RULES, {**CUSTOMER, "name": "n" * MAX_NAME_LENGTH}, [item("d" * MAX_DESCRIPTION_LENGTH)]) == []
    problems = validate_request(RULES, {**CUSTOMER, "name": "n" * (MAX_NAME_LENGTH + 1)}, [item("d" * 201)])
    assert problems == [
        Problem("customer.name", f"must be at most {MAX_NAME_LENGTH} characters long (got {MAX_NAME_LENGTH + 1})"),
        Problem("items[0].description", f"must be at most {MAX_DESCRIPTION_LENGTH} characters long (got 201)"),
    ]


def test_the_generator_refuses_invisible_format_characters_as_the_dashboard_does() -> None:
    # A record from another producer (or one written under invoice_request v2, which allowed them) is read with the
    # newest version's constraints: zero-width characters, separators and tags never reach an invoice.
    problems = validate_request(RULES, {**CUSTOMER, "name": "ACME\u200b"}, [item("Audit\u2028hidden")])
    assert [(p.field, p.message.rsplit(" (found ", 1)[1]) for p in problems] == [
        ("customer.name", "U+200B)"), ("items[0].description", "U+2028)")]
    assert validate_request(RULES, {**CUSTOMER, "name": "Zoë Ltda 🎉"}, [item("Consultoria ✓ عربى")]) == []


def test_quantity_and_unit_price_are_limited_to_their_avro_decimal_types() -> None:
    assert validate_request(RULES, CUSTOMER, [item(quantity="999999999.999", unit_price="0.01")]) == []
    assert validate_request(RULES, CUSTOMER, [item(quantity="1", unit_price="999999999999.99")]) == []
    assert validate_request(RULES, CUSTOMER, [item(quantity="1000000000", unit_price="0.01")]) == [
        Problem("items[0].quantity", "must be at most 999999999.999 (got 1000000000)")
    ]
    assert validate_request(RULES, CUSTOMER, [item(quantity="1", unit_price="1000000000000.00")]) == [
        Problem("items[0].unit_price", "must be at most 999999999999.99 (got 1000000000000.00)")
    ]


def test_trailing_zeros_do_not_count_as_decimal_places() -> None:
    assert validate_request(RULES, CUSTOMER, [item(quantity="1.50000", unit_price="2.5000")]) == []


def test_free_item_is_valid() -> None:
    assert validate_request(RULES, CUSTOMER, [item(unit_price="0.00")]) == []


def test_invoice_total_that_could_not_fit_with_iss_is_a_problem() -> None:
    # The total must fit decimal(16, 2) even at the highest accepted ISS rate, 100%.
    largest = [
        item(quantity="49", unit_price="999999999999.99"),
        item(unit_price="999999999999.99"),
        item(unit_price="0.49"),
    ]
    assert validate_request(RULES, CUSTOMER, largest) == []
    assert compute_totals(RULES, largest, parse_iss_rate("1")).total == Decimal("99999999999999.98")
    too_large = [*largest[:2], item(unit_price="0.50")]
    assert validate_request(RULES, CUSTOMER, too_large) == [
        Problem("items", "invoice total too large (subtotal 50000000000000.00, at most 49999999999999.99)")
    ]


def test_too_many_items_is_reported_without_reading_them_one_by_one() -> None:
    items = [item(quantity="0", unit_price="-1")] * 10_000  # every one invalid: none is looked at
    assert [problem.message for problem in validate_request(RULES, CUSTOMER, items)] == [
        f"must have at most {MAX_ITEMS} items (got 10000)",
    ]


def test_invoice_total_is_only_checked_when_every_item_is_valid() -> None:
    items = [item(quantity="999999999.999", unit_price="999999999999.99"), item(description="")]
    assert validate_request(RULES, CUSTOMER, items) == [Problem("items[1].description", "must not be blank")]


# --- compute_totals ---------------------------------------------------------------------------

quantities = st.decimals(min_value="0.001", max_value="100000", places=3, allow_nan=False, allow_infinity=False)
unit_prices = st.decimals(min_value="0", max_value="100000", places=2, allow_nan=False, allow_infinity=False)
iss_rates = st.decimals(min_value="0", max_value="1", places=4, allow_nan=False, allow_infinity=False)
items_lists = st.lists(
    st.builds(lambda q, p: {"description": "Service", "quantity": q, "unit_price": p}, quantities, unit_prices),
    min_size=1,
    max_size=MAX_ITEMS,
)


def places(value: Decimal) -> int:
    return -value.as_tuple().exponent


@given(items_lists, iss_rates)
def test_total_is_sum_of_line_totals_plus_iss(items: list[dict], iss_rate: Decimal) -> None:
    assert validate_request(RULES, CUSTOMER, items) == []
    totals = compute_totals(RULES, items, iss_rate)
    assert totals.subtotal == sum(line.total for line in totals.lines)
    assert totals.total == totals.subtotal + totals.iss_amount
    assert abs(totals.iss_amount - totals.subtotal * iss_rate) <= Decimal("0.005")


@given(items_lists, iss_rates)
def test_line_total_is_quantity_times_price_to_the_nearest_cent(items: list[dict], iss_rate: Decimal) -> None:
    totals = compute_totals(RULES, items, iss_rate)
    for line, source in zip(totals.lines, items, strict=True):
        assert (line.description, line.quantity, line.unit_price) == (
            source["description"],
            source["quantity"],
            source["unit_price"],
        )
        assert abs(line.total - source["quantity"] * source["unit_price"]) <= Decimal("0.005")


@given(items_lists, iss_rates)
def test_every_value_has_exactly_the_scale_of_its_avro_type(items: list[dict], iss_rate: Decimal) -> None:
    totals = compute_totals(RULES, items, iss_rate)
    money = [totals.subtotal, totals.iss_amount, totals.total, *(line.total for line in totals.lines)]
    assert all(places(value) == 2 for value in money)
    assert all(places(line.unit_price) == 2 and places(line.quantity) == 3 for line in totals.lines)
    assert places(totals.iss_rate) == 4


@pytest.mark.parametrize(
    ("quantity", "unit_price", "line_total"),
    [
        ("0.5", "0.01", "0.01"),  # 0.005: half-up, where banker's rounding would give 0.00
        ("1.5", "0.03", "0.05"),  # 0.045
        ("0.125", "0.10", "0.01"),  # 0.0125
        ("3", "33.33", "99.99"),
    ],
)
def test_line_total_rounds_half_up_to_the_cent(quantity: str, unit_price: str, line_total: str) -> None:
    totals = compute_totals(RULES, [item(quantity=quantity, unit_price=unit_price)], Decimal("0"))
    assert totals.lines[0].total == Decimal(line_total)


def test_iss_amount_rounds_half_up_to_the_cent() -> None:
    totals = compute_totals(RULES, [item(unit_price="0.10")], Decimal("0.05"))
    assert (totals.subtotal, totals.iss_amount, totals.total) == (Decimal("0.10"), Decimal("0.01"), Decimal("0.11"))


def test_invoice_example_adds_up() -> None:
    items = [item("Consulting", "10", "150.00"), item("Travel", "2.5", "80.25")]
    totals = compute_totals(RULES, items, parse_iss_rate("0.05"))
    assert [line.total for line in totals.lines] == [Decimal("1500.00"), Decimal("200.63")]
    assert totals.subtotal == Decimal("1700.63")
    assert str(totals.iss_rate) == "0.0500"
    assert totals.iss_amount == Decimal("85.03")  # 85.0315
    assert totals.total == Decimal("1785.66")


# --- parse_iss_rate ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("0.05", "0.0500"),
        ("0.0500", "0.0500"),
        ("0", "0.0000"),
        ("1", "1.0000"),
        (" 0.02 ", "0.0200"),
        ("2E-2", "0.0200"),
        ("0.123400", "0.1234"),
    ],
)
def test_iss_rate_within_zero_and_one_is_accepted_with_four_places(text: str, rate: str) -> None:
    assert str(parse_iss_rate(text)) == rate


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must be a decimal number"),
        ("abc", "must be a decimal number"),
        ("5%", "must be a decimal number"),
        ("0,05", "must be a decimal number"),
        ("-0.01", "must be between 0 and 1"),
        ("1.0001", "must be between 0 and 1"),
        ("5", "must be between 0 and 1"),
        ("NaN", "must be between 0 and 1"),
        ("Infinity", "must be between 0 and 1"),
        ("0.00001", "must have at most 4 decimal places"),
    ],
)
def test_iss_rate_outside_zero_and_one_or_too_precise_is_rejected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        parse_iss_rate(text)
    assert repr(text) in str(raised.value)


@given(iss_rates)
def test_iss_rate_round_trips_through_its_text(rate: Decimal) -> None:
    assert parse_iss_rate(str(rate)) == rate


def test_the_alphanumeric_cnpj_of_july_2026_is_accepted_with_its_check_digits() -> None:
    # The Receita Federal's own example: letters count as their code point minus 48 (A is 17).
    assert is_valid_cnpj(digits_of("12.ABC.345/01DE-35"))
    assert digits_of("12.abc.345/01de-35") == "12ABC34501DE35"
    assert not is_valid_cnpj("12ABC34501DE36")  # a wrong check digit
    assert not is_valid_cnpj("12ABC34501DEA5")  # check digits are always digits
    item = {"description": "x", "quantity": Decimal("1"), "unit_price": Decimal("1")}
    assert validate_request(RULES, {"name": "ACME", "tax_id": "12.ABC.345/01DE-35"}, [item]) == []
    assert not is_valid_cpf("1234567890A")  # a CPF stays digits only
