"""The database as the event loop uses it: each call runs the synchronous one (db.Database) on a pool of threads of
its own, so no handler waits for SQLite or PostgreSQL on the loop, and at most DATABASE_POOL_SIZE calls run at once
(the others queue for a thread)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from services.dashboard.db import Claim, Database, Request, Session, User

__all__ = ["AsyncDatabase"]

T = TypeVar("T")


class AsyncDatabase:
    """Database's methods, awaitable; `threads` of them at a time, each on a connection of its own."""

    def __init__(self, database: Database, threads: int) -> None:
        self._db = database
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="database")

    async def _run(self, method: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, method, *args)

    async def create_user(self, user_id: str, email: str, password_hash: str) -> User | None:
        return await self._run(self._db.create_user, user_id, email, password_hash)

    async def user_by_email(self, email: str) -> User | None:
        return await self._run(self._db.user_by_email, email)

    async def add_session(self, token_hash: str, user_id: str, csrf: str, expires_at_ms: int) -> None:
        await self._run(self._db.add_session, token_hash, user_id, csrf, expires_at_ms)

    async def session(self, token_hash: str) -> Session | None:
        return await self._run(self._db.session, token_hash)

    async def end_session(self, token_hash: str) -> None:
        await self._run(self._db.end_session, token_hash)

    async def forget_sessions(self) -> None:
        await self._run(self._db.forget_sessions)

    async def add_request(self, request_id: str, kind: str, user_id: str, request: dict[str, Any]) -> None:
        await self._run(self._db.add_request, request_id, kind, user_id, request)

    async def forget_request(self, request_id: str) -> None:
        await self._run(self._db.forget_request, request_id)

    async def claim_key(self, user_id: str, key: str, fingerprint: str, request_id: str,
                        expired_before_ms: int) -> Claim | None:
        return await self._run(self._db.claim_key, user_id, key, fingerprint, request_id, expired_before_ms)

    async def key_accepted(self, request_id: str) -> None:
        await self._run(self._db.key_accepted, request_id)

    async def forget_keys(self, older_than_ms: int) -> None:
        await self._run(self._db.forget_keys, older_than_ms)

    async def request(self, user_id: str, request_id: str, kind: str) -> Request | None:
        return await self._run(self._db.request, user_id, request_id, kind)

    async def requests(self, user_id: str, kind: str, limit: int = 50, offset: int = 0) -> list[Request]:
        return await self._run(self._db.requests, user_id, kind, limit, offset)

    async def latest_score(self, user_id: str) -> Request | None:
        return await self._run(self._db.latest_score, user_id)

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """`work(database, *args)` on the pool, for code that reads the database as the reply thread does
        (fragments.charts, shared by the overview and the live updates)."""
        return await self._run(work, self._db, *args)

    def close(self) -> None:
        """Let the calls under way finish, then stop the threads (the Database stays open: its owner closes it)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
