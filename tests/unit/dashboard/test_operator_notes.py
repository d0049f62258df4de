"""The operator view says only fixed sentences after a replay, and replays a letter only to the topic it checked."""

from __future__ import annotations

import pytest

from contracts.headers import DEAD_LETTER
from messaging.deadletters import DeadLetter
from services.dashboard.operations import NotReplayed, checked_source
from services.dashboard.operator_view import note_for

TOPICS = {"generate-invoice": "generate-invoice-dead-letters", "calculate-score": "calculate-score-dead-letters"}


def test_a_code_with_a_known_topic_and_numbers_is_its_fixed_sentence() -> None:
    assert note_for({"note": "replayed", "topic": "generate-invoice", "partition": "3", "offset": "17"}, TOPICS) == (
        "replayed generate-invoice-dead-letters:3:17 to generate-invoice")
    assert note_for({"note": "bad-form"}, TOPICS) == "not replayed: the partition and the offset must be whole numbers"


@pytest.mark.parametrize("query", [
    {"note": "not replayed: call +1 555 0100 to restore your account"},  # words of a link made elsewhere
    {"note": "replayed", "topic": "<script>", "partition": "1", "offset": "2"},
    {"note": "replayed", "topic": "generate-invoice", "partition": "1; drop", "offset": "2"},
    {"note": "no-letter", "topic": "generate-invoice", "partition": "١", "offset": "2"},
    {},
])
def test_anything_else_says_nothing(query: dict[str, str]) -> None:
    assert note_for(query, TOPICS) == ""


def _letter(source: str) -> DeadLetter:
    return DeadLetter("generate-invoice-dead-letters", 0, 5, b"k", b"v", [(DEAD_LETTER.SOURCE_TOPIC.name, source.encode())])


def test_a_letter_is_replayed_only_to_the_topic_the_view_checked() -> None:
    letter = _letter("generate-invoice")
    assert checked_source(letter, "generate-invoice") is letter
    with pytest.raises(NotReplayed) as refused:
        checked_source(_letter("score-calculated"), "generate-invoice")  # its headers say whatever its writer wrote
    assert refused.value.code == "wrong-source"
