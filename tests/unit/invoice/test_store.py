"""The idempotency store: one decision per request, numbers without gaps, undone with a failed record."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from services.invoice.store import InvoiceStore

RATE = Decimal("0.05")


@pytest.fixture
def store(tmp_path: Path) -> InvoiceStore:
    return InvoiceStore(tmp_path / "invoice.sqlite3")


def test_a_repeated_request_gets_its_first_decision_and_consumes_no_number(store: InvoiceStore) -> None:
    first = store.decide("r1", "ana", True, RATE)
    again = store.decide("r1", "ana", True, Decimal("0.02"))
    assert (first.number, again.number, again.repeated, again.iss_rate) == (1, 1, True, RATE)
    assert again.decided_at == first.decided_at
    assert store.decide("r2", "ana", True, RATE).number == 2


def test_numbers_are_per_user_and_rejections_take_none(store: InvoiceStore) -> None:
    assert store.decide("r1", "ana", True, RATE).number == 1
    assert store.decide("r2", "bia", False, RATE).number is None
    assert store.decide("r3", "bia", True, RATE).number == 1


def test_a_record_that_fails_after_numbering_gives_its_number_back(store: InvoiceStore) -> None:
    with store.batch():
        with pytest.raises(RuntimeError), store.each():
            store.decide("failed", "ana", True, RATE)
            raise RuntimeError("the reply could not be encoded")
        with store.each():
            assert store.decide("next", "ana", True, RATE).number == 1
    assert store.decide("failed", "ana", True, RATE).number == 2  # decided afresh: it was undone


def test_decisions_survive_reopening(tmp_path: Path) -> None:
    InvoiceStore(tmp_path / "s.sqlite3").decide("r1", "ana", True, RATE)
    assert InvoiceStore(tmp_path / "s.sqlite3").decide("r1", "ana", True, RATE).repeated
