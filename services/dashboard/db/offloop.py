"""Blocking calls kept off the event loop: one generic way to run a database call on threads of its own."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Concatenate, Generic, ParamSpec, TypeVar

__all__ = ["OffLoop"]

T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")


class OffLoop(Generic[T]):
    """`held` (a Database), reached only through `run`: each call runs on a pool of `threads` threads, so no
    handler waits for SQLite or PostgreSQL on the loop, and at most `threads` calls run at once (the others queue
    for a thread)."""

    def __init__(self, held: T, threads: int, name: str = "database") -> None:
        self._held = held
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)

    async def run(self, work: Callable[Concatenate[T, P], R], *args: P.args, **kwargs: P.kwargs) -> R:
        """`work(held, *args, **kwargs)` on the pool: one repository call, or a function that reads all a page
        needs in one go."""
        call = functools.partial(work, self._held, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    def at_once(self, work: Callable[Concatenate[T, P], R], *args: P.args, **kwargs: P.kwargs) -> R:
        """`work(held, *args, **kwargs)` here, on the loop: only for a call that reads memory and never waits (a
        session kept by its repository), where the hop to a thread would cost more than the call."""
        return work(self._held, *args, **kwargs)

    def close(self) -> None:
        """Let the calls under way finish, then stop the threads (what they held stays open: its owner closes it)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
