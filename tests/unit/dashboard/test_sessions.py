"""Sessions live on the server: a token names one, and ending it or its expiry signs the token out at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from services.dashboard.db import Database, OffLoop, User, engine
from services.dashboard.sessions import Sessions


@pytest.fixture
def db(database_url: str) -> Iterator[OffLoop[Database]]:
    database = Database(database_url)
    on_threads = OffLoop(database, threads=1)
    yield on_threads
    on_threads.close()
    database.close()


@pytest.fixture
def user(db: OffLoop[Database]) -> User:
    made = asyncio.run(db.run(lambda database: database.users.create("7d1e0c5e-0000-4000-8000-000000000001",
                                                                      "ana@example.com", "hash")))
    assert made is not None
    return made


def stored(database_url: str) -> list[tuple[object, ...]]:
    """The sessions table as it is stored."""
    made = engine(database_url)
    with made.connect() as connection:
        rows = [tuple(row) for row in connection.execute(text("SELECT * FROM sessions"))]
    made.dispose()
    return rows


def test_a_session_is_found_by_its_token_until_it_is_ended(db: OffLoop[Database], user: User) -> None:
    async def run() -> None:
        sessions = Sessions(db, 3600)
        token, other = await sessions.start(user), await sessions.start(user)
        found = await sessions.find(token)
        assert found is not None and found.user == user and len(found.csrf) >= 32
        await sessions.end(token)
        assert await sessions.find(token) is None
        assert await sessions.find(other) is not None  # signing out in one browser leaves the other signed in
        assert await sessions.find("made-up") is None

    asyncio.run(run())


def test_an_expired_session_signs_no_one_in_and_is_forgotten(db: OffLoop[Database], user: User, database_url: str) -> None:
    async def run() -> str:
        expired, live = await Sessions(db, 0).start(user), await Sessions(db, 3600).start(user)
        assert await Sessions(db, 3600).find(expired) is None
        await Sessions(db, 3600).forget_expired()
        assert await Sessions(db, 3600).find(live) is not None
        return live

    asyncio.run(run())
    assert len(stored(database_url)) == 1


def test_the_database_keeps_no_token(db: OffLoop[Database], user: User, database_url: str) -> None:
    token = asyncio.run(Sessions(db, 3600).start(user))
    rows = stored(database_url)
    assert rows and all(token not in str(value) for row in rows for value in row)
