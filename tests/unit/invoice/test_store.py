"""The invoice generator's partition state: one decision per (user, request), numbers without gaps,
every change recorded for the changelog, undone with a failed record, rebuilt from the changelog."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from services.invoice.store import InvoiceState

RATE = Decimal("0.0500")
NOW = datetime(2026, 12, 6, 12, 0, 0, 123456, tzinfo=UTC)
ANA, BIA = uuid.uuid4(), uuid.uuid4()


@pytest.fixture
def state(tmp_path: Path) -> InvoiceState:
    return InvoiceState(tmp_path / "p0.sqlite3", 0)


def test_numbers_are_per_user_gap_free_and_rejections_take_none(state: InvoiceState) -> None:
    assert state.decide(ANA, uuid.uuid4(), "f", True, RATE, NOW).number == 1
    assert state.decide(BIA, uuid.uuid4(), "f", False, RATE, NOW).number is None
    assert state.decide(BIA, uuid.uuid4(), "f", True, RATE, NOW).number == 1
    assert state.decide(ANA, uuid.uuid4(), "f", True, RATE, NOW).number == 2


def test_a_decision_is_found_by_user_and_request_not_by_request_alone(state: InvoiceState) -> None:
    request = uuid.uuid4()
    first = state.decide(ANA, request, "content", True, RATE, NOW)
    found = state.find(ANA, request)
    assert found is not None and (found.number, found.fingerprint, found.decided_at) == (1, "content", first.decided_at)
    assert state.find(BIA, request) is None


def test_every_change_is_recorded_for_the_changelog(state: InvoiceState) -> None:
    request = uuid.uuid4()
    state.decide(ANA, request, "f", True, RATE, NOW)
    (key, value), = state.take_changes()
    assert key == {"user_id": ANA, "request_id": request}
    assert (value["number"], value["fingerprint"], value["iss_rate"]) == (1, "f", RATE)
    assert state.take_changes() == []


def test_a_record_that_fails_after_numbering_gives_its_number_back(state: InvoiceState) -> None:
    with pytest.raises(RuntimeError), state.record():
        state.decide(ANA, uuid.uuid4(), "f", True, RATE, NOW)
        raise RuntimeError("the reply could not be encoded")
    assert state.changes == []
    with state.record():
        assert state.decide(ANA, uuid.uuid4(), "f", True, RATE, NOW).number == 1


def test_a_rolled_back_batch_leaves_nothing_and_a_committed_one_keeps_its_checkpoint(tmp_path: Path) -> None:
    state = InvoiceState(tmp_path / "p.sqlite3", 0)
    with state.record():
        state.decide(ANA, uuid.uuid4(), "f", True, RATE, NOW)
    state.rollback()  # the Kafka transaction was aborted
    assert state.last_numbers() == {} and state.checkpoint is None
    with state.record():
        state.decide(ANA, uuid.uuid4(), "f", True, RATE, NOW)
    state.commit(17)
    state.close()
    again = InvoiceState(tmp_path / "p.sqlite3", 0)
    assert again.last_numbers() == {str(ANA): 1} and again.checkpoint == 17


def test_applying_the_changelog_rebuilds_decisions_and_counters(state: InvoiceState, tmp_path: Path) -> None:
    for _ in range(3):
        state.decide(ANA, uuid.uuid4(), "f", True, RATE, NOW)
    state.decide(ANA, uuid.uuid4(), "f", False, RATE, NOW)
    changelog = state.take_changes()
    rebuilt = InvoiceState(tmp_path / "rebuilt.sqlite3", 0)
    for key, value in reversed(changelog):  # any order: the counter keeps the highest number
        rebuilt.apply(key, value)
    assert rebuilt.last_numbers() == {str(ANA): 3}
    assert rebuilt.decide(ANA, uuid.uuid4(), "f", True, RATE, NOW).number == 4
