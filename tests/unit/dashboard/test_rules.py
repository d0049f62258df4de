"""The grammars published in /openapi.json and the code that parses input are one rule, not two."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from contracts.manifest import load_manifest
from services.dashboard.rules import EMAIL, ContractRules, DecimalRule

CONTRACT = ContractRules.of(load_manifest())  # as the app makes them from its runtime's manifest
QUANTITY, UNIT_PRICE, REQUEST = CONTRACT.quantity, CONTRACT.unit_price, CONTRACT.request
RULES = [QUANTITY, UNIT_PRICE]


def accepts(rule: DecimalRule, text: str) -> bool:
    try:
        rule.parse(text)
    except ValueError:
        return False
    return True


def matches(pattern: str, text: str) -> bool:
    # As JSON Schema validators read `pattern` (ECMA 262): `$` is the end of the string, never before a newline.
    return re.fullmatch(pattern.removeprefix("^").removesuffix("$"), text) is not None


def near_decimals(rule: DecimalRule) -> st.SearchStrategy[str]:
    """Strings around the edges of `rule`: decimals with any number of digits either side, and leading or trailing zeros."""
    digits = st.text("0123456789", min_size=1, max_size=rule.digits + 4)
    fraction = st.one_of(st.just(""), st.builds(lambda d: "." + d, digits))
    return st.builds(lambda sign, zeros, whole, dot, tail: sign + zeros + whole + dot + tail,
                     st.sampled_from(["", "-"]), st.text("0", max_size=3), digits, fraction, st.text("0", max_size=3))


def anything_like_a_number() -> st.SearchStrategy[str]:
    """Strings made of digits of any script, signs, separators, exponents and spaces: mostly not matching."""
    return st.text(st.sampled_from(list("0123456789.-+,_eE ١٢３\n\t")) | st.characters(), max_size=20)


@pytest.mark.parametrize("rule", RULES, ids=["quantity", "unit_price"])
@given(data=st.data())
def test_the_parser_accepts_exactly_the_strings_the_published_pattern_matches(rule: DecimalRule, data: st.DataObject) -> None:
    matching = st.from_regex(rule.pattern, fullmatch=True)
    written = data.draw(st.one_of(near_decimals(rule), anything_like_a_number(), matching))
    assert accepts(rule, written) == matches(rule.pattern, written), written


@pytest.mark.parametrize("rule", RULES, ids=["quantity", "unit_price"])
@given(data=st.data())
def test_what_the_pattern_matches_is_parsed_to_its_exact_value_never_rounded(rule: DecimalRule, data: st.DataObject) -> None:
    written = data.draw(st.from_regex(rule.pattern, fullmatch=True).filter(lambda s: "\n" not in s))
    value = rule.parse(written)
    assert value == Decimal(written)  # Decimal(str) is exact: no context, no rounding
    assert value.as_tuple().exponent == -rule.places


@given(st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-10**9 + 1, max_value=10**9 - 1))
@example(Decimal("0.001"))
def test_every_value_the_contract_holds_can_be_written_and_read_back(value: Decimal) -> None:
    assert QUANTITY.parse(f"{value:f}") == value


def test_the_cases_that_were_silently_changed_before_are_refused() -> None:
    for written in ["0.0099999999999999999999999999999", "1e2", "1_000", "+5", "١٢", "１２", "1,000"]:
        assert not accepts(UNIT_PRICE, written), written
        assert not matches(UNIT_PRICE.pattern, written), written
    assert UNIT_PRICE.parse("1.500000000000000000000000000000000000") == Decimal("1.50")  # only zeros dropped
    assert UNIT_PRICE.parse("000000000000000000000000000000012.5") == Decimal("12.50")


# What a one-line text field refuses: Unicode's control characters, line and paragraph separators and invisible
# format characters (categories Cc, Zl, Zp and Cf), read from Python's own Unicode database.
INVISIBLE = frozenset(chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) in ("Cc", "Cf", "Zl", "Zp"))


@given(st.text(max_size=30) | st.text(st.sampled_from(sorted(INVISIBLE)) | st.characters(), max_size=5))
@example("a\x00b")
@example("\u202eexe.txt")
@example("\u2067x")
@example("a\u200bb")  # zero-width space
@example("line\u2028break")
@example("\ufeffBOM")
@example("soft\u00adhyphen")
@example("tag\U000e0041")
@example("Zo\u00eb \U0001f389 \u0639\u0631\u0628\u064a")  # other scripts and emoji are text
def test_the_contracts_text_pattern_refuses_controls_and_invisible_format_characters_and_nothing_else(text: str) -> None:
    for path in ("customer.name", "items[].description"):
        pattern = REQUEST[path].json_schema()["pattern"]
        assert (re.fullmatch(pattern, text) is not None) == (not INVISIBLE & set(text))


@pytest.mark.parametrize("address, valid", [
    ("ana@example.com", True), ("first.last+tag@sub.example.com.br", True), ("x@example.xn--p1ai", True),
    ("a@b", False), ("a@-b.com", False), ("a..b@c.com", False), (".a@c.com", False), ('"a b"@c.com', False),
    ("a@[127.0.0.1]", False), ("joão@example.com", False), ("a@b.com\n", False), ("a" * 65 + "@b.com", False),
    ("a" * 64 + "@b.com", True), ("a@" + "b" * 64 + ".com", False),
])
def test_email_syntax(address: str, valid: bool) -> None:
    assert EMAIL.matches(address) is valid
    assert matches(EMAIL.pattern, address) is valid


@pytest.mark.parametrize("text", ["-0", "-0.00", "-000.0", "0"])
def test_a_negative_zero_is_zero(text: str) -> None:
    value = UNIT_PRICE.parse(text)
    assert str(value) == "0.00" and not value.is_signed()
