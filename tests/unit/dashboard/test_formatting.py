"""Money, quantities, rates and CPF/CNPJ numbers as the pages write them, in pt_BR and en_US."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messaging.settings import SettingsError
from services.dashboard.formatting import LOCALES, filters, locale_from_env, locale_named, money, percent, quantity, tax_id

PT, EN = LOCALES["pt_BR"], LOCALES["en_US"]


@pytest.mark.parametrize(("value", "pt_br", "en_us"), [
    (Decimal("1524.06"), "R$ 1.524,06", "R$1,524.06"),
    ("1339.80", "R$ 1.339,80", "R$1,339.80"),  # the stored replies carry decimal strings
    (Decimal("0"), "R$ 0,00", "R$0.00"),
    (Decimal("-0.00"), "R$ 0,00", "R$0.00"),
    (Decimal("-3.5"), "-R$ 3,50", "-R$3.50"),
    (Decimal("-1234567.89"), "-R$ 1.234.567,89", "-R$1,234,567.89"),
    (Decimal("99999999999999.99"), "R$ 99.999.999.999.999,99", "R$99,999,999,999,999.99"),
    (12, "R$ 12,00", "R$12.00"),
    (Decimal("999.999"), "R$ 1.000,00", "R$1,000.00"),  # to the cent, half up
    (Decimal("0.005"), "R$ 0,01", "R$0.01"),
    (Decimal("1E+3"), "R$ 1.000,00", "R$1,000.00"),
])
def test_money_is_written_to_the_cent_with_the_locales_separators(value: Decimal | str | int, pt_br: str, en_us: str) -> None:
    assert money(value, PT) == pt_br
    assert money(value, EN) == en_us


@given(st.decimals(min_value=Decimal("-1e15"), max_value=Decimal("1e15"), places=2))
def test_money_in_pt_br_reads_back_as_the_same_amount(value: Decimal) -> None:
    written = money(value, PT)
    back = Decimal(written.replace("R$ ", "").replace(".", "").replace(",", "."))
    assert back == value


def test_text_that_is_no_number_is_shown_as_it_is() -> None:
    assert money("twelve", PT) == "twelve"
    assert money("NaN", PT) == "NaN"
    assert quantity("a few", EN) == "a few"


@pytest.mark.parametrize(("value", "pt_br", "en_us"), [
    ("12.000", "12", "12"),  # not 12.000, which in pt_BR is twelve thousand
    ("1.500", "1,5", "1.5"),
    ("1234.125", "1.234,125", "1,234.125"),
    ("1000000", "1.000.000", "1,000,000"),
    ("0.001", "0,001", "0.001"),
    ("0", "0", "0"),
])
def test_quantities_lose_the_zeros_their_scale_pads_them_with(value: str, pt_br: str, en_us: str) -> None:
    assert quantity(value, PT) == pt_br
    assert quantity(value, EN) == en_us


def test_rates_are_written_in_percent() -> None:
    assert percent("0.0500", PT) == "5%"
    assert percent("0.0275", PT) == "2,75%"
    assert percent("0.0275", EN) == "2.75%"


@pytest.mark.parametrize(("given", "shown"), [
    ("12345678909", "123.456.789-09"),
    ("123.456.789-09", "123.456.789-09"),
    ("11222333000181", "11.222.333/0001-81"),
    ("11.222.333/0001-81", "11.222.333/0001-81"),
    ("12ABC34501DE35", "12.ABC.345/01DE-35"),  # the alphanumeric CNPJ of July 2026
    ("12.abc.345/01de-35", "12.ABC.345/01DE-35"),
])
def test_cpf_and_cnpj_are_written_with_their_punctuation(given: str, shown: str) -> None:
    assert tax_id(given) == shown


@pytest.mark.parametrize("odd", ["", "1234", "123456789012", "12ABC34501DEXY", "１２３４５６７８９０９"])
def test_anything_else_is_shown_as_given(odd: str) -> None:
    assert tax_id(odd) == odd


def test_the_locale_comes_from_dashboard_locale_and_unknown_ones_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DASHBOARD_LOCALE", raising=False)
    assert locale_from_env() is PT
    monkeypatch.setenv("DASHBOARD_LOCALE", "en_US")
    assert locale_from_env() is EN
    with pytest.raises(SettingsError, match="DASHBOARD_LOCALE must be one of pt_BR, en_US, got 'de_DE'"):
        locale_named("de_DE")


def test_the_filters_use_the_locale_they_were_made_with() -> None:
    made = filters(EN)
    assert made["money"]("1524.06") == "R$1,524.06"
    assert made["quantity"]("2.000") == "2"
    assert made["percent"]("0.05") == "5%"
    assert made["tax_id"]("12345678909") == "123.456.789-09"
