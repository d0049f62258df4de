"""How the pages write money, quantities, rates and CPF/CNPJ numbers for people, in the locale DASHBOARD_LOCALE names.
The JSON API never uses this: it keeps exact decimal strings."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from messaging.settings import SettingsError

__all__ = ["LOCALES", "Locale", "filters", "locale_from_env", "locale_named", "money", "percent", "quantity", "tax_id"]

CENT = Decimal("0.01")
# The punctuation people write in a CPF or CNPJ; the invoice generator strips the same.
_PUNCTUATION = str.maketrans("", "", "./- ")


@dataclass(frozen=True)
class Locale:
    name: str
    decimal: str  # between the units and the fraction
    group: str  # between each three digits of the units
    currency: str  # what comes before an amount of money, space included where the locale puts one


LOCALES = {
    "pt_BR": Locale("pt_BR", decimal=",", group=".", currency="R$ "),
    "en_US": Locale("en_US", decimal=".", group=",", currency="R$"),
}


def locale_named(name: str) -> Locale:
    """The locale called `name`; SettingsError naming the known ones when there is none."""
    try:
        return LOCALES[name]
    except KeyError:
        raise SettingsError(f"DASHBOARD_LOCALE must be one of {', '.join(LOCALES)}, got {name!r}") from None


def locale_from_env() -> Locale:
    return locale_named(os.environ.get("DASHBOARD_LOCALE", "pt_BR"))


def _number(value: Decimal, locale: Locale) -> str:
    """`value` as written, its units grouped by three: no rounding and no exponent."""
    sign = "-" if value.is_signed() and value != 0 else ""
    units, _, fraction = f"{abs(value):f}".partition(".")
    groups: list[str] = []
    while units:
        units, groups = units[:-3], [units[-3:], *groups]
    return sign + locale.group.join(groups or ["0"]) + (locale.decimal + fraction if fraction else "")


def _decimal(value: Decimal | int | str) -> Decimal | None:
    """A finite Decimal of `value` (the stored JSON has decimal strings); None when it is no number."""
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    return number if number.is_finite() else None


def money(value: Decimal | int | str, locale: Locale) -> str:
    """An amount in BRL, to the cent (half up): `R$ 1.524,06` in pt_BR, `R$1,524.06` in en_US, `-R$ 3,50`.
    Text that is no number comes back as it is: a page shows it rather than fail."""
    amount = _decimal(value)
    if amount is None:
        return str(value)
    cents = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    sign = "-" if cents < 0 else ""
    return sign + locale.currency + _number(abs(cents), locale)


def quantity(value: Decimal | int | str, locale: Locale) -> str:
    """A quantity without the zeros its scale pads it with: `12`, `1,5`, `1.234,125` in pt_BR (`12.000`
    there would read as twelve thousand)."""
    number = _decimal(value)
    if number is None:
        return str(value)
    if number == number.to_integral_value():
        return _number(number.quantize(Decimal(1)), locale)
    return _number(number.normalize(), locale)


def percent(fraction: Decimal | int | str, locale: Locale) -> str:
    """A rate given as a fraction, in percent: `0.0500` is `5%`, `0.0275` is `2,75%` in pt_BR."""
    number = _decimal(fraction)
    return str(fraction) if number is None else quantity(number * 100, locale) + "%"


def tax_id(text: str) -> str:
    """A CPF as `123.456.789-09`, a CNPJ (digits, or since July 2026 letters too before its 2 check digits) as
    `12.345.678/0001-95`; anything else as it is, since this shows numbers and checks none."""
    plain = text.translate(_PUNCTUATION).upper()
    if len(plain) == 11 and plain.isascii() and plain.isdigit():
        return f"{plain[:3]}.{plain[3:6]}.{plain[6:9]}-{plain[9:]}"
    if len(plain) == 14 and plain.isascii() and plain[:12].isalnum() and plain[12:].isdigit():
        return f"{plain[:2]}.{plain[2:5]}.{plain[5:8]}/{plain[8:12]}-{plain[12:]}"
    return text


def filters(locale: Locale) -> dict[str, Callable[..., str]]:
    """The Jinja filters the templates use: `{{ total | money }}`, `{{ tax_id | tax_id }}`, ..."""
    return {
        "money": lambda value: money(value, locale),
        "quantity": lambda value: quantity(value, locale),
        "percent": lambda value: percent(value, locale),
        "tax_id": tax_id,
    }
