"""Invoicing score: a deterministic, explainable 0..1000 score from a user's invoice history.

Pure functions: no Kafka, no I/O and no clock (the caller passes ``now``), so the same
history and ``now`` always give the same score. Money is Decimal and all arithmetic is
int or Decimal, so no float rounding can creep into a score.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from contracts.constraints import FieldRules
from contracts.manifest import Manifest
from contracts.records import SCORE_CALCULATED, ScoreTier

__all__ = [
    "GENERATED", "REJECTED", "WINDOW",
    "Factor", "InvoiceOutcome", "Scale", "Score", "calculate_score", "tier_for",
]

GENERATED = "GENERATED"
REJECTED = "REJECTED"
WINDOW = timedelta(days=90)
WEEK = timedelta(days=7)
WEEKS = 13  # 13 weekly buckets cover the 90-day window; the oldest one is only 6 days long.

# (minimum, points): the highest row reached wins. A minimum of 0 means "more than 0",
# so a single small invoice already earns something. Tables are easy to explain.
_VOLUME_TABLE: tuple[tuple[Decimal, int], ...] = tuple(
    (Decimal(minimum), points)
    for minimum, points in (
        (0, 60), (1_000, 120), (5_000, 200), (10_000, 250),
        (20_000, 300), (50_000, 350), (100_000, 400),
    )
)
_DIVERSITY_TABLE: tuple[tuple[int, int], ...] = ((1, 40), (2, 80), (3, 120), (5, 160), (10, 200))
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Scale:
    """The score's range and its tiers, as the score_reply schema declares them: the score field's constraints, and
    each tier's lowest_score on the ScoreTier enum (highest first, so the first one reached is the tier)."""

    score: FieldRules
    bands: tuple[tuple[ScoreTier, int], ...]

    @classmethod
    def of(cls, manifest: Manifest) -> Scale:
        reply = manifest.topic(SCORE_CALCULATED).value.latest
        bands = sorted(reply.node.at("tier").schema["lowest_score"].items(), key=lambda band: band[1], reverse=True)
        return cls(reply.constraints["score"], tuple(bands))


@dataclass(frozen=True)
class InvoiceOutcome:
    """One invoice reply: issued (GENERATED, with total and customer) or REJECTED."""

    request_id: str
    status: str
    processed_at: datetime
    total: Decimal | None
    customer_tax_id: str | None

    def __post_init__(self) -> None:
        # Fail at the edge, so the scoring below can trust every fact it sees.
        if self.status not in (GENERATED, REJECTED):
            raise ValueError(f"unknown status {self.status!r}")
        if self.processed_at.utcoffset() is None:
            raise ValueError("processed_at must be timezone-aware")
        total = self.total
        if self.status == GENERATED and not (
            isinstance(total, Decimal) and total.is_finite() and total >= 0
        ):
            raise ValueError(f"an issued invoice needs a Decimal total >= 0, got {total!r}")


@dataclass(frozen=True)
class Factor:
    """One part of the score, with the numbers behind it in words."""

    name: str
    points: int
    max_points: int
    explanation: str


@dataclass(frozen=True)
class Score:
    """The score, its tier, the factors that add up to it and how many facts were used."""

    score: int
    tier: ScoreTier
    factors: tuple[Factor, ...]
    invoices_considered: int


def tier_for(scale: Scale, score: int) -> ScoreTier:
    """Name the tier of a score: the highest band whose lowest_score it reaches (the score_reply schema's bands)."""
    if problems := scale.score.problems(score):
        raise ValueError(f"score {problems[0]}")
    return next(tier for tier, lowest in scale.bands if score >= lowest)


def calculate_score(scale: Scale, history: Iterable[InvoiceOutcome], now: datetime) -> Score:
    """Score the facts in ``(now - WINDOW, now]``; older and future facts are ignored."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    recent = [fact for fact in history if now - WINDOW < fact.processed_at <= now]
    issued = [fact for fact in recent if fact.status == GENERATED]
    factors = (
        _volume(issued),
        _regularity(issued, now),
        _diversity(issued),
        _acceptance(len(issued), len(recent)),
    )
    score = sum(factor.points for factor in factors)
    return Score(score, tier_for(scale, score), factors, invoices_considered=len(recent))


def _volume(issued: list[InvoiceOutcome]) -> Factor:
    # Sorted, so the sum is the same for any order of the history even if Decimal rounds.
    total = sum(sorted(fact.total for fact in issued if fact.total is not None), Decimal(0))
    points, rule = _lookup(total, _VOLUME_TABLE, "nothing issued")
    text = f"{_brl(total)} invoiced in the last 90 days ({rule} of 400)"
    return Factor("volume_90d", points, 400, text)


def _regularity(issued: list[InvoiceOutcome], now: datetime) -> Factor:
    # Week 0 is the 7 days up to now, week 12 the oldest; timedelta // timedelta is an int.
    active = len({(now - fact.processed_at) // WEEK for fact in issued})
    points = _share(250, active, WEEKS)
    text = (
        f"invoices issued in {active} of the last {WEEKS} weeks "
        f"({active}/{WEEKS} of 250 gives {points} of 250)"
    )
    return Factor("regularity", points, 250, text)


def _diversity(issued: list[InvoiceOutcome]) -> Factor:
    count = len({fact.customer_tax_id for fact in issued if fact.customer_tax_id})
    points, rule = _lookup(count, _DIVERSITY_TABLE, "no customers")
    noun = "customer" if count == 1 else "customers"
    text = f"{count} distinct {noun} invoiced in the last 90 days ({rule} of 200)"
    return Factor("customer_diversity", points, 200, text)


def _acceptance(issued: int, requests: int) -> Factor:
    if requests == 0:
        # No requests is no evidence either way: say so rather than divide by zero.
        text = "no invoice requests in the last 90 days (gives 0 of 150)"
        return Factor("acceptance_rate", 0, 150, text)
    points = _share(150, issued, requests)
    text = (
        f"{issued} of {requests} invoice requests issued in the last 90 days "
        f"({issued}/{requests} of 150 gives {points} of 150)"
    )
    return Factor("acceptance_rate", points, 150, text)


def _lookup(
    value: Decimal | int, table: Iterable[tuple[Decimal | int, int]], nothing: str
) -> tuple[int, str]:
    """Points and rule text of the highest table row that ``value`` reaches."""
    points, rule = 0, f"{nothing} gives 0"
    for minimum, row_points in table:
        if (value > 0) if minimum == 0 else (value >= minimum):
            label = "more than 0" if minimum == 0 else f"{minimum:,} or more"
            points, rule = row_points, f"{label} gives {row_points}"
    return points, rule


def _share(max_points: int, part: int, whole: int) -> int:
    """``max_points * part / whole`` rounded half-up, in Decimal so no float is involved."""
    return int((Decimal(max_points * part) / whole).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _brl(amount: Decimal) -> str:
    """Money for people, e.g. ``R$ 12,345.67``."""
    return f"R$ {amount.quantize(_CENT, rounding=ROUND_HALF_UP):,.2f}"
