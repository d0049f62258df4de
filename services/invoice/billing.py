"""Invoice arithmetic and request validation: pure functions over a decoded InvoiceRequest.

Money is Decimal throughout and every rounding is explicit and half-up, so each value fits
the decimal(precision, scale) type the Avro contract gives it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext
from typing import Any

from contracts.constraints import Constraints, decimal_limits, largest_decimal
from contracts.manifest import Manifest
from contracts.records import GENERATE_INVOICE, INVOICE_GENERATED

__all__ = [
    "CENT", "Checked", "Line", "Problem", "Rules", "Totals", "check_request", "compute_totals", "digits_of", "is_valid_cnpj",
    "is_valid_cpf", "parse_iss_rate", "validate_request", "verification_code",
]

CENT = Decimal("0.01")  # money in BRL: the scale of every amount the reply carries
_RATE_STEP = Decimal("0.0001")

# Wide enough that products and sums of contract-sized values are exact, whatever
# decimal context the caller has set.
_EXACT = Context(prec=40)

# str.translate table that deletes the punctuation people write in a CPF or CNPJ.
_PUNCTUATION = str.maketrans("", "", "./- ")

_CPF_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_WEIGHTS = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)


@dataclass(frozen=True)
class Rules:
    """What a request's fields may hold, declared once in the request's schema (contracts.constraints), and what the
    reply can carry; this module adds the business rules: blank names, the tax id's check digits, a total that fits."""

    request: Constraints
    max_subtotal: Decimal  # the largest subtotal whose total, at a 100% rate, still fits the reply's invoice.total
    quantity_step: Decimal
    price_step: Decimal

    @classmethod
    def of(cls, manifest: Manifest) -> Rules:
        request = manifest.topic(GENERATE_INVOICE).value.latest.constraints
        total = decimal_limits(manifest.topic(INVOICE_GENERATED).value.latest.node.at("invoice.total"))
        if total is None:
            raise ValueError("the reply's invoice.total is not a decimal")
        # validate_request does not know the configured rate, so it assumes the highest parse_iss_rate accepts (1,
        # i.e. 100%): the total, twice the subtotal, must still fit.
        max_subtotal = (largest_decimal(*total) / 2).quantize(CENT, rounding=ROUND_DOWN)
        quantity, price = (Decimal(1).scaleb(-request[f"items[].{name}"].scale) for name in ("quantity", "unit_price"))
        return cls(request, max_subtotal, quantity, price)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: the field's path and a message for people."""

    field: str
    message: str


@dataclass(frozen=True)
class Line:
    """One invoiced service with its total."""

    description: str
    quantity: Decimal
    unit_price: Decimal
    total: Decimal


@dataclass(frozen=True)
class Totals:
    """An invoice's arithmetic, every value at the scale of its Avro type."""

    lines: tuple[Line, ...]
    subtotal: Decimal
    iss_rate: Decimal
    iss_amount: Decimal
    total: Decimal


def digits_of(tax_id: str) -> str:
    """Strip the usual punctuation (. / - and spaces) from a CPF or CNPJ and upper-case it; keep anything else."""
    return tax_id.translate(_PUNCTUATION).upper()


def is_valid_cpf(digits: str) -> bool:
    """Whether `digits` is 11 digits with correct check digits, not all the same."""
    return _is_valid(digits, _CPF_WEIGHTS)


def is_valid_cnpj(digits: str) -> bool:
    """Whether `digits` is a CNPJ with correct check digits, not all the same: 14 digits, or, since July
    2026, 12 digits or capital letters followed by 2 check digits (the alphanumeric CNPJ)."""
    return (
        len(digits) == 14
        and _is_cnpj_body(digits[:12])
        and _is_ascii_digits(digits[12:])
        and not _all_same(digits)
        and _check_digits_match(digits, _CNPJ_WEIGHTS)
    )


def _is_cnpj_body(text: str) -> bool:
    return text.isascii() and all(c.isdigit() or "A" <= c <= "Z" for c in text)


def _is_valid(digits: str, weights: tuple[int, ...]) -> bool:
    return (
        len(digits) == len(weights) + 2
        and _is_ascii_digits(digits)
        and not _all_same(digits)
        and _check_digits_match(digits, weights)
    )


def _is_ascii_digits(text: str) -> bool:
    # str.isdigit alone accepts digits of other scripts, which int() would then happily read.
    return text.isascii() and text.isdigit()


def _all_same(digits: str) -> bool:
    # 000.000.000-00 and the like pass the mod-11 check but are never issued.
    return len(set(digits)) == 1


def _check_digits_match(digits: str, weights: tuple[int, ...]) -> bool:
    """Mod 11 check: the second check digit also weighs the first, one weight further out."""
    body = digits[:-2]
    first = _check_digit(body, weights)
    second = _check_digit(body + first, (weights[0] + 1, *weights))
    return digits[-2:] == first + second


def _check_digit(digits: str, weights: Sequence[int]) -> str:
    # A character counts as its code point minus 48: the digit itself for 0-9, 17-42 for A-Z.
    remainder = sum((ord(c) - 48) * w for c, w in zip(digits, weights, strict=True)) % 11
    return "0" if remainder < 2 else str(11 - remainder)


@dataclass(frozen=True)
class Checked:
    """A request checked: every problem, and its arithmetic at the rate given once every item is valid."""

    problems: list[Problem]
    totals: Totals | None


def check_request(rules: Rules, customer: Mapping[str, Any], items: Sequence[Mapping[str, Any]],
                  iss_rate: Decimal) -> Checked:
    """Every problem with a request, in field order (none when it can be invoiced), and its totals at `iss_rate`,
    computed once: the subtotal's limit and the reply both use them. Item paths are zero-based: items[1] is the
    second item."""
    problems = _text_problems(rules, "customer.name", customer.get("name"))
    problems += _tax_id_problems(rules, customer.get("tax_id"))
    count_problems = [Problem("items", message) for message in rules.request["items"].problems(items)]
    if count_problems:  # none, or too many to be worth reading one by one
        return Checked(problems + count_problems, None)
    item_problems = [problem for i, item in enumerate(items) for problem in _item_problems(rules, f"items[{i}]", item)]
    problems += item_problems
    # The sums only mean something, and are only safe to compute, once every item is valid.
    if not items or item_problems:
        return Checked(problems, None)
    totals = compute_totals(rules, items, iss_rate)
    if totals.subtotal > rules.max_subtotal:
        problems.append(Problem("items", f"invoice total too large (subtotal {totals.subtotal}, at most"
                                         f" {rules.max_subtotal})"))
    return Checked(problems, totals)


def validate_request(rules: Rules, customer: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> list[Problem]:
    """Every problem with a request, in field order; empty when it can be invoiced."""
    return check_request(rules, customer, items, Decimal(0)).problems


def _tax_id_problems(rules: Rules, tax_id: Any) -> list[Problem]:
    field = "customer.tax_id"
    if not isinstance(tax_id, str):
        return [Problem(field, f"must be text (got {type(tax_id).__name__})")]
    if declared := rules.request[field].problems(tax_id):
        return [Problem(field, message) for message in declared]
    digits = digits_of(tax_id)
    if not digits:
        return [Problem(field, "must not be blank")]
    alphanumeric_cnpj = len(digits) == 14 and _is_cnpj_body(digits[:12]) and _is_ascii_digits(digits[12:])
    if not (_is_ascii_digits(digits) or alphanumeric_cnpj):
        return [Problem(field, "must contain only digits (a CNPJ also capital letters before its 2 check digits),"
                               " dots, slashes, dashes and spaces")]
    if len(digits) not in (11, 14):
        return [Problem(field, f"must have 11 digits (CPF) or 14 characters (CNPJ) (got {len(digits)})")]
    kind, weights = ("CPF", _CPF_WEIGHTS) if len(digits) == 11 else ("CNPJ", _CNPJ_WEIGHTS)
    if _all_same(digits):
        return [Problem(field, f"is not a valid {kind}: all digits are the same")]
    if not _check_digits_match(digits, weights):
        return [Problem(field, f"is not a valid {kind}: wrong check digits")]
    return []


def _item_problems(rules: Rules, path: str, item: Mapping[str, Any]) -> list[Problem]:
    return [
        *_text_problems(rules, f"{path}.description", item.get("description"), "items[].description"),
        *_number_problems(rules, f"{path}.quantity", item.get("quantity"), "items[].quantity"),
        *_number_problems(rules, f"{path}.unit_price", item.get("unit_price"), "items[].unit_price"),
    ]


def _text_problems(rules: Rules, field: str, value: Any, declared_at: str = "") -> list[Problem]:
    if not isinstance(value, str):
        return [Problem(field, f"must be text (got {type(value).__name__})")]
    problems = [] if value.strip() else [Problem(field, "must not be blank")]
    return problems + [Problem(field, message) for message in rules.request[declared_at or field].problems(value)]


def _number_problems(rules: Rules, field: str, value: Any, declared_at: str) -> list[Problem]:
    if not isinstance(value, Decimal):
        return [Problem(field, f"must be a decimal number (got {type(value).__name__})")]
    return [Problem(field, message) for message in rules.request[declared_at].problems(value)]


def compute_totals(rules: Rules, items: Sequence[Mapping[str, Any]], iss_rate: Decimal) -> Totals:
    """The invoice's lines, subtotal, ISS and total, for items validate_request accepts."""
    with localcontext(_EXACT):
        lines = tuple(_line(rules, item) for item in items)
        subtotal = sum((line.total for line in lines), Decimal("0.00"))
        rate = _round(iss_rate, _RATE_STEP)
        iss_amount = _round(subtotal * rate, CENT)
        return Totals(lines, subtotal, rate, iss_amount, subtotal + iss_amount)


def _line(rules: Rules, item: Mapping[str, Any]) -> Line:
    # Quantity and price are already valid, so these two roundings only set the scale.
    quantity = _round(item["quantity"], rules.quantity_step)
    unit_price = _round(item["unit_price"], rules.price_step)
    return Line(item["description"], quantity, unit_price, _round(quantity * unit_price, CENT))


def _round(value: Decimal, step: Decimal) -> Decimal:
    return value.quantize(step, rounding=ROUND_HALF_UP)


def verification_code(user_id: str, number: int, request_id: str) -> str:
    """The code a customer quotes to check an invoice (XXXX-XXXX): derived, so a repeat gives the same code."""
    digest = hashlib.sha256(f"{user_id}:{number}:{request_id}".encode()).hexdigest().upper()
    return f"{digest[:4]}-{digest[4:8]}"


def parse_iss_rate(text: str) -> Decimal:
    """Parse a configured ISS rate such as "0.05" (5%) into a Decimal with 4 places."""
    try:
        rate = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"ISS rate must be a decimal number such as 0.05 (got {text!r})") from None
    if not rate.is_finite() or not 0 <= rate <= 1:
        raise ValueError(f"ISS rate must be between 0 and 1, e.g. 0.05 for 5% (got {text!r})")
    if rate != _round(rate, _RATE_STEP):
        raise ValueError(f"ISS rate must have at most 4 decimal places (got {text!r})")
    return _round(rate, _RATE_STEP)
