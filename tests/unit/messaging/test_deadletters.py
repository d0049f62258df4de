"""A dead letter as the worker writes it: the original untouched after headers saying where it was and why."""

from __future__ import annotations

from contracts.headers import DEAD_LETTER
from messaging.deadletters import MAX_RECORD_BYTES, letter_for
from tests.unit.messaging.fakes import FakeMessage


def test_a_letter_carries_the_original_after_the_reasons() -> None:
    message = FakeMessage("requests", 2, 41, b"key", b"value", [("request_id", b"r-1")])
    letter = letter_for("requests-dead-letters", message, ValueError("x"), "the value is not Avro", "invoice")
    assert (letter.topic, letter.key, letter.value, letter.partition) == ("requests-dead-letters", b"key", b"value", None)
    headers = dict(letter.headers or [])
    assert [name for name, _ in letter.headers or []][: len(DEAD_LETTER.WRITTEN)] == [h.name for h in DEAD_LETTER.WRITTEN]
    assert headers[DEAD_LETTER.SOURCE_TOPIC.name] == b"requests"
    assert headers[DEAD_LETTER.SOURCE_PARTITION.name] == b"2" and headers[DEAD_LETTER.SOURCE_OFFSET.name] == b"41"
    assert headers[DEAD_LETTER.SOURCE_BYTES.name] == b"8"
    assert headers[DEAD_LETTER.ERROR_CLASS.name] == b"ValueError"
    assert headers[DEAD_LETTER.ERROR_MESSAGE.name] == b"the value is not Avro"
    assert headers[DEAD_LETTER.SERVICE.name] == b"invoice" and headers["request_id"] == b"r-1"


def test_an_original_too_large_to_carry_beside_the_reason_leaves_only_the_headers() -> None:
    message = FakeMessage("requests", 0, 7, b"key", b"x" * (MAX_RECORD_BYTES - 100))
    letter = letter_for("requests-dead-letters", message, ValueError("x"), "too big", "invoice")
    headers = dict(letter.headers or [])
    assert letter.key is None and letter.value is None
    assert DEAD_LETTER.OMITTED.name in headers and headers[DEAD_LETTER.SOURCE_BYTES.name] == str(MAX_RECORD_BYTES - 97).encode()
