"""JSON bodies read strictly, and requests submitted once per idempotency key."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, cast

import pytest
from starlette.requests import Request

from services.dashboard.actions import BadBody, KeyConflict, read_json, submit
from services.dashboard.db import Database, OffLoop, User
from services.dashboard.db.pending import PendingWriter
from services.dashboard.sender import NotSent, Sender, Unconfirmed


def read(body: bytes, content_type: str = "application/json") -> Any:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"content-type", content_type.encode())]}
    return asyncio.run(read_json(Request(scope, receive)))


def refusal(body: bytes, content_type: str = "application/json") -> tuple[int, str]:
    with pytest.raises(BadBody) as bad:
        read(body, content_type)
    return bad.value.status, str(bad.value)


def test_numbers_are_decimals_never_floats() -> None:
    assert read(b'{"a": 0.1, "b": [1]}') == {"a": Decimal("0.1"), "b": [1]}


def test_a_key_twice_in_one_object_is_refused_naming_it() -> None:
    assert refusal(b'{"items": [{"quantity": "1", "quantity": "2"}]}') == (
        400, "the key 'quantity' appears twice in one object: send each field once")


def test_what_is_not_plain_utf8_json_is_refused() -> None:
    assert refusal(b'{"a": NaN}')[0] == 400
    assert refusal('{"a": 1}'.encode("utf-16"))[0] == 400  # json.loads would have guessed the encoding
    assert refusal(b"{")[0] == 400
    assert refusal(b"{}", "text/plain")[0] == 415


class FakeSender:
    """Takes requests like the real one; `failing` refuses them before they leave, `unconfirmed` sends them without
    an acknowledgement coming back, `held` keeps them in flight until set."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.failing = False
        self.unconfirmed = False
        self.held: asyncio.Event | None = None

    async def ask(self, kind: str, user_id: str, request_id: str, value: dict[str, Any]) -> None:
        if self.held is not None:
            await self.held.wait()
        if self.failing:
            raise NotSent("no broker")
        self.asked.append(request_id)
        if self.unconfirmed:
            raise Unconfirmed("Local: Message timed out")


def send(db: OffLoop[Database], bus: FakeSender, user: User, kind: str, fields: dict[str, Any], key: str | None) -> str:
    return asyncio.run(submit(db, writer(db), cast(Sender, bus), user, kind, fields, key))


def writer(db: OffLoop[Database]) -> PendingWriter:
    """The writer of new submissions over the same database, as the app has one beside its OffLoop."""
    return WRITERS[db]


WRITERS: dict[OffLoop[Database], PendingWriter] = {}


@pytest.fixture
def db(database_url: str) -> Iterator[OffLoop[Database]]:
    """The database as the handlers have it (on SQLite, then on PostgreSQL: conftest.py)."""
    database = Database(database_url, connections=3)
    on_threads = OffLoop(database, threads=2)
    WRITERS[on_threads] = PendingWriter(database)
    yield on_threads
    WRITERS.pop(on_threads).close()
    on_threads.close()
    database.close()


def user(db: OffLoop[Database]) -> User:
    made = asyncio.run(db.run(lambda database: database.users.create(str(uuid.uuid4()), f"{uuid.uuid4()}@example.com", "hash")))
    assert made is not None
    return made


FIELDS = {"customer": {"name": "ACME", "tax_id": "1"},
          "items": [{"description": "a", "quantity": Decimal("1.000"), "unit_price": Decimal("2.00")}]}


def test_a_repeat_with_the_same_key_returns_the_first_request_and_sends_nothing(db: OffLoop[Database]) -> None:
    bus, ana = FakeSender(), user(db)
    first = send(db, bus, ana, "invoice", FIELDS, "key-1")
    again = send(db, bus, ana, "invoice", FIELDS, "key-1")
    assert again == first and bus.asked == [first]
    assert send(db, bus, ana, "invoice", FIELDS, None) != first


def test_keys_belong_to_their_user(db: OffLoop[Database]) -> None:
    bus = FakeSender()
    ids = {send(db, bus, user(db), "invoice", FIELDS, "shared") for _ in range(2)}
    assert len(ids) == 2


def test_a_key_reused_for_another_request_is_refused(db: OffLoop[Database]) -> None:
    bus, ana = FakeSender(), user(db)
    send(db, bus, ana, "invoice", FIELDS, "k")
    with pytest.raises(KeyConflict) as conflict:
        send(db, bus, ana, "score", {}, "k")
    assert conflict.value.status == 422


def test_a_request_kafka_refused_frees_its_key_for_the_retry(db: OffLoop[Database]) -> None:
    bus, ana = FakeSender(), user(db)
    bus.failing = True
    with pytest.raises(NotSent):
        send(db, bus, ana, "invoice", FIELDS, "k")
    bus.failing = False
    request_id = send(db, bus, ana, "invoice", FIELDS, "k")
    stored = asyncio.run(db.run(lambda database: database.submissions.find(ana.id, request_id, "invoice")))
    assert bus.asked == [request_id] and stored is not None


def test_a_request_kafka_did_not_confirm_is_kept_pending_and_its_key_leads_back_to_it(db: OffLoop[Database]) -> None:
    # The broker may have it (killed before it answered): forgotten, its answer would have nowhere to go, and a retry
    # would make a second invoice.
    bus, ana = FakeSender(), user(db)
    bus.unconfirmed = True
    with pytest.raises(Unconfirmed) as unconfirmed:
        send(db, bus, ana, "invoice", FIELDS, "k")
    request_id = unconfirmed.value.request_id
    assert bus.asked == [request_id] and unconfirmed.value.kind == "invoice"
    stored = asyncio.run(db.run(lambda database: database.submissions.find(ana.id, request_id, "invoice")))
    assert stored is not None and stored.status == "pending"
    bus.unconfirmed = False
    with pytest.raises(KeyConflict) as conflict:  # its key still names it: no second request
        send(db, bus, ana, "invoice", FIELDS, "k")
    assert conflict.value.status == 409 and bus.asked == [request_id]


def test_a_repeat_while_the_first_is_in_flight_is_told_to_retry(db: OffLoop[Database]) -> None:
    bus, ana = FakeSender(), user(db)

    async def both() -> tuple[Any, ...]:
        bus.held = asyncio.Event()
        first = asyncio.create_task(submit(db, writer(db), cast(Sender, bus), ana, "invoice", FIELDS, "k"))
        await asyncio.sleep(0.01)
        again = submit(db, writer(db), cast(Sender, bus), ana, "invoice", FIELDS, "k")
        second = await asyncio.gather(again, return_exceptions=True)
        bus.held.set()
        return await first, second[0]

    first, second = asyncio.run(both())
    assert isinstance(second, KeyConflict) and second.status == 409
    assert bus.asked == [first]
