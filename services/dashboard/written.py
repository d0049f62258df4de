"""How people write a number in the dashboard's locale, for the invoice form: `1.234,56` or `1234,56` in pt_BR,
`1,234.56` in en_US. The JSON API never reads this; it keeps the schema's one exact format (rules.DecimalRule).

The grammar is written as regular expressions that mean the same in Python and in ECMA 262, so the page's script
reads a field exactly as the server will (the form carries them as data attributes), and a number's limits come
from its schema's precision and scale through DecimalRule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from services.dashboard.formatting import Locale
from services.dashboard.rules import DecimalRule

__all__ = ["WrittenNumbers"]


@dataclass(frozen=True)
class WrittenNumbers:
    locale: Locale

    @property
    def pattern(self) -> str:
        """A number as written: an optional "-", digits (grouped by three with the group mark, or not at all),
        an optional decimal mark and fraction."""
        group, decimal = re.escape(self.locale.group), re.escape(self.locale.decimal)
        return rf"^(-?)([0-9]{{1,3}}(?:{group}[0-9]{{3}})+|[0-9]+)(?:{decimal}([0-9]+))?$"

    @property
    def ambiguous(self) -> str:
        """One group mark and three digits after it, nothing more (`1.234` in pt_BR): the writer may have meant the
        mark as a decimal point, as the other half of the world does."""
        return rf"^-?[0-9]{{1,3}}{re.escape(self.locale.group)}[0-9]{{3}}$"

    @property
    def example(self) -> str:
        return f"1{self.locale.group}234{self.locale.decimal}56"

    def read(self, text: str, rule: DecimalRule) -> Decimal:
        """The exact value of `text` at `rule`'s scale; ValueError with a sentence for the person otherwise."""
        text = text.strip()
        if rule.places and re.fullmatch(self.ambiguous, text):
            whole = text.replace(self.locale.group, "")
            raise ValueError(
                f'"{text}" could be a whole number or a fraction: write {whole} or {text}{self.locale.decimal}00 for'
                f' the whole number, or a fraction with at most {rule.places} digits after the "{self.locale.decimal}"')
        written = re.fullmatch(self.pattern, text)
        if written is None:
            raise ValueError(f"must be a number written like {self.example}")
        sign, whole, fraction = written.group(1), written.group(2).replace(self.locale.group, ""), written.group(3) or ""
        return rule.exact(sign, whole, fraction, point=self.locale.decimal)
