"""Accounts people can trust, on the stack's dashboard and its mail catcher: the address verified by a mailed one-use
link, a forgotten password reset by mail (every session ended), a changed password (the other sessions ended), sign
out everywhere, and operators only among verified accounts, granted by `make operator` and audited."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import httpx

from services.dashboard.db.sessions import FOUND_SECONDS
from stack import mail
from tests.integration.accounts import PASSWORD, new_email, sign_up, verify
from tests.integration.conftest import DASHBOARD_URL
from tests.integration.mailbox import link, path_of

NEW_PASSWORD = "another long passphrase"
BANNER = "Confirm your email address"


def client(**cookies: str) -> httpx.Client:
    # An IPv6 /64 of its own, so that no other test's attempts throttle this one's (attempts count per /64).
    address = f"2001:db8:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}::1"
    return httpx.Client(base_url=DASHBOARD_URL, timeout=30, cookies=cookies, headers={"x-forwarded-for": address})


def csrf(page: str) -> str:
    marker = 'name="csrf_token" value="'
    assert marker in page
    return page.split(marker, 1)[1].split('"', 1)[0]


def signed_in(email: str, password: str = PASSWORD) -> httpx.Client:
    browser = client()
    assert browser.post("/api/session", json={"email": email, "password": password}).status_code == 200
    return browser


def operators(action: str, email: str = "") -> subprocess.CompletedProcess[str]:
    """`make operator`'s command, run; once it is over, the running dashboard has seen its change (another process's
    change to a user is seen within FOUND_SECONDS: a session found is kept that long)."""
    done = subprocess.run([sys.executable, "-m", "services.dashboard.operators", action, *([email] if email else [])],
                          capture_output=True, text=True, env=os.environ, timeout=60)
    time.sleep(FOUND_SECONDS)
    return done


def test_a_sign_up_mails_a_one_use_link_that_verifies_the_address() -> None:
    email = new_email("verify")
    with client() as browser:
        # A forged Host header does not steer the link: it starts with DASHBOARD_PUBLIC_URL.
        forged = browser.post("/api/users", json={"email": email, "password": PASSWORD}, headers={"Host": "evil.example"})
        assert forged.status_code == 202, forged.text
        assert browser.post("/api/session", json={"email": email, "password": PASSWORD}).status_code == 200
        assert BANNER in browser.get("/").text
        url = link(email, "Confirm your email address")
        assert "evil.example" not in url and "/verify?token=" in url
        (message,) = mail.messages(to=email)
        assert oct(message.path.stat().st_mode & 0o777) == "0o600"  # the catcher keeps links from other users
        assert browser.get(path_of(url)).status_code == 200
        assert BANNER not in browser.get("/").text
        assert browser.get(path_of(url)).status_code == 400  # once
        assert browser.get("/verify?token=made-up").status_code == 400


def test_signing_up_with_a_taken_address_mails_its_owner_and_answers_the_same() -> None:
    email = new_email("taken")
    with client() as first, client() as second:
        answer = first.post("/api/users", json={"email": email, "password": PASSWORD})
        again = second.post("/api/users", json={"email": email, "password": NEW_PASSWORD})
        assert (answer.status_code, answer.json()) == (again.status_code, again.json())
        link(email, "Someone tried to sign up with your address")  # the owner learns of it
        assert second.post("/api/session", json={"email": email, "password": NEW_PASSWORD}).status_code == 401


def test_a_reset_link_sets_a_new_password_verifies_and_ends_every_session() -> None:
    with client() as owner:
        email = sign_up(owner)["email"]
        other = signed_in(email)
        forgot = owner.post("/password/forgot", data={"email": email})
        unknown = owner.post("/password/forgot", data={"email": new_email("nobody")})
        assert forgot.status_code == unknown.status_code == 200  # the same words for an address without an account
        url = path_of(link(email, "Reset your password"))
        form = owner.get(url)
        assert form.status_code == 200 and email in form.text
        weak = owner.post("/password/reset", data={"token": url.split("token=")[1], "password": "password"})
        assert weak.status_code == 422  # judged as a sign-up's is; the link still works
        done = owner.post("/password/reset", data={"token": url.split("token=")[1], "password": NEW_PASSWORD})
        assert done.status_code == 303 and done.headers["location"] == "/login?reset"
        assert other.get("/api/invoices").status_code == 401  # every session ended, the one who knew the old too
        assert owner.get("/api/invoices").status_code == 401
        assert owner.get(url).status_code == 400  # once
        assert owner.post("/api/session", json={"email": email, "password": PASSWORD}).status_code == 401
        again = signed_in(email, NEW_PASSWORD)
        assert BANNER not in again.get("/").text  # the mailbox is proven
        other.close()
        again.close()


def test_changing_the_password_ends_the_other_sessions_and_keeps_this_one() -> None:
    with client() as browser:
        email = sign_up(browser)["email"]
        other = signed_in(email)
        token = csrf(browser.get("/account").text)
        wrong = browser.post("/account/password", data={"csrf_token": token, "current_password": "not it at all, no",
                                                        "new_password": NEW_PASSWORD})
        assert wrong.status_code == 401
        assert other.get("/api/invoices").status_code == 200
        changed = browser.post("/account/password", data={"csrf_token": token, "current_password": PASSWORD,
                                                          "new_password": NEW_PASSWORD})
        assert changed.status_code == 303 and changed.headers["location"] == "/account?changed"
        assert browser.get("/api/invoices").status_code == 200
        assert other.get("/api/invoices").status_code == 401
        assert browser.post("/account/password", data={"csrf_token": "forged", "current_password": NEW_PASSWORD,
                                                        "new_password": PASSWORD}).status_code == 403
        other.close()


def test_signing_out_everywhere_ends_every_session() -> None:
    with client() as browser:
        email = sign_up(browser)["email"]
        other = signed_in(email)
        out = browser.post("/account/sign-out-everywhere", data={"csrf_token": csrf(browser.get("/account").text)})
        assert out.status_code == 303 and out.headers["location"] == "/login?everywhere"
        assert browser.get("/api/invoices").status_code == 401
        assert other.get("/api/invoices").status_code == 401
        other.close()


def test_only_a_verified_account_becomes_an_operator_by_command_and_every_change_is_audited() -> None:
    with client() as browser:
        email = sign_up(browser)["email"]
        refused = operators("grant", email)
        assert refused.returncode != 0 and "has not confirmed its email address" in refused.stderr
        assert browser.get("/operator").status_code == 404
        verify(browser, email)
        granted = operators("grant", email)
        assert granted.returncode == 0 and f"{email} is an operator now" in granted.stdout, granted.stderr
        assert browser.get("/operator").status_code == 200
        assert operators("revoke", email).returncode == 0
        assert browser.get("/operator").status_code == 404
        audit = [line for line in operators("list").stdout.splitlines() if email in line]
        assert [line.split()[3] for line in audit] == ["grant", "revoke"]
        assert all("(make operator)" in line for line in audit)
        assert operators("grant", new_email("nobody")).returncode != 0
