"""Accounts for the tests that go through the running dashboard. Signing up signs no one in (its answer must not
tell whether the email already had an account), so a test signs up and then signs in."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.integration.mailbox import link, path_of

__all__ = ["PASSWORD", "new_email", "sign_up", "verify"]

PASSWORD = "a long password"  # 15 characters and not a common one: the shortest the dashboard accepts


def new_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def sign_up(client: httpx.Client, email: str | None = None, password: str = PASSWORD) -> dict[str, Any]:
    """Sign up a new account and sign `client` in to it; the user ({"id", "email"})."""
    account = {"email": email or new_email(), "password": password}
    signed_up = client.post("/api/users", json=account)
    assert signed_up.status_code == 202, signed_up.text
    signed_in = client.post("/api/session", json=account)
    assert signed_in.status_code == 200, signed_in.text
    return dict(signed_in.json())


def verify(client: httpx.Client, email: str) -> None:
    """Open the verification link the dashboard mailed to `email` at sign-up."""
    opened = client.get(path_of(link(email, "Confirm your email address")))
    assert opened.status_code == 200 and "is confirmed as yours" in opened.text, opened.text
