"""The invoice form: amounts read as its locale writes them, and every problem of a submitted form at once, each
named by the label of the field it is beside, in the order the fields are on the page.

A form's problems are the request's constraints (intake, from its schema) and the invoice generator's own rules
(a CPF's check digits, a blank description): the generator's functions, so a rule still lives once. Without
them here a person would fix one problem, send the form, and only then learn of the next. The JSON API keeps its
field paths and leaves the generator's rules to the generator.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from contracts.manifest import Manifest
from services.dashboard.formatting import Locale
from services.dashboard.intake import FieldError, InvalidInput, invoice_form_values, parse_invoice_form
from services.dashboard.rules import ContractRules, DecimalRule
from services.dashboard.written import WrittenNumbers
from services.invoice import billing

__all__ = ["InvoiceForm", "Problem", "Shown", "label"]

LABELS = {"customer.name": "Name", "customer.tax_id": "CPF or CNPJ", "items": "Services"}
ROW_LABELS = {"description": "Description", "quantity": "Quantity", "unit_price": "Unit price"}
_ORDER = ["customer.name", "customer.tax_id", "items"]
_ROW = re.compile(r"items\[([0-9]+)\]\.(\w+)")


def label(field: str) -> str:
    """What the page calls the field at an API path: `items[0].unit_price` is "Unit price, service 1"."""
    if row := _ROW.fullmatch(field):
        return f"{ROW_LABELS.get(row[2], row[2])}, service {int(row[1]) + 1}"
    return LABELS.get(field, field)


def _position(field: str) -> tuple[int, int, int]:
    if row := _ROW.fullmatch(field):
        return len(_ORDER), int(row[1]), list(ROW_LABELS).index(row[2]) if row[2] in ROW_LABELS else len(ROW_LABELS)
    return (_ORDER.index(field) if field in _ORDER else -1), 0, 0  # the form's own (a resent key) first


@dataclass(frozen=True)
class Problem:
    field: str  # the API's path, which the template finds its field by
    message: str

    @property
    def label(self) -> str:
        return label(self.field)

    @property
    def id(self) -> str:
        """The id of the text beside the field: its aria-describedby."""
        return "problem-" + re.sub(r"[^A-Za-z0-9]+", "-", self.field).strip("-")

    @property
    def sentence(self) -> str:
        return f"{self.label}: {self.message}"


@dataclass(frozen=True)
class Shown:
    """What the form's template needs: its problems in the fields' order, each field's first, the one to focus,
    and the data its script reads and totals rows with."""

    problems: list[Problem]
    script: dict[str, str]

    @property
    def by_field(self) -> dict[str, Problem]:
        found: dict[str, Problem] = {}
        for problem in self.problems:
            found.setdefault(problem.field, problem)
        return found

    @property
    def first(self) -> str | None:
        """The first field with a problem that is an input of the page (not the form's key, not the whole list)."""
        inputs = ("customer.name", "customer.tax_id")
        return next((p.field for p in self.problems if p.field in inputs or _ROW.fullmatch(p.field)), None)

    @staticmethod
    def label(field: str) -> str:
        return label(field)


@dataclass(frozen=True)
class InvoiceForm:
    rules: ContractRules
    generator: billing.Rules
    numbers: WrittenNumbers

    @classmethod
    def of(cls, manifest: Manifest, rules: ContractRules, locale: Locale) -> InvoiceForm:
        return cls(rules, billing.Rules.of(manifest), WrittenNumbers(locale))

    def read(self, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """The request's fields; InvalidInput with every problem, in the fields' order, when there is any."""
        try:
            fields = parse_invoice_form(pairs, self.rules, self.numbers.read)
            errors: list[FieldError] = []
        except InvalidInput as invalid:
            fields, errors = {}, invalid.errors
        problems = [Problem(e.field, e.message) for e in errors]
        judged = {problem.field for problem in problems}  # one field's form is judged before its business rules
        for found in billing.validate_request(self.generator, *self._as_read(pairs)):
            if found.field not in judged and Problem(found.field, found.message) not in problems:
                problems.append(Problem(found.field, found.message))
        if problems:
            raise InvalidInput([FieldError(p.field, p.message) for p in sorted(problems, key=lambda p: _position(p.field))])
        return fields

    def _as_read(self, pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The form's customer and items with each amount that reads as a number as that number (None if not)."""
        values = invoice_form_values(pairs)
        items = [{"description": row["description"], "quantity": self._amount(row["quantity"], self.rules.quantity),
                  "unit_price": self._amount(row["unit_price"], self.rules.unit_price)} for row in values["items"]]
        return values["customer"], items

    def _amount(self, text: str, rule: DecimalRule) -> Decimal | None:
        try:
            return self.numbers.read(text, rule)
        except ValueError:
            return None

    def shown(self, errors: Sequence[FieldError] = ()) -> Shown:
        return Shown([Problem(e.field, e.message) for e in errors], self._script())

    def _script(self) -> dict[str, str]:
        """What the page's script needs to read and total the rows exactly as `read` and the generator do."""
        locale = self.numbers.locale
        data = {"pattern": self.numbers.pattern, "ambiguous": self.numbers.ambiguous, "decimal": locale.decimal,
                "group": locale.group, "currency": locale.currency,
                "quantity-places": str(self.rules.quantity.places), "price-places": str(self.rules.unit_price.places),
                "quantity-digits": str(self.rules.quantity.digits), "price-digits": str(self.rules.unit_price.digits),
                "total-places": str(-int(billing.CENT.as_tuple().exponent))}
        return {f"data-{name}": value for name, value in data.items()}
