"""Checking what people send before it becomes a contract record: types, sizes and the contract's limits.

Business rules (a valid CPF, a positive quantity) are the invoice generator's to judge: a request
that breaks them is sent and comes back rejected with every reason. What is checked here is what
must hold for the request to be encoded at all, so an error names the field and nothing is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["FieldError", "InvalidInput", "parse_credentials", "parse_invoice"]

MAX_ITEMS = 50
MAX_TEXT = 200
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}")


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class InvalidInput(ValueError):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


def _text(data: Any, field: str, errors: list[FieldError], limit: int = MAX_TEXT, path: str = "") -> str:
    value = data.get(field) if isinstance(data, dict) else None
    name = f"{path}{field}"
    if not isinstance(value, str):
        errors.append(FieldError(name, "is required and must be text"))
        return ""
    if len(value) > limit:
        errors.append(FieldError(name, f"must be at most {limit} characters (got {len(value)})"))
    elif not _encodable(value):
        errors.append(FieldError(name, "must be valid Unicode text (it holds an unpaired surrogate)"))
    return value


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _decimal(data: dict[str, Any], field: str, places: int, digits: int, path: str, errors: list[FieldError]) -> Decimal:
    raw = data.get(field)
    name = f"{path}{field}"
    if isinstance(raw, bool) or not isinstance(raw, (str, int, Decimal)):
        errors.append(FieldError(name, "is required and must be a decimal number such as \"12.50\""))
        return Decimal(0)
    try:
        value = Decimal(str(raw).strip().replace(",", "."))
    except InvalidOperation:
        errors.append(FieldError(name, f"is not a number: {str(raw)[:40]!r}"))
        return Decimal(0)
    if not value.is_finite():
        errors.append(FieldError(name, "must be a finite number"))
        return Decimal(0)
    exponent = value.normalize().as_tuple().exponent  # trailing zeros do not count: 1.50 is 1.5
    if isinstance(exponent, int) and -exponent > places:
        errors.append(FieldError(name, f"has more than {places} decimal places"))
        return Decimal(0)
    if abs(value) >= Decimal(10) ** (digits - places):  # checked before quantize, which overflows on huge values
        errors.append(FieldError(name, f"is too large (at most {digits - places} digits before the point)"))
        return Decimal(0)
    return value.quantize(Decimal(1).scaleb(-places))


def parse_invoice(data: Any) -> dict[str, Any]:
    """{"customer": {...}, "items": [...]} with Decimal amounts at the contract's scale; InvalidInput otherwise."""
    errors: list[FieldError] = []
    if not isinstance(data, dict):
        raise InvalidInput([FieldError("body", "must be a JSON object")])
    unknown = sorted(set(data) - {"customer", "items"})
    errors += [FieldError(name, "is not a known field") for name in unknown]
    customer = data.get("customer")
    parsed_customer = {"name": "", "tax_id": ""}
    if isinstance(customer, dict):
        parsed_customer = {
            "name": _text(customer, "name", errors, path="customer."),
            "tax_id": _text(customer, "tax_id", errors, limit=32, path="customer."),
        }
    else:
        errors.append(FieldError("customer", "is required and must be an object with name and tax_id"))
    items = data.get("items")
    parsed_items = []
    if not isinstance(items, list):
        errors.append(FieldError("items", "is required and must be a list"))
    elif len(items) > MAX_ITEMS:
        errors.append(FieldError("items", f"must have at most {MAX_ITEMS} entries (got {len(items)})"))
    else:
        for index, item in enumerate(items):
            path = f"items[{index}]."
            if not isinstance(item, dict):
                errors.append(FieldError(f"items[{index}]", "must be an object"))
                continue
            parsed_items.append(
                {
                    "description": _text(item, "description", errors, path=path),
                    "quantity": _decimal(item, "quantity", 3, 12, path, errors),
                    "unit_price": _decimal(item, "unit_price", 2, 14, path, errors),
                }
            )
    if errors:
        raise InvalidInput(errors)
    return {"customer": parsed_customer, "items": parsed_items}


def parse_credentials(data: Any) -> tuple[str, str]:
    """(email, password) from a sign-up or log-in body; InvalidInput otherwise."""
    errors: list[FieldError] = []
    if not isinstance(data, dict):
        raise InvalidInput([FieldError("body", "must be a JSON object")])
    email = _text(data, "email", errors, limit=320).strip().lower()
    password = _text(data, "password", errors, limit=200)
    if email and not EMAIL.fullmatch(email):
        errors.append(FieldError("email", "is not an email address"))
    if isinstance(data.get("password"), str) and len(password) < 8:
        errors.append(FieldError("password", "must be at least 8 characters"))
    if errors:
        raise InvalidInput(errors)
    return email, password
