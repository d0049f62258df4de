"""The overview's charts: the numbers behind them, and SVG that parses, says what it shows and draws the data."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from markupsafe import Markup

from contracts.manifest import load_manifest
from services.dashboard import charts
from services.dashboard.charts import MonthTotal, ScorePoint, invoicing_chart, invoicing_per_month, months_back, score_history
from services.dashboard.db import Submission
from services.dashboard.formatting import LOCALES
from services.dashboard.rules import ContractRules

NS = {"svg": "http://www.w3.org/2000/svg"}
PT = LOCALES["pt_BR"]
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
SCALE = ContractRules.of(load_manifest()).scale  # the score's range and bands, as the app has them


def score_chart(points: list[ScorePoint]) -> Markup:
    return charts.score_chart(points, SCALE)


def invoice(issued_at: str, total: str) -> dict[str, str]:
    return {"issued_at": issued_at, "total": total}


def calculated(at: str, score: int, tier: str) -> Submission:
    return Submission("s", "score", "u", "calculated", 0, 0, {}, {"calculated_at": at, "score": score, "tier": tier})


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def text(root: ET.Element, path: str) -> str:
    found = root.find(path, NS)
    assert found is not None and found.text is not None, path
    return found.text


def number(element: ET.Element, attribute: str) -> float:
    return float(element.get(attribute, "nan"))


def months(*totals: str) -> list[MonthTotal]:
    return [MonthTotal(2026, n + 1, 1 if Decimal(t) else 0, Decimal(t)) for n, t in enumerate(totals)]


def test_the_window_starts_on_the_first_of_the_month_eleven_months_back() -> None:
    assert months_back(NOW) == datetime(2025, 4, 1, tzinfo=UTC)
    assert months_back(datetime(2026, 1, 31, 23, 59, tzinfo=UTC), 1) == datetime(2026, 1, 1, tzinfo=UTC)


def test_generated_invoices_are_counted_and_summed_in_decimal_per_month_of_issue() -> None:
    per_month = invoicing_per_month([
        invoice("2026-03-01T00:00:00.000Z", "1339.80"),
        invoice("2026-03-14T23:59:59.999Z", "0.10"),
        invoice("2026-02-28T23:59:59.999Z", "0.20"),
        invoice("2025-03-31T23:59:59.999Z", "5.00"),  # before the window
        invoice("2026-04-01T00:00:00.000Z", "7.00"),  # after it (another clock ahead)
    ], NOW)
    assert [m.label for m in per_month] == [f"2025-{m:02d}" for m in range(4, 13)] + ["2026-01", "2026-02", "2026-03"]
    assert per_month[-1] == MonthTotal(2026, 3, 2, Decimal("1339.90"))
    assert per_month[-2] == MonthTotal(2026, 2, 1, Decimal("0.20"))
    assert all(m.count == 0 and m.total == 0 for m in per_month[:-2])
    assert all(isinstance(m.total, Decimal) for m in per_month)


def test_the_score_history_is_every_calculated_score_oldest_first() -> None:
    history = score_history([calculated("2026-03-02T10:00:00.000Z", 640, "GOOD"),
                             calculated("2026-03-01T10:00:00.000Z", 120, "POOR"),
                             Submission("p", "score", "u", "pending", 0, 0, {}, None)])
    assert history == [ScorePoint(datetime(2026, 3, 1, 10, tzinfo=UTC), 120, "POOR"),
                       ScorePoint(datetime(2026, 3, 2, 10, tzinfo=UTC), 640, "GOOD")]


def test_the_invoicing_chart_is_an_accessible_svg_with_its_title_and_description() -> None:
    root = parse(invoicing_chart(months("0", "1339.80", "250.00"), PT))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "invoicing-chart-title invoicing-chart-desc"
    assert text(root, "svg:title") == "Invoicing per month"
    assert root.find("svg:title[@id='invoicing-chart-title']", NS) is not None
    description = text(root, "svg:desc")
    assert "2 invoices for R$ 1.589,80 in all" in description and "the most in 2026-02, R$ 1.339,80" in description


def test_the_columns_heights_follow_the_totals() -> None:
    totals = ["120.00", "0", "1524.06", "800.50", "3.00", "800.49", "1000.00"]
    columns = parse(invoicing_chart(months(*totals), PT)).findall("svg:rect[@class='column']", NS)
    assert len(columns) == len(totals)
    heights = [number(c, "height") for c in columns]
    for a, b in [(a, b) for a in range(len(totals)) for b in range(len(totals)) if Decimal(totals[a]) < Decimal(totals[b])]:
        # A cent apart may be the same tenth of a pixel; otherwise more is taller.
        assert heights[a] < heights[b] or (heights[a] == heights[b] and Decimal(totals[b]) - Decimal(totals[a]) < 1)
    assert heights[1] == 0 and max(heights) == heights[2]
    assert text(columns[2], "svg:title") == "2026-03: 1 invoice, R$ 1.524,06"


def test_the_money_axis_ends_on_a_round_amount_in_the_locale() -> None:
    labels = [t.text for t in parse(invoicing_chart(months("2679.60"), LOCALES["en_US"])).findall("svg:text", NS)]
    assert labels[:3] == ["R$0.00", "R$1,500.00", "R$3,000.00"]


def test_no_invoices_yet_says_so_instead_of_drawing_nothing() -> None:
    root = parse(invoicing_chart(invoicing_per_month([], NOW), PT))
    assert text(root, "svg:title") == "Invoicing per month"
    assert text(root, "svg:desc") == "No invoices were generated from 2025-04 to 2026-03."
    assert text(root, "svg:text[@class='empty']") == "No invoices generated from 2025-04 to 2026-03 yet"
    assert root.findall("svg:rect", NS) == []


def test_the_score_chart_draws_each_score_as_a_dot_in_its_tier_on_steps() -> None:
    history = [ScorePoint(datetime(2026, 3, day, tzinfo=UTC), score, tier)
               for day, score, tier in [(1, 120, "POOR"), (2, 640, "GOOD"), (4, 800, "EXCELLENT")]]
    root = parse(score_chart(history))
    assert root.get("role") == "img" and root.get("aria-labelledby") == "score-chart-title score-chart-desc"
    assert text(root, "svg:title") == "Score history"
    assert "the latest 800 (EXCELLENT), the lowest 120, the highest 800" in text(root, "svg:desc")
    dots = root.findall("svg:circle", NS)
    assert [d.get("class") for d in dots] == ["point tier-POOR", "point tier-GOOD", "point tier-EXCELLENT"]
    xs, ys = [number(d, "cx") for d in dots], [number(d, "cy") for d in dots]
    assert xs[0] < xs[1] < xs[2] and xs[2] - xs[1] == pytest.approx(2 * (xs[1] - xs[0]), abs=0.2)  # placed by time
    assert ys[0] > ys[1] > ys[2]  # higher scores higher up
    assert root.find("svg:path[@class='step']", NS) is not None


def test_one_score_sits_in_the_middle() -> None:
    root = parse(score_chart([ScorePoint(datetime(2026, 3, 1, tzinfo=UTC), 500, "GOOD")]))
    assert text(root, "svg:desc") == "One score, calculated 2026-03-01 00:00 UTC: 500 (GOOD) out of 1000."
    assert len(root.findall("svg:circle", NS)) == 1 and root.find("svg:path", NS) is None


def test_no_score_yet_says_so() -> None:
    root = parse(score_chart([]))
    assert text(root, "svg:desc") == "No score has been calculated yet."
    assert text(root, "svg:text[@class='empty']") == "No score calculated yet"


def test_the_same_data_draws_the_same_svg_and_text_is_escaped() -> None:
    assert invoicing_chart(months("10.00"), PT) == invoicing_chart(months("10.00"), PT)
    hostile = score_chart([ScorePoint(datetime(2026, 3, 1, tzinfo=UTC), 1, "<script>")])
    assert "<script>" not in hostile
    parse(hostile)
