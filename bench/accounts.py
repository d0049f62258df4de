"""Signed-in users for the dashboard's measurements. Signing up signs no one in (its answer must not tell whether the
email had an account), so each account signs up, then signs in: its session cookie goes into vegeta's targets."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import httpx

__all__ = ["PASSWORD", "Account", "sign_up"]

PASSWORD = "benchmark latency"  # 15 characters or more, and not a common password: what the dashboard accepts
COOKIE = "session"


@dataclass(frozen=True)
class Account:
    id: str
    email: str
    session: str  # the value of the session cookie

    @property
    def cookie_header(self) -> str:
        return f"{COOKIE}={self.session}"


def _post(client: httpx.Client, path: str, body: dict[str, str]) -> httpx.Response:
    """POST, waiting out the dashboard's throttle of sign-up and log-in attempts (429 with Retry-After)."""
    for _ in range(5):
        response = client.post(path, json=body)
        if response.status_code != 429:
            response.raise_for_status()
            return response
        time.sleep(int(response.headers.get("Retry-After", "5")))
    response.raise_for_status()
    return response


def sign_up(base_url: str, count: int) -> list[Account]:
    """`count` new accounts on the dashboard at `base_url`, each signed in once."""
    accounts = []
    for _ in range(count):
        with httpx.Client(base_url=base_url, timeout=30) as client:
            body = {"email": f"bench-{uuid.uuid4().hex[:12]}@example.com", "password": PASSWORD}
            _post(client, "/api/users", body)
            user = _post(client, "/api/session", body).json()
            accounts.append(Account(user["id"], user["email"], client.cookies[COOKIE]))
    return accounts
