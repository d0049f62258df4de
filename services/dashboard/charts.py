"""The overview's pictures, drawn on the server as inline SVG: invoicing per month as bars and the score's history as
steps. Each has a <title> and a <desc> for screen readers; the page puts a table of the same numbers beside it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from markupsafe import Markup

from services.dashboard.db import State, Submission
from services.dashboard.formatting import Locale, money
from services.dashboard.rules import ScoreScale

__all__ = ["Charts", "MonthTotal", "ScorePoint", "drawn", "invoicing_chart", "invoicing_per_month", "months_back",
           "score_chart", "score_history"]

SVG = "http://www.w3.org/2000/svg"
WIDTH, HEIGHT = 720, 260
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class MonthTotal:
    """The invoices generated in one month (UTC): how many, and their total in BRL."""

    year: int
    month: int
    count: int
    total: Decimal

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class ScorePoint:
    at: datetime
    score: int
    tier: str

    @property
    def label(self) -> str:
        return self.at.strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Charts:
    """The numbers both pictures draw (reads.charts gathers them)."""

    months: list[MonthTotal]
    history: list[ScorePoint]


def _month_index(moment: datetime) -> int:
    return moment.year * 12 + moment.month - 1


def months_back(now: datetime, months: int = 12) -> datetime:
    """The start (UTC) of the first of the `months` months that end with `now`'s."""
    year, month = divmod(_month_index(now.astimezone(UTC)) - (months - 1), 12)
    return datetime(year, month + 1, 1, tzinfo=UTC)


def invoicing_per_month(invoices: Iterable[Mapping[str, Any]], now: datetime, months: int = 12) -> list[MonthTotal]:
    """`invoices` (as the invoice-generated contract has them) per month of issue, oldest first: the `months` months
    that end with `now`'s, those without invoices included. Invoices issued outside them are left out."""
    first = _month_index(months_back(now, months))
    counts = [0] * months
    totals = [Decimal(0)] * months
    for invoice in invoices:
        slot = _month_index(datetime.fromisoformat(invoice["issued_at"]).astimezone(UTC)) - first
        if 0 <= slot < months:
            counts[slot] += 1
            totals[slot] += Decimal(invoice["total"])
    return [MonthTotal((first + slot) // 12, (first + slot) % 12 + 1, counts[slot], totals[slot]) for slot in range(months)]


def score_history(scores: Iterable[Submission]) -> list[ScorePoint]:
    """Each calculated score among `scores`, oldest first."""
    points = [ScorePoint(datetime.fromisoformat(s.reply["calculated_at"]).astimezone(UTC), s.reply["score"], s.reply["tier"])
              for s in scores if s.status == State.CALCULATED and s.reply]
    return sorted(points, key=lambda point: point.at)


def drawn(charts: Charts, scale: ScoreScale, locale: Locale) -> dict[str, Any]:
    """The pictures and the numbers behind them, as the overview and its `charts` fragment show them."""
    return {"months": charts.months, "invoicing_chart": invoicing_chart(charts.months, locale),
            "history": charts.history, "score_chart": score_chart(charts.history, scale)}


def _px(value: float) -> str:
    return f"{value:.1f}"  # a tenth of a pixel is finer than any screen, and keeps the output short and stable


def _add(parent: ET.Element, tag: str, attributes: dict[str, str], text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    element.text = text
    return element


def _frame(chart_id: str, title: str, description: str) -> ET.Element:
    svg = ET.Element("svg", {"xmlns": SVG, "id": chart_id, "class": "chart", "viewBox": f"0 0 {WIDTH} {HEIGHT}",
                             "role": "img", "aria-labelledby": f"{chart_id}-title {chart_id}-desc"})
    _add(svg, "title", {"id": f"{chart_id}-title"}, title)
    _add(svg, "desc", {"id": f"{chart_id}-desc"}, description)
    return svg


def _empty(svg: ET.Element, message: str) -> Markup:
    _add(svg, "text", {"class": "empty", "x": _px(WIDTH / 2), "y": _px(HEIGHT / 2), "text-anchor": "middle"}, message)
    return _markup(svg)


def _markup(svg: ET.Element) -> Markup:
    # ElementTree escaped every text and attribute, so the page can take the SVG as it is.
    return Markup(ET.tostring(svg, encoding="unicode"))


def _nice_top(value: Decimal) -> Decimal:
    """The axis' top for a largest value of `value` (> 0): the least round number at least as large, a step of
    (1, 2, 3, 4, 5, 6, 8, 10) times a power of ten, so that the top and its half are easy to read."""
    power = Decimal(1).scaleb(value.adjusted())
    return next(step * power for step in (1, 2, 3, 4, 5, 6, 8, 10) if step * power >= value)


def _invoices(count: int) -> str:
    return f"{count} invoice" if count == 1 else f"{count} invoices"


def invoicing_chart(months: list[MonthTotal], locale: Locale, chart_id: str = "invoicing-chart") -> Markup:
    """Bars of each month's total in BRL, with the axis in money; a note instead when no month has an invoice."""
    count = sum(m.count for m in months)
    total = sum((m.total for m in months), Decimal(0))
    span = f"{months[0].label} to {months[-1].label}"
    if count == 0:
        return _empty(_frame(chart_id, "Invoicing per month", f"No invoices were generated from {span}."),
                      f"No invoices generated from {span} yet")
    busiest = max(months, key=lambda m: m.total)
    svg = _frame(chart_id, "Invoicing per month",
                 f"Invoices generated per month (UTC) from {span}: {_invoices(count)} for {money(total, locale)} in all;"
                 f" the most in {busiest.label}, {money(busiest.total, locale)} from {_invoices(busiest.count)}.")
    left, right, top, bottom = 112, WIDTH - 16, 16, HEIGHT - 44
    axis_top = _nice_top(busiest.total) if busiest.total > 0 else Decimal(1)
    for tick in (Decimal(0), axis_top / 2, axis_top):
        y = _px(bottom - float(tick / axis_top) * (bottom - top))
        _add(svg, "line", {"class": "grid", "x1": _px(left), "x2": _px(right), "y1": y, "y2": y})
        _add(svg, "text", {"class": "axis", "x": _px(left - 8), "y": y, "dy": "4", "text-anchor": "end"},
             money(tick, locale))
    slot = (right - left) / len(months)
    for n, month in enumerate(months):
        height = float(month.total / axis_top) * (bottom - top)  # Decimal until here: pixels need no cents
        middle = left + slot * (n + 0.5)
        column = _add(svg, "rect", {"class": "column", "x": _px(middle - slot * 0.32), "y": _px(bottom - height),
                                    "width": _px(slot * 0.64), "height": _px(height)})
        _add(column, "title", {}, f"{month.label}: {_invoices(month.count)}, {money(month.total, locale)}")
        _add(svg, "text", {"class": "axis", "x": _px(middle), "y": _px(bottom + 16), "text-anchor": "middle"},
             MONTHS[month.month - 1])
        if n == 0 or month.month == 1:
            _add(svg, "text", {"class": "axis", "x": _px(middle), "y": _px(bottom + 32), "text-anchor": "middle"},
                 str(month.year))
    return _markup(svg)


def score_chart(points: list[ScorePoint], scale: ScoreScale, chart_id: str = "score-chart") -> Markup:
    """The score over time as steps (a score holds until the next), each calculation a dot in its tier's colour,
    over the tiers' bands (`scale`, as score_reply declares them); a note instead when there is no score yet."""
    if not points:
        return _empty(_frame(chart_id, "Score history", "No score has been calculated yet."), "No score calculated yet")
    latest = points[-1]
    scores = [p.score for p in points]
    if len(points) == 1:
        description = f"One score, calculated {latest.label}: {latest.score} ({latest.tier}) out of {scale.maximum}."
    else:
        description = (f"{len(points)} scores calculated from {points[0].label} to {latest.label}, out of {scale.maximum}:"
                       f" the latest {latest.score} ({latest.tier}), the lowest {min(scores)}, the highest {max(scores)}.")
    svg = _frame(chart_id, "Score history", description)
    left, right, top, bottom = 48, WIDTH - 88, 16, HEIGHT - 44  # the tiers' names to the right

    def y_of(score: int) -> float:
        return bottom - score / scale.maximum * (bottom - top)

    for band in scale.bands:
        _add(svg, "rect", {"class": f"band band-{band.tier}", "x": _px(left), "y": _px(y_of(band.high)),
                           "width": _px(right - left), "height": _px(y_of(band.low) - y_of(band.high))})
        _add(svg, "text", {"class": "band-label", "x": _px(right + 6), "y": _px((y_of(band.low) + y_of(band.high)) / 2),
                           "dy": "4"}, band.tier)
    for score in [band.low for band in scale.bands] + [scale.maximum]:  # a tick where each band starts
        _add(svg, "text", {"class": "axis", "x": _px(left - 8), "y": _px(y_of(score)), "dy": "4", "text-anchor": "end"},
             str(score))
    # Inset from the plot's edges so the first and last dots are whole; one calculation, or all at once, sits mid-way.
    start, width = left + 12, right - left - 24
    seconds = (latest.at - points[0].at).total_seconds()

    def x_of(point: ScorePoint) -> float:
        return start + (point.at - points[0].at).total_seconds() / seconds * width if seconds else start + width / 2

    if len(points) > 1:
        steps = [f"M{_px(x_of(points[0]))},{_px(y_of(points[0].score))}"]
        steps += [f"H{_px(x_of(p))}V{_px(y_of(p.score))}" for p in points[1:]]
        _add(svg, "path", {"class": "step", "d": "".join(steps)})
    for point in points:
        dot = _add(svg, "circle", {"class": f"point tier-{point.tier}", "cx": _px(x_of(point)), "cy": _px(y_of(point.score)),
                                   "r": "4"})
        _add(dot, "title", {}, f"{point.label}: {point.score} ({point.tier})")
    labels = [(points[0], "start"), (latest, "end")] if seconds else [(latest, "middle")]
    for point, anchor in labels:
        _add(svg, "text", {"class": "axis", "x": _px(x_of(point)), "y": _px(bottom + 18), "text-anchor": anchor},
             point.label)
    return _markup(svg)
