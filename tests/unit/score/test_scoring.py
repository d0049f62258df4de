"""Unit tests for the pure invoicing score in services.score.scoring."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.manifest import load_manifest
from services.score.scoring import (
    GENERATED,
    REJECTED,
    WINDOW,
    Factor,
    InvoiceOutcome,
    Scale,
    Score,
    calculate_score,
    tier_for,
)

SCALE = Scale.of(load_manifest())
NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
FACTOR_NAMES = ("volume_90d", "regularity", "customer_diversity", "acceptance_rate")
_ids = itertools.count()

# No example database: the tests must not leave a .hypothesis directory in the project.
PROPERTY = settings(database=None, max_examples=200)


def issued(
    total: str = "100.00",
    customer: str | None = "11111111000111",
    *,
    ago: timedelta = timedelta(days=1),
) -> InvoiceOutcome:
    return InvoiceOutcome(f"req-{next(_ids)}", GENERATED, NOW - ago, Decimal(total), customer)


def rejected(*, ago: timedelta = timedelta(days=1)) -> InvoiceOutcome:
    return InvoiceOutcome(f"req-{next(_ids)}", REJECTED, NOW - ago, None, None)


def factor(score: Score, name: str) -> Factor:
    return {f.name: f for f in score.factors}[name]


def points(score: Score) -> dict[str, int]:
    return {f.name: f.points for f in score.factors}


# --- the whole score -------------------------------------------------------------------


def test_empty_history_scores_zero_and_poor_with_four_zero_factors() -> None:
    result = calculate_score(SCALE, [], NOW)

    assert result.score == 0
    assert result.tier == "POOR"
    assert result.invoices_considered == 0
    assert tuple(f.name for f in result.factors) == FACTOR_NAMES
    assert all(f.points == 0 for f in result.factors)
    assert sum(f.max_points for f in result.factors) == 1000


def test_factors_keep_their_order_and_max_points_for_any_history() -> None:
    result = calculate_score(SCALE, [issued("25000.00"), rejected()], NOW)

    assert tuple((f.name, f.max_points) for f in result.factors) == (
        ("volume_90d", 400),
        ("regularity", 250),
        ("customer_diversity", 200),
        ("acceptance_rate", 150),
    )


def test_score_is_the_sum_of_factor_points_and_names_its_tier() -> None:
    # 10 customers, one invoice of 10,000 each, one per week for 10 weeks, one rejection.
    history = [
        issued("10000.00", f"{n:014d}", ago=timedelta(days=7 * n + 1)) for n in range(10)
    ] + [rejected()]

    result = calculate_score(SCALE, history, NOW)

    assert points(result) == {
        "volume_90d": 400,  # R$ 100,000.00
        "regularity": 192,  # 250 * 10 / 13 = 192.3
        "customer_diversity": 200,
        "acceptance_rate": 136,  # 150 * 10 / 11 = 136.4
    }
    assert result.score == 928
    assert result.tier == "EXCELLENT"
    assert result.invoices_considered == 11


def test_a_perfect_history_scores_1000() -> None:
    history = [
        issued("10000.00", f"{n:014d}", ago=timedelta(days=7 * n + 1)) for n in range(13)
    ]

    assert calculate_score(SCALE, history, NOW).score == 1000


# --- volume_90d ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        ("0.00", 0),
        ("0.01", 60),
        ("999.99", 60),
        ("1000.00", 120),
        ("4999.99", 120),
        ("5000.00", 200),
        ("9999.99", 200),
        ("10000.00", 250),
        ("19999.99", 250),
        ("20000.00", 300),
        ("49999.99", 300),
        ("50000.00", 350),
        ("99999.99", 350),
        ("100000.00", 400),
        ("2500000.00", 400),
    ],
)
def test_volume_follows_the_threshold_table(total: str, expected: int) -> None:
    assert factor(calculate_score(SCALE, [issued(total)], NOW), "volume_90d").points == expected


def test_volume_adds_up_issued_invoices_and_ignores_rejected_ones() -> None:
    history = [issued("600.00"), issued("400.00"), rejected()]

    assert factor(calculate_score(SCALE, history, NOW), "volume_90d").points == 120


@pytest.mark.parametrize(
    ("totals", "explanation"),
    [
        (
            ["12345.67"],
            "R$ 12,345.67 invoiced in the last 90 days (10,000 or more gives 250 of 400)",
        ),
        (["0.50"], "R$ 0.50 invoiced in the last 90 days (more than 0 gives 60 of 400)"),
        ([], "R$ 0.00 invoiced in the last 90 days (nothing issued gives 0 of 400)"),
        (
            ["1234567.895"],  # half-up to the cent
            "R$ 1,234,567.90 invoiced in the last 90 days (100,000 or more gives 400 of 400)",
        ),
    ],
)
def test_volume_explains_amount_and_rule(totals: list[str], explanation: str) -> None:
    history = [issued(total) for total in totals]

    assert factor(calculate_score(SCALE, history, NOW), "volume_90d").explanation == explanation


# --- regularity ------------------------------------------------------------------------


def _one_invoice_in_each_of(weeks: int) -> list[InvoiceOutcome]:
    return [issued(ago=timedelta(days=7 * week + 1)) for week in range(weeks)]


@pytest.mark.parametrize(
    ("active_weeks", "expected"),
    [(0, 0), (1, 19), (2, 38), (3, 58), (6, 115), (7, 135), (11, 212), (12, 231), (13, 250)],
)
def test_regularity_is_250_times_active_weeks_over_13_rounded_half_up(
    active_weeks: int, expected: int
) -> None:
    result = calculate_score(SCALE, _one_invoice_in_each_of(active_weeks), NOW)

    assert factor(result, "regularity").points == expected


def test_regularity_counts_a_week_once_however_many_invoices_it_has() -> None:
    history = [issued(ago=timedelta(days=days)) for days in (1, 2, 6)]

    assert factor(calculate_score(SCALE, history, NOW), "regularity").points == 19


def test_regularity_weeks_are_seven_day_buckets_counted_back_from_now() -> None:
    just_inside_week_0 = issued(ago=timedelta(days=7) - timedelta(microseconds=1))
    start_of_week_1 = issued(ago=timedelta(days=7))

    result = calculate_score(SCALE, [just_inside_week_0, start_of_week_1], NOW)

    assert factor(result, "regularity").points == 38


def test_regularity_ignores_weeks_with_only_rejections() -> None:
    history = [issued(ago=timedelta(days=1)), rejected(ago=timedelta(days=8))]

    assert factor(calculate_score(SCALE, history, NOW), "regularity").points == 19


def test_regularity_explains_active_weeks() -> None:
    result = calculate_score(SCALE, _one_invoice_in_each_of(7), NOW)

    assert factor(result, "regularity").explanation == (
        "invoices issued in 7 of the last 13 weeks (7/13 of 250 gives 135 of 250)"
    )


# --- customer_diversity ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("customers", "expected"),
    [(0, 0), (1, 40), (2, 80), (3, 120), (4, 120), (5, 160), (9, 160), (10, 200), (25, 200)],
)
def test_diversity_follows_the_threshold_table(customers: int, expected: int) -> None:
    history = [issued(customer=f"{n:014d}") for n in range(customers)]

    assert factor(calculate_score(SCALE, history, NOW), "customer_diversity").points == expected


def test_diversity_counts_distinct_customers_of_issued_invoices_only() -> None:
    history = [
        issued(customer="11111111000111"),
        issued(customer="11111111000111"),
        issued(customer="22222222000122"),
        issued(customer=None),
        rejected(),
    ]

    assert factor(calculate_score(SCALE, history, NOW), "customer_diversity").points == 80


@pytest.mark.parametrize(
    ("customers", "explanation"),
    [
        (0, "0 distinct customers invoiced in the last 90 days (no customers gives 0 of 200)"),
        (1, "1 distinct customer invoiced in the last 90 days (1 or more gives 40 of 200)"),
        (4, "4 distinct customers invoiced in the last 90 days (3 or more gives 120 of 200)"),
    ],
)
def test_diversity_explains_customer_count_and_rule(customers: int, explanation: str) -> None:
    history = [issued(customer=f"{n:014d}") for n in range(customers)]

    assert factor(calculate_score(SCALE, history, NOW), "customer_diversity").explanation == explanation


# --- acceptance_rate -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("generated", "rejections", "expected"),
    [
        (1, 0, 150),
        (0, 1, 0),
        (1, 1, 75),
        (1, 2, 50),
        (2, 1, 100),
        (3, 1, 113),  # 112.5 rounds half-up, not to even
        (1, 3, 38),  # 37.5
    ],
)
def test_acceptance_is_150_times_generated_share_rounded_half_up(
    generated: int, rejections: int, expected: int
) -> None:
    history = [issued() for _ in range(generated)] + [rejected() for _ in range(rejections)]

    assert factor(calculate_score(SCALE, history, NOW), "acceptance_rate").points == expected


def test_acceptance_explains_the_share() -> None:
    history = [issued(), issued(), issued(), rejected()]

    assert factor(calculate_score(SCALE, history, NOW), "acceptance_rate").explanation == (
        "3 of 4 invoice requests issued in the last 90 days (3/4 of 150 gives 113 of 150)"
    )


def test_acceptance_without_requests_gives_zero_and_says_so() -> None:
    explanation = factor(calculate_score(SCALE, [], NOW), "acceptance_rate").explanation

    assert explanation == "no invoice requests in the last 90 days (gives 0 of 150)"


# --- the window ------------------------------------------------------------------------


def test_facts_outside_the_window_or_in_the_future_are_ignored() -> None:
    history = [
        issued("50000.00", "1", ago=WINDOW),  # exactly 90 days ago: out
        issued("50000.00", "2", ago=WINDOW + timedelta(days=30)),
        issued("50000.00", "3", ago=-timedelta(microseconds=1)),  # in the future
        rejected(ago=WINDOW),
        rejected(ago=-timedelta(days=1)),
    ]

    result = calculate_score(SCALE, history, NOW)

    assert result.score == 0
    assert result.invoices_considered == 0


def test_window_includes_now_and_the_instant_after_its_start() -> None:
    history = [
        issued("1.00", "1", ago=timedelta(0)),
        issued("1.00", "2", ago=WINDOW - timedelta(microseconds=1)),
        rejected(ago=timedelta(0)),
    ]

    result = calculate_score(SCALE, history, NOW)

    assert result.invoices_considered == 3
    assert factor(result, "customer_diversity").points == 80
    assert factor(result, "regularity").points == 38  # week 0 and week 12


# --- bad input -------------------------------------------------------------------------


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        calculate_score(SCALE, [], datetime(2025, 6, 30, 12, 0))


@pytest.mark.parametrize(
    ("status", "processed_at", "total"),
    [
        ("PENDING", NOW, None),
        (GENERATED, datetime(2025, 6, 30, 12, 0), Decimal("1.00")),  # naive
        (GENERATED, NOW, None),
        (GENERATED, NOW, Decimal("-1.00")),
        (GENERATED, NOW, Decimal("NaN")),
        (GENERATED, NOW, 1.5),  # money is never float
    ],
)
def test_invalid_facts_are_refused(status: str, processed_at: datetime, total: object) -> None:
    with pytest.raises(ValueError):
        InvoiceOutcome("req", status, processed_at, total, "1")  # type: ignore[arg-type]


# --- tiers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "tier"),
    [
        (0, "POOR"),
        (249, "POOR"),
        (250, "FAIR"),
        (499, "FAIR"),
        (500, "GOOD"),
        (749, "GOOD"),
        (750, "EXCELLENT"),
        (1000, "EXCELLENT"),
    ],
)
def test_tier_boundaries(score: int, tier: str) -> None:
    assert tier_for(SCALE, score) == tier


@pytest.mark.parametrize("score", [-1, 1001])
def test_tier_refuses_scores_outside_0_to_1000(score: int) -> None:
    with pytest.raises(ValueError):
        tier_for(SCALE, score)


# --- properties ------------------------------------------------------------------------

_MICROS_PER_DAY = 86_400 * 10**6
# Mostly around the window, with its exact edges drawn on purpose.
times = st.one_of(
    st.integers(-5 * _MICROS_PER_DAY, 100 * _MICROS_PER_DAY).map(
        lambda micros: NOW - timedelta(microseconds=micros)
    ),
    st.sampled_from([NOW, NOW - WINDOW, NOW - WINDOW + timedelta(microseconds=1)]),
)
window_times = st.integers(0, 90 * _MICROS_PER_DAY - 1).map(
    lambda micros: NOW - timedelta(microseconds=micros)
)
totals = st.decimals(
    min_value=0, max_value=200_000, places=2, allow_nan=False, allow_infinity=False
)
customers = st.sampled_from([None] + [f"{n:014d}" for n in range(12)])


@st.composite
def facts(
    draw: st.DrawFn,
    status: st.SearchStrategy[str] | None = None,
    when: st.SearchStrategy[datetime] = times,
) -> InvoiceOutcome:
    chosen = draw(status if status is not None else st.sampled_from([GENERATED, REJECTED]))
    request_id = f"req-{draw(st.integers(0, 10**6))}"
    if chosen == REJECTED:
        return InvoiceOutcome(request_id, REJECTED, draw(when), None, None)
    return InvoiceOutcome(request_id, GENERATED, draw(when), draw(totals), draw(customers))


histories = st.lists(facts(), max_size=40)


@PROPERTY
@given(histories)
def test_any_history_scores_within_bounds_and_adds_up(history: list[InvoiceOutcome]) -> None:
    result = calculate_score(SCALE, history, NOW)

    assert 0 <= result.score <= 1000
    assert result.score == sum(f.points for f in result.factors)
    assert result.tier == tier_for(SCALE, result.score)
    assert tuple(f.name for f in result.factors) == FACTOR_NAMES
    assert sum(f.max_points for f in result.factors) == 1000
    for f in result.factors:
        assert 0 <= f.points <= f.max_points
    assert result.invoices_considered == sum(NOW - WINDOW < f.processed_at <= NOW for f in history)


@PROPERTY
@given(st.data())
def test_score_does_not_depend_on_history_order(data: st.DataObject) -> None:
    history = data.draw(histories)
    shuffled = data.draw(st.permutations(history))

    assert calculate_score(SCALE, shuffled, NOW) == calculate_score(SCALE, history, NOW)


@PROPERTY
@given(histories, facts(status=st.just(GENERATED), when=window_times))
def test_one_more_issued_invoice_never_lowers_any_factor(
    history: list[InvoiceOutcome], extra: InvoiceOutcome
) -> None:
    before = points(calculate_score(SCALE, history, NOW))
    after = points(calculate_score(SCALE, [*history, extra], NOW))

    # The brief asks for volume and diversity; the other two can't drop either.
    for name in FACTOR_NAMES:
        assert after[name] >= before[name], name
