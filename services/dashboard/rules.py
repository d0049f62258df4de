"""What the dashboard accepts, each rule stated once: intake checks it and /openapi.json publishes it.

The invoice request's fields follow the constraints its schema declares (contracts.constraints), and the score's
range and tiers are score_reply's: ContractRules reads them from the runtime's manifest when the app starts. The
other rules here are the dashboard's own: accounts, idempotency keys, and how a decimal is written in JSON or a form.

Every grammar is written as a regular expression that means the same in Python and in ECMA 262 (the
dialect of JSON Schema's `pattern`), so the document and the parser cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from contracts.constraints import Constraints, FieldRules
from contracts.manifest import Manifest
from contracts.records import GENERATE_INVOICE, SCORE_CALCULATED

__all__ = [
    "EMAIL",
    "IDEMPOTENCY_KEY",
    "MAX_EMAIL",
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "Band",
    "ContractRules",
    "DecimalRule",
    "Grammar",
    "ScoreScale",
]

MAX_EMAIL = 254  # the longest address SMTP can carry (RFC 5321)
# NIST SP 800-63B rev. 4, a password as the only factor: at least 15 characters, and at least 64 allowed.
# The rest of a new password's rule (common ones, the email) is in passwords.py.
MIN_PASSWORD = 15
MAX_PASSWORD = 200


@dataclass(frozen=True)
class Grammar:
    """A regular expression for a whole string: `pattern` for the document, `matches` for the code."""

    pattern: str
    description: str

    def matches(self, text: str) -> bool:
        # fullmatch, not search: in Python `$` also matches before a final newline, in ECMA 262 it does not.
        return re.fullmatch(self.pattern, text) is not None


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL = Grammar(
    rf"^(?=[^@]{{1,64}}@){_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?$",
    "an address like name@example.com: a dot-atom of at most 64 characters (RFC 5322), @, a domain name"
    " (international ones in their xn-- form); quoted names and address literals are not accepted",
)
IDEMPOTENCY_KEY = Grammar(r"^[!-~]{1,255}$", "1 to 255 visible ASCII characters; a new UUID per request is a good key")

_DECIMAL = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?")  # [0-9], not \d: other scripts' digits are not accepted


@dataclass(frozen=True)
class DecimalRule:
    """A decimal the contracts carry with `digits` significant digits, `places` of them after the point."""

    digits: int
    places: int

    @classmethod
    def of(cls, rules: FieldRules) -> DecimalRule:
        """The rule for a decimal field of a contract: its type's precision and scale."""
        if rules.decimal is None:
            raise ValueError(f"{rules.path} is not a decimal")
        return cls(*rules.decimal)

    @property
    def pattern(self) -> str:
        """`parse`'s rule as a pattern: leading zeros and trailing zeros after the point change nothing."""
        whole = self.digits - self.places
        return rf"^-?0*[0-9]{{1,{whole}}}(?:\.[0-9]{{1,{self.places}}}0*)?$"

    @property
    def description(self) -> str:
        return (f"a decimal number written with the digits 0-9, an optional leading '-' and at most one '.',"
                f" like \"12.50\": at most {self.digits - self.places} digits before the point and"
                f" {self.places} after it")

    def parse(self, text: str) -> Decimal:
        """The exact value of `text` at this scale (1.5 is 1.500 for 3 places); never rounded.

        Raises ValueError, saying what is wrong, when `text` is not written as the pattern says, has more
        places than the scale or too many digits before the point.
        """
        written = _DECIMAL.fullmatch(text)
        if written is None:
            raise ValueError('must be a decimal number written like "12.50": only the digits 0-9, one optional'
                             ' "." and an optional leading "-" (no spaces, "+", exponents or separators)')
        return self.exact(written.group(1), written.group(2), written.group(3) or "", point=".")

    def exact(self, sign: str, whole: str, fraction: str, point: str) -> Decimal:
        """The value of a number read as its sign, its digits before the point and after it (`point` is how the
        writer marks it, for the messages); ValueError when it has more places or digits than the rule allows."""
        whole, fraction = whole.lstrip("0"), fraction.rstrip("0")
        sign = sign if whole or fraction else ""  # -0 is 0: stored, shown and compared as the same number
        if len(fraction) > self.places:
            raise ValueError(f'has more than {self.places} digits after the "{point}"')
        if len(whole) > self.digits - self.places:
            raise ValueError(f'is too large: at most {self.digits - self.places} digits before the "{point}"')
        # Built from the digits themselves, so no decimal context (and its 28-digit rounding) is involved.
        return Decimal(f"{sign}{whole or '0'}.{fraction.ljust(self.places, '0')}")


@dataclass(frozen=True)
class Band:
    """The scores of one tier: from `low` up to, not including, `high` (the top band's `high` is the maximum)."""

    tier: str
    low: int
    high: int


@dataclass(frozen=True)
class ScoreScale:
    """The score's range and its tiers, as score_reply declares them: the score field's maximum, each tier's
    lowest_score."""

    maximum: int
    tiers: tuple[str, ...]  # as the schema lists them
    bands: tuple[Band, ...]  # lowest first
    score: FieldRules  # the score field's constraints


@dataclass(frozen=True)
class ContractRules:
    """What the dashboard takes from its contracts' newest schemas: the invoice request's constraints (intake, the
    form's limits, /openapi.json) and the score's scale (the chart's bands, /openapi.json)."""

    request: Constraints
    quantity: DecimalRule
    unit_price: DecimalRule
    scale: ScoreScale

    @classmethod
    def of(cls, manifest: Manifest) -> ContractRules:
        request = manifest.topic(GENERATE_INVOICE).value.latest.constraints
        reply = manifest.topic(SCORE_CALCULATED).value.latest
        score = reply.constraints["score"]
        maximum = int(score.declared["maximum"])
        tier = reply.node.at("tier").schema
        lowest = sorted(tier["lowest_score"].items(), key=lambda band: band[1])
        bands = tuple(Band(name, low, high)
                      for (name, low), (_, high) in zip(lowest, [*lowest[1:], ("", maximum)], strict=True))
        return cls(request, DecimalRule.of(request["items[].quantity"]), DecimalRule.of(request["items[].unit_price"]),
                   ScoreScale(maximum, tuple(tier["symbols"]), bands, score))
