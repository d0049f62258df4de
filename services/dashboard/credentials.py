"""Passwords: argon2 hashes made and checked off the event loop, and sign-up and log-in attempts throttled."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.dashboard.db import Database, OffLoop, User
from services.dashboard.throttle import Throttle

__all__ = ["Credentials", "Throttled", "network"]

T = TypeVar("T")
_hasher = PasswordHasher()
# Checking unknown emails against a dummy hash keeps the response time from telling who has an account.
_DUMMY_HASH = _hasher.hash("not a real password")


class Throttled(Exception):
    """Too many attempts for this account or from this address, or every hashing thread busy; the next is
    allowed in `retry_after` seconds."""

    def __init__(self, retry_after: int, reason: str = "too many attempts") -> None:
        super().__init__(f"{reason}; try again in {retry_after} s")
        self.retry_after = retry_after


_BUSY = "the server is checking other passwords right now"
_ONE_AT_A_TIME = "another attempt from your network is being checked"


def _lower_priority() -> None:
    # Linux schedules each thread on its own, and argon2's lane threads inherit this: when the CPU is short,
    # the event loop (and every other request) goes first and only the logins wait. Elsewhere nice() would
    # lower the whole process, so it is left alone.
    if sys.platform == "linux":
        os.nice(10)


def network(address: str) -> str:
    """What an address's attempts are counted against: an IPv4 address, or an IPv6 address's /64, since
    whoever holds one address of a /64 can usually use them all."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ip.ipv4_mapped or ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _from(email: str, address: str) -> str:
    """An account's attempts from one client network: the key of its throttle."""
    return f"{email} {network(address)}"  # an email holds no space (rules.EMAIL)


class Credentials:
    """Signs people up and checks their passwords.

    An argon2 hash costs about 100 ms of CPU, so it runs on at most `threads` worker threads (argon2
    releases the GIL) while the event loop goes on serving everyone else. At most `threads` attempts are
    under way at once, at most one per client network: the next is refused at once (Throttled, one second)
    rather than queued, so a flood never builds a backlog that real users wait behind, and a flood from one
    network leaves the other threads to everyone else. Each attempt then takes a
    turn from the throttle of its account at its client's network and from its network's; a refused one raises
    Throttled and costs no hash. A successful log-in gives its turn back; failed log-ins and every sign-up count.
    Never per account alone: someone guessing an account's password from elsewhere would lock its owner out.
    """

    def __init__(self, db: OffLoop[Database], threads: int, per_account: Throttle, per_address: Throttle) -> None:
        self._db = db
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2", initializer=_lower_priority)
        self._threads = threads
        self._under_way: set[str] = set()  # the client networks with an attempt being checked
        self._per_account = per_account
        self._per_address = per_address

    async def sign_up(self, email: str, password: str, address: str) -> User | None:
        """The new user; None when the email is taken. Throttled when too many attempts came before.

        Both cases cost one hash and one attempt of the email's (a sign-up never gives its turn back), so
        neither the time taken nor the throttle tells whether the email had an account.
        """
        with self._attempt(email, address):
            password_hash = await self._off_loop(_hasher.hash, password)
        user_id = str(uuid.uuid4())
        return await self._db.run(lambda database: database.users.create(user_id, email, password_hash))

    async def verify(self, email: str, password: str, address: str) -> User | None:
        """The user whose email and password these are; None otherwise. Throttled when too many attempts came before."""
        with self._attempt(email, address):
            user = await self._db.run(lambda database: database.users.by_email(email))
            if not await self._off_loop(_matches, user.password_hash if user else _DUMMY_HASH, password) or user is None:
                return None
        self._per_account.give_back(_from(email, address))
        return user

    async def new_hash(self, email: str, password: str, address: str) -> str:
        """The hash of `email`'s new password (a reset or a change), made as a sign-up's is: a turn of the account's
        at this network and of the network's, on one of the bounded threads. Throttled when none is left."""
        with self._attempt(email, address):
            return await self._off_loop(_hasher.hash, password)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    @contextmanager
    def _attempt(self, email: str, address: str) -> Iterator[None]:
        """One attempt under way: its network's one place among the `threads` (taken or none free: Throttled,
        no turn spent), then a turn from each throttle (none left: Throttled)."""
        source, attempt = network(address), _from(email, address)
        # Only the event loop's thread reads and changes _under_way, so no lock.
        if source in self._under_way:
            raise Throttled(1, _ONE_AT_A_TIME)
        if len(self._under_way) >= self._threads:
            raise Throttled(1, _BUSY)
        wait = max(self._per_account.wait(attempt), self._per_address.wait(source))
        if wait:
            raise Throttled(wait)
        self._per_account.take(attempt)
        self._per_address.take(source)
        self._under_way.add(source)
        try:
            yield
        finally:
            self._under_way.discard(source)

    async def _off_loop(self, work: Callable[..., T], *args: str) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)
