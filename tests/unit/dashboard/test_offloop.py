"""The handlers' database calls run on a pool of threads of its own, never on the event loop, at most `threads` at once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.dashboard.db import Database, OffLoop


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    opened = Database(f"sqlite:///{tmp_path / 'dashboard.sqlite3'}", connections=2)
    yield opened
    opened.close()


def test_a_call_runs_on_the_pools_threads_and_the_loop_goes_on_meanwhile(database: Database) -> None:
    db = OffLoop(database, threads=2)

    def slow(_: Database) -> str:
        time.sleep(0.2)
        return threading.current_thread().name

    async def run() -> tuple[str, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        name = await db.run(slow)
        ticker.cancel()
        return name, ticks

    name, ticks = asyncio.run(run())
    db.close()
    assert name.startswith("database") and ticks > 5


def test_no_more_calls_run_at_once_than_the_pool_has_threads(database: Database) -> None:
    db = OffLoop(database, threads=2)
    running, most = 0, 0
    lock = threading.Lock()

    def work(_: Database) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    async def run() -> None:
        await asyncio.gather(*(db.run(work) for _ in range(8)))

    asyncio.run(run())
    db.close()
    assert most == 2


def test_its_calls_answer_as_the_database_does(database: Database) -> None:
    db = OffLoop(database, threads=1)

    async def run() -> None:
        made = await db.run(lambda database: database.users.create("7d1e0c5e-0000-4000-8000-000000000001",
                                                                   "ana@example.com", "hash"))
        assert made is not None and await db.run(lambda database: database.users.by_email("ana@example.com")) == made
        await db.run(lambda database: database.submissions.add("r1", "invoice", made.id, {"n": 1}))
        assert [r.request_id for r in await db.run(lambda database: database.submissions.newest(made.id, "invoice"))] == ["r1"]

    asyncio.run(run())
    db.close()
