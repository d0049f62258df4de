"""Checking what people send before it becomes a contract record: types, sizes and the contract's constraints.

The request's constraints (lengths, patterns, item counts, decimal ranges) are the ones its schema declares
(contracts.constraints): a request that breaks one could not be sent, so the error names the field and
nothing is sent. Business rules (a valid CPF, a name that is not blank) are the invoice generator's to
judge: a request that breaks them is sent and comes back rejected with every reason.
Nothing is silently changed: an unknown field, a duplicated form field, a number that would need
rounding or a control character is refused, never dropped, cut or rounded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import zip_longest
from typing import Any

from services.dashboard import passwords
from services.dashboard.rules import EMAIL, IDEMPOTENCY_KEY, MAX_EMAIL, MAX_PASSWORD, ContractRules, DecimalRule

__all__ = [
    "FieldError", "InvalidInput", "form_fields", "invoice_form_values", "parse_empty", "parse_idempotency_key",
    "parse_invoice",
    "parse_invoice_form", "parse_log_in", "parse_new_password", "parse_email", "parse_sign_up",
]

ROW_FIELDS = ("description", "quantity", "unit_price")
INVOICE_FORM_FIELDS = {"csrf_token", "idempotency_key", "customer_name", "customer_tax_id", *ROW_FIELDS}


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class InvalidInput(ValueError):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


def _object(data: Any, name: str, known: Sequence[str], errors: list[FieldError]) -> dict[str, Any] | None:
    """`data` when it is an object; each field not in `known` is an error naming it."""
    if not isinstance(data, dict):
        errors.append(FieldError(name or "body", f"is required and must be an object with {', '.join(known)}"))
        return None
    prefix = f"{name}." if name else ""
    errors += [FieldError(f"{prefix}{field}", "is not a known field") for field in data if field not in known]
    return data


def _string(data: dict[str, Any], field: str, path: str, limit: int | None, errors: list[FieldError]) -> str | None:
    """The field when it is text (of at most `limit` characters) that UTF-8 can carry; None after an error."""
    value, name = data.get(field), f"{path}{field}"
    if not isinstance(value, str):
        errors.append(FieldError(name, "is required and must be text"))
        return None
    if limit is not None and len(value) > limit:
        errors.append(FieldError(name, f"must be at most {limit} characters (got {len(value)})"))
        return None
    if any(0xD800 <= ord(char) <= 0xDFFF for char in value):
        errors.append(FieldError(name, "must be valid Unicode text (it holds an unpaired surrogate)"))
        return None
    return value


# How a decimal's text is read: the API's one exact format (DecimalRule.parse), or as the form's locale writes it.
Reader = Callable[[str, DecimalRule], Decimal]


def _exact(text: str, rule: DecimalRule) -> Decimal:
    return rule.parse(text)


def _decimal(data: dict[str, Any], field: str, rule: DecimalRule, path: str, read: Reader,
             errors: list[FieldError]) -> Decimal | None:
    raw, name = data.get(field), f"{path}{field}"
    if not isinstance(raw, str):
        # A JSON number may have been rounded by the sender's floats before it got here: only text is exact.
        errors.append(FieldError(name, 'is required and must be a string holding a decimal number, like "12.50"'))
        return None
    try:
        return read(raw, rule)
    except ValueError as error:
        errors.append(FieldError(name, str(error)))
        return None


def _item(entry: Any, index: int, rules: ContractRules, read: Reader, errors: list[FieldError]) -> dict[str, Any]:
    item = _object(entry, f"items[{index}]", ROW_FIELDS, errors)
    if item is None:
        return {}
    path = f"items[{index}]."
    return {
        "description": _string(item, "description", path, None, errors),
        "quantity": _decimal(item, "quantity", rules.quantity, path, read, errors),
        "unit_price": _decimal(item, "unit_price", rules.unit_price, path, read, errors),
    }


def parse_invoice(data: Any, rules: ContractRules, read: Reader = _exact) -> dict[str, Any]:
    """{"customer": {...}, "items": [...]} with Decimal amounts at the contract's scale, their text as `read` reads
    it; InvalidInput otherwise."""
    errors: list[FieldError] = []
    body = _object(data, "", ("customer", "items"), errors)
    if body is None:
        raise InvalidInput(errors)
    customer = _object(body.get("customer"), "customer", ("name", "tax_id"), errors)
    parsed_customer: dict[str, Any] = {}
    if customer is not None:
        parsed_customer = {field: _string(customer, field, "customer.", None, errors) for field in ("name", "tax_id")}
    items = body.get("items")
    parsed_items: list[dict[str, Any]] | None = None  # None: not a list the constraints can be checked on
    if not isinstance(items, list):
        errors.append(FieldError("items", "is required and must be a list"))
    elif (most := rules.request["items"].max_items) is not None and len(items) > most:
        errors += [FieldError("items", message) for message in rules.request["items"].problems(items)]  # not one by one
    else:
        parsed_items = [_item(entry, index, rules, read, errors) for index, entry in enumerate(items)]
    parsed = {"customer": parsed_customer, "items": parsed_items}
    # The schema's constraints, on every field that parsed (one that did not is None, which they skip).
    errors += [FieldError(v.path, v.message) for v in rules.request.violations(parsed)]
    if errors:
        raise InvalidInput(errors)
    return parsed


def invoice_form_values(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The invoice form in the API's shape, to parse or to show again; rows are kept whole, never cut short."""
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        fields.setdefault(name, []).append(value)

    def first(name: str) -> str:
        return fields.get(name, [""])[0]

    rows = zip_longest(*(fields.get(name, []) for name in ROW_FIELDS), fillvalue="")
    return {
        "customer": {"name": first("customer_name"), "tax_id": first("customer_tax_id")},
        # A row left entirely blank is an unused row of the form, not an item.
        "items": [dict(zip(ROW_FIELDS, row, strict=True)) for row in rows if any(cell.strip() for cell in row)],
    }


def parse_invoice_form(pairs: Sequence[tuple[str, str]], rules: ContractRules, read: Reader) -> dict[str, Any]:
    """What parse_invoice gives for the form's values, amounts as `read` reads them; also refuses unknown, repeated
    and ragged fields."""
    errors = _form_shape(pairs, INVOICE_FORM_FIELDS, repeatable=ROW_FIELDS)
    counts = Counter(name for name, _ in pairs)
    if len({counts[name] for name in ROW_FIELDS}) > 1:
        got = ", ".join(f"{counts[name]} {name}" for name in ROW_FIELDS)
        errors.append(FieldError("items", f"every row needs a description, a quantity and a unit price (got {got})"))
    try:
        parsed = parse_invoice(invoice_form_values(pairs), rules, read)
    except InvalidInput as invalid:
        errors += invalid.errors
    if errors:
        raise InvalidInput(errors)
    return parsed


def form_fields(pairs: Sequence[tuple[str, str]], known: set[str]) -> dict[str, str]:
    """A form of single fields as a dict; InvalidInput when a field is unknown or sent twice."""
    if errors := _form_shape(pairs, known, repeatable=()):
        raise InvalidInput(errors)
    return dict(pairs)


def _form_shape(pairs: Sequence[tuple[str, str]], known: set[str], repeatable: Sequence[str]) -> list[FieldError]:
    counts = Counter(name for name, _ in pairs)
    return [FieldError(name, "is not a known field") if name not in known else FieldError(name, "was sent more than once")
            for name, count in counts.items() if name not in known or (count > 1 and name not in repeatable)]


def _credentials(data: Any) -> tuple[dict[str, Any], list[FieldError]]:
    errors: list[FieldError] = []
    body = _object(data, "", ("email", "password"), errors)
    if body is None:
        raise InvalidInput(errors)
    return body, errors


def parse_sign_up(data: Any) -> tuple[str, str]:
    """(email, password) for a new account; InvalidInput unless the email is an address and the password one
    that passwords.problems accepts for it (long enough, not common, not built from the email).

    The email is kept in lower case: addresses are compared without regard to case.
    """
    body, errors = _credentials(data)
    email = _email(body, errors)
    password = _new_password(body, "password", email or "", errors)
    if errors:
        raise InvalidInput(errors)
    return str(email).lower(), str(password)


def _email(data: dict[str, Any], errors: list[FieldError]) -> str | None:
    """The `email` field when it is an address; None after an error."""
    email = _string(data, "email", "", MAX_EMAIL, errors)
    if email is not None and not EMAIL.matches(email):
        errors.append(FieldError("email", "is not an email address like name@example.com"))
        return None
    return email


def _new_password(data: dict[str, Any], field: str, email: str, errors: list[FieldError]) -> str | None:
    """The field when it is a password passwords.problems accepts for `email`'s account; None after a type error."""
    password = _string(data, field, "", MAX_PASSWORD, errors)
    if password is not None:
        errors += [FieldError(field, problem) for problem in passwords.problems(password, email)]
    return password


def parse_new_password(password: Any, email: str, field: str) -> str:
    """A new password for `email`'s account (a reset or a change), as a sign-up's is judged; InvalidInput naming
    `field` otherwise."""
    errors: list[FieldError] = []
    value = _new_password({field: password}, field, email, errors)
    if errors:
        raise InvalidInput(errors)
    return str(value)


def parse_email(email: Any) -> str:
    """An email address, in lower case; InvalidInput otherwise."""
    errors: list[FieldError] = []
    value = _email({"email": email}, errors)
    if errors:
        raise InvalidInput(errors)
    return str(value).lower()


def parse_log_in(data: Any) -> tuple[str, str]:
    """(email, password) to check; only their types and sizes, so an account made under older rules can sign in."""
    body, errors = _credentials(data)
    email = _string(body, "email", "", MAX_EMAIL, errors)
    password = _string(body, "password", "", MAX_PASSWORD, errors)
    if errors:
        raise InvalidInput(errors)
    return str(email).lower(), str(password)


def parse_empty(data: Any) -> None:
    """A write that says nothing but itself (ask for my score, sign out) still comes as JSON, `{}`: a body with that
    content type is what no other site's form can send. InvalidInput for anything else."""
    if not isinstance(data, dict):
        raise InvalidInput([FieldError("body", "must be an empty JSON object: {}")])
    if data:
        raise InvalidInput([FieldError(field, "is not a known field") for field in data])


def parse_idempotency_key(value: str | None, field: str) -> str | None:
    """The key as sent (None when there is none); InvalidInput naming `field` when it breaks the grammar."""
    if value is None or IDEMPOTENCY_KEY.matches(value):
        return value
    raise InvalidInput([FieldError(field, f"must be {IDEMPOTENCY_KEY.description}")])
