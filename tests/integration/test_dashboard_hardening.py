"""No client stalls the dashboard and no input is silently changed: floods, slow and huge bodies, exact money,
strict fields and safe retries; sessions that end when they should, no requests forged from other sites, and
passwords and answers that give nothing away; against the running dashboard.

Each test comes from client addresses of its own (X-Forwarded-For, which uvicorn takes from a proxy in
FORWARDED_ALLOW_IPS, 127.0.0.1 and ::1 by default), so its throttling never touches anyone else's. A few
tests read or write the dashboard's database (DATABASE_URL, as the dashboard is given it) to set up what
HTTP cannot: an expired session, an account from before the password rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import socket
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import Connection, text

from services.dashboard.db import engine
from services.dashboard.db.sessions import FOUND_SECONDS
from services.dashboard.events import MAX_STREAMS_PER_SESSION
from services.dashboard.settings import DashboardSettings
from tests.integration.accounts import PASSWORD, new_email, sign_up
from tests.integration.conftest import DASHBOARD_URL, TWO_ITEMS, wait_for_answer
from tests.prober import Prober

HOST, PORT = httpx.URL(DASHBOARD_URL).host, httpx.URL(DASHBOARD_URL).port or 80
# The server's deadlines: the defaults, or what the environment gave it (run the tests with the same).
HEADER_TIMEOUT = float(os.environ.get("HEADER_TIMEOUT_SECONDS") or DashboardSettings.header_timeout_seconds)
BODY_TIMEOUT = float(os.environ.get("BODY_TIMEOUT_SECONDS") or DashboardSettings.body_timeout_seconds)
DASHBOARD_LOG = Path(os.environ.get("DASHBOARD_LOG", "var/log/dashboard.log"))
# The dashboard's metrics port: DASHBOARD_METRICS_PORT, by default its web port + 1000.
METRICS_URL = os.environ.get("DASHBOARD_METRICS_URL", f"http://{HOST}:{PORT + 1000}")
DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite:///var/db/dashboard.sqlite3")
FORM = "application/x-www-form-urlencoded"
INVOICE: dict[str, Any] = TWO_ITEMS


def address() -> str:
    """An IPv6 /64 of its own (attempts are counted per /64) in the documentation prefix, never routed."""
    return f"2001:db8:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}::1"


def email() -> str:
    return new_email("hardening")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


@pytest.fixture
def user() -> Iterator[httpx.Client]:
    """A signed-up user's client, coming from an address of its own."""
    with httpx.Client(base_url=DASHBOARD_URL, timeout=30, headers={"x-forwarded-for": address()}) as client:
        sign_up(client, email())
        yield client


@contextlib.contextmanager
def database() -> Iterator[Connection]:
    """The dashboard's database (SQLite or PostgreSQL), in one transaction."""
    made = engine(DATABASE_URL)
    try:
        with made.begin() as connection:
            yield connection
    finally:
        made.dispose()


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no {name} in the page"
    return found.group(1)


# --- 4. passwords off the event loop, attempts throttled -------------------------------------------------------


# The flood, from a process of its own: what the test measures is then the dashboard's doing, not its own loop's.
WRONG_LOGINS = """
import asyncio, json, sys, uuid
import httpx

async def wrong_logins(flood):
    source = f"2001:db8:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}::1"  # a /64 of its own, never routed
    answers = []
    for _ in range(5):
        response = await flood.post("/api/session", json={"email": f"flood-{uuid.uuid4().hex[:12]}@example.com",
                                    "password": "not the password"}, headers={"x-forwarded-for": source})
        answers.append((response.status_code, response.headers.get("retry-after", "")))
    return answers

async def main():
    async with httpx.AsyncClient(base_url=sys.argv[1], timeout=120, limits=httpx.Limits(max_connections=60)) as flood:
        return [answer for answers in await asyncio.gather(*(wrong_logins(flood) for _ in range(40))) for answer in answers]

print(json.dumps(asyncio.run(main())))
"""


async def _flood(client: httpx.AsyncClient) -> dict[str, Any]:
    """200 wrong logins from 40 parallel clients, each at an address of its own (so no throttle refuses them and
    each wants a hash), while /healthz is probed back to back (from a process of its own) and invoices are asked
    for, their answers pushed over an open SSE stream."""
    done, opened = asyncio.Event(), asyncio.Event()
    pushed: list[float] = []

    async def listen() -> None:
        async with client.stream("GET", "/events", timeout=None) as stream:
            async for line in stream.aiter_lines():
                opened.set()
                if line.startswith("data: "):
                    event = json.loads(line.removeprefix("data: "))
                    stored = datetime.fromisoformat(event["updated_at"].replace("Z", "+00:00")).timestamp()
                    pushed.append(time.time() - stored)  # from the reply stored to the browser, same clock

    async def ask() -> None:
        while not done.is_set():
            assert (await client.post("/api/invoices", json=INVOICE)).status_code == 202
            await asyncio.sleep(0.1)

    listener = asyncio.create_task(listen())
    await asyncio.wait_for(opened.wait(), 10)
    asker = asyncio.create_task(ask())
    with Prober(f"{DASHBOARD_URL}/healthz") as prober:
        await asyncio.sleep(1)  # probes and answers from before the flood too
        began = time.perf_counter()
        flood = await asyncio.create_subprocess_exec(sys.executable, "-c", WRONG_LOGINS, DASHBOARD_URL,
                                                     stdout=asyncio.subprocess.PIPE)
        answers = json.loads((await flood.communicate())[0])
        seconds = time.perf_counter() - began
    done.set()
    await asker
    await asyncio.sleep(1)  # the last answers
    listener.cancel()
    return {"answers": answers, "seconds": seconds, "health": prober.seconds, "pushed": pushed}


def test_a_flood_of_wrong_logins_leaves_health_checks_and_live_updates_prompt(user: httpx.Client) -> None:
    async def run() -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=DASHBOARD_URL, cookies=user.cookies, timeout=30,
                                     headers={"x-forwarded-for": address()}) as client:
            return await _flood(client)

    result = asyncio.run(run())
    answers, health, pushed = result["answers"], result["health"], result["pushed"]
    checked, refused = [a for a in answers if a[0] == 401], [a for a in answers if a[0] == 429]
    # Each wrong login is checked against a hash or, when every hashing thread is busy, refused at once with a
    # second to wait: never queued behind the others.
    assert len(answers) == 200 and len(checked) + len(refused) == 200, answers
    assert checked and all(retry == "1" for _, retry in refused), answers
    assert len(health) >= 20 and len(pushed) >= 10, "too few probes or answers to measure: is the invoice generator up?"
    print(f"\n200 wrong logins from 40 clients took {result['seconds']:.1f} s: {len(checked)} checked (401),"
          f" {len(refused)} refused at once (429); /healthz p50 {percentile(health, .5) * 1000:.1f} ms,"
          f" p99 {percentile(health, .99) * 1000:.1f} ms over {len(health)} probes; SSE push p50"
          f" {percentile(pushed, .5) * 1000:.1f} ms, p95 {percentile(pushed, .95) * 1000:.1f} ms over {len(pushed)} events")
    assert percentile(health, 0.99) < 0.050
    # A few dozen pushes: their tail is two or three of them, which scheduling hiccups of a shared machine decide
    # (CI saw 67 ms and 247 ms at p95 with the median at 10 ms); a loop stalled by hashing (100 ms of CPU each)
    # would push most of them far past this.
    assert percentile(pushed, 0.5) < 0.050


def test_wrong_logins_are_throttled_per_account_at_an_address_and_never_lock_the_owner_out() -> None:
    target, guesser, owner = email(), address(), address()
    with httpx.Client(base_url=DASHBOARD_URL, timeout=30) as client:
        assert client.post("/api/users", json={"email": target, "password": "the right one, at last"},
                           headers={"x-forwarded-for": owner}).status_code == 202
        statuses: list[int] = []
        while 429 not in statuses and len(statuses) < 50:
            statuses.append(client.post("/api/session", json={"email": target, "password": "a wrong guess"},
                                        headers={"x-forwarded-for": guesser}).status_code)
        assert set(statuses[:-1]) == {401} and statuses[-1] == 429
        refused = client.post("/api/session", json={"email": target, "password": "the right one, at last"},
                              headers={"x-forwarded-for": guesser})
        assert refused.status_code == 429  # from the guesser's address, even with the right password
        assert int(refused.headers["retry-after"]) >= 1
        assert "too many attempts" in refused.json()["error"]
        welcomed = client.post("/api/session", json={"email": target, "password": "the right one, at last"},
                               headers={"x-forwarded-for": owner})
        assert welcomed.status_code == 200, welcomed.text  # the owner, elsewhere, on the first try


def test_attempts_are_throttled_per_address_across_accounts_api_and_form() -> None:
    with httpx.Client(base_url=DASHBOARD_URL, timeout=60, headers={"x-forwarded-for": address()}) as client:
        statuses: list[int] = []
        while 429 not in statuses and len(statuses) < 500:
            statuses.append(client.post("/api/users", json={"email": email(), "password": PASSWORD}).status_code)
        assert set(statuses[:-1]) == {202} and statuses[-1] == 429
        form = client.post("/login", data={"next": "/", "email": email(), "password": "whatever it is"})
        assert form.status_code == 429 and int(form.headers["retry-after"]) >= 1
        assert "too many attempts" in form.text


# --- 5. bodies capped before they are parsed, slow clients cut off, disconnects logged briefly -----------------


def rss() -> float:
    metrics = httpx.get(f"{METRICS_URL}/metrics").text
    return float(re.search(r"^process_resident_memory_bytes (\S+)$", metrics, re.M).group(1))  # type: ignore[union-attr]


def test_a_huge_form_is_refused_before_it_is_parsed_and_costs_no_memory() -> None:
    before = rss()
    with socket.create_connection((HOST, PORT), timeout=10) as raw:  # declared: refused before a byte is read
        raw.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\ncontent-type: application/x-www-form-urlencoded\r\n"
                    b"content-length: 209715200\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 413 ")

    def fields() -> Iterator[bytes]:
        yield b"next=/"
        for n in range(200):
            yield f"&f{n}=".encode() + b"x" * 1024 * 1024

    with httpx.Client(base_url=DASHBOARD_URL, timeout=60, headers={"x-forwarded-for": address()}) as client:
        response = client.post("/login", content=fields(), headers={"content-type": FORM})  # a form it reads
    assert response.status_code == 413
    samples = []
    for _ in range(3):  # the lowest of a few: a login's argon2 buffer (64 MiB) elsewhere meanwhile is brief
        time.sleep(0.2)
        samples.append(rss())
    after = min(samples)
    assert after - before < 40 * 1024 * 1024, f"the dashboard grew by {(after - before) / 2**20:.0f} MiB"


def drip(first: bytes, drop: bytes, seconds: float) -> tuple[bytes, float]:
    """Send `first`, then one byte of `drop` a second; what the server answers and after how long."""
    with socket.create_connection((HOST, PORT), timeout=seconds + 10) as raw:
        began = time.monotonic()
        raw.sendall(first)
        raw.setblocking(False)
        for byte in drop:
            try:
                return raw.recv(4096), time.monotonic() - began  # read before writing more: no reset to lose it in
            except BlockingIOError:
                raw.sendall(bytes([byte]))
                time.sleep(1)
        raw.setblocking(True)
        return raw.recv(4096), time.monotonic() - began


def test_slow_headers_and_slow_bodies_are_cut_off() -> None:
    results: dict[str, tuple[bytes, float]] = {}
    headers = threading.Thread(target=lambda: results.update(headers=drip(
        b"GET /healthz HTTP/1.1\r\n", b"X-Slow: " + b"a" * 100, HEADER_TIMEOUT)))
    body = threading.Thread(target=lambda: results.update(body=drip(
        b"POST /api/session HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n",
        b'{"email": "' + b"a" * 100, BODY_TIMEOUT)))
    for thread in (headers, body):
        thread.start()
    for thread in (headers, body):
        thread.join(BODY_TIMEOUT + 30)
    answer, seconds = results["headers"]
    assert answer.startswith(b"HTTP/1.1 408 ") and HEADER_TIMEOUT - 1 < seconds < HEADER_TIMEOUT + 3
    answer, seconds = results["body"]
    assert answer.startswith(b"HTTP/1.1 408 ") and BODY_TIMEOUT - 1 < seconds < BODY_TIMEOUT + 3
    assert b"connection: close" in answer.lower() and b"did not arrive within" in answer


def test_a_client_gone_mid_body_is_one_short_log_line() -> None:
    assert DASHBOARD_LOG.exists(), f"no dashboard log at {DASHBOARD_LOG}: set DASHBOARD_LOG to the server's log file"
    start = DASHBOARD_LOG.stat().st_size
    sent = 1000 + uuid.uuid4().int % 50_000  # marks our line among whatever else is logged meanwhile
    with socket.create_connection((HOST, PORT), timeout=10) as raw:
        raw.sendall(b"POST /api/session HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                    b"content-length: 60000\r\n\r\n" + b"x" * sent)
        time.sleep(0.5)
    time.sleep(0.5)
    with DASHBOARD_LOG.open("rb") as log:
        log.seek(start)
        lines = [json.loads(line) for line in log if line.startswith(b"{")]
    ours = [line for line in lines if line.get("received_bytes") == sent]
    assert len(ours) == 1 and ours[0]["level"] == "info" and "exception" not in ours[0], ours
    assert len(json.dumps(ours[0])) < 400
    assert not [line for line in lines if "ClientDisconnect" in line.get("exception", "")]


# --- 6. and 7. exact money, strict fields -------------------------------------------------------------------------


def invoice_with(**item: Any) -> dict[str, Any]:
    return {**INVOICE, "items": [{**INVOICE["items"][0], **item}]}


def refused_fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    return {error["field"] for error in response.json()["errors"]}


def test_money_is_never_rounded_and_only_written_as_the_pattern_says(user: httpx.Client) -> None:
    assert refused_fields(user.post("/api/invoices", json=invoice_with(unit_price="0.0099999999999999999999999999999"))) == {
        "items[0].unit_price"}
    for written in ("1e2", "1_000", "+5", "١٢", "１２", "1,000", " 1", "1.0001"):
        refused = refused_fields(user.post("/api/invoices", json=invoice_with(quantity=written)))
        assert refused == {"items[0].quantity"}, written
    accepted = user.post("/api/invoices", json=invoice_with(quantity="2.5000", unit_price="0012.50"))
    assert accepted.status_code == 202
    stored = user.get(accepted.json()["url"]).json()["request"]["items"][0]
    assert (stored["quantity"], stored["unit_price"]) == ("2.500", "12.50")  # the same numbers, at the contract's scale


def test_unknown_fields_repeated_keys_and_hidden_characters_are_refused_by_name(user: httpx.Client) -> None:
    customer = INVOICE["customer"]
    assert refused_fields(user.post("/api/invoices", json={**INVOICE, "customer": {**customer, "email": "x"}})) == {
        "customer.email"}
    assert refused_fields(user.post("/api/invoices", json=invoice_with(discount="5"))) == {"items[0].discount"}
    assert refused_fields(user.post("/api/invoices", json={**INVOICE, "customer": {**customer, "name": "ACME\x00"}})) == {
        "customer.name"}
    assert refused_fields(user.post("/api/invoices", json=invoice_with(description="Audit \u202egnp.exe"))) == {
        "items[0].description"}
    for hidden in ("\u200b", "\u2028", "\ufeff", "\U000e0041"):  # zero-width, line separator, BOM, a tag
        assert refused_fields(user.post("/api/invoices", json=invoice_with(description=f"Audit{hidden}"))) == {
            "items[0].description"}, hidden
    repeated = user.post("/api/invoices", headers={"content-type": "application/json"},
                         content=b'{"customer": {"name": "A", "name": "B", "tax_id": "1"}, "items": []}')
    assert repeated.status_code == 400 and "'name' appears twice" in repeated.json()["error"]
    assert refused_fields(httpx.post(f"{DASHBOARD_URL}/api/users", json={"email": "a@b", "password": PASSWORD},
                                     headers={"x-forwarded-for": address()})) == {"email"}


def test_the_invoice_form_refuses_ragged_rows_and_unknown_fields(user: httpx.Client) -> None:
    page = user.get("/invoices/new").text
    form = {"csrf_token": hidden(page, "csrf_token"), "idempotency_key": hidden(page, "idempotency_key"),
            "customer_name": "ACME", "customer_tax_id": "11.222.333/0001-81"}
    ragged = [*form.items(), ("description", "One"), ("quantity", "1"), ("unit_price", "1"), ("description", "Two")]
    response = user.post("/invoices/new", content=urlencode(ragged), headers={"content-type": FORM})
    assert response.status_code == 422 and "every row needs a description, a quantity and a unit price" in response.text
    unknown = [*form.items(), ("description", "One"), ("quantity", "1"), ("unit_price", "abc"), ("discount", "9")]
    response = user.post("/invoices/new", content=urlencode(unknown), headers={"content-type": FORM})
    assert response.status_code == 422
    assert "<li>discount: is not a known field</li>" in response.text
    assert "<li>Unit price, service 1: must be a number written like" in response.text  # as the page calls it


# --- 8. safe retries ------------------------------------------------------------------------------------------------


def test_a_retried_request_with_its_idempotency_key_gets_the_first_answer(user: httpx.Client) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = user.post("/api/invoices", json=INVOICE, headers=key)
    again = user.post("/api/invoices", json=INVOICE, headers=key)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again.headers["location"] == first.headers["location"]
    assert [i["request_id"] for i in user.get("/api/invoices").json()["invoices"]] == [first.json()["request_id"]]
    other = user.post("/api/invoices", json=invoice_with(quantity="2"), headers=key)
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert "already used for a different request" in other.json()["error"]
    score_key = {"Idempotency-Key": str(uuid.uuid4())}
    first_ask, again = (user.post("/api/scores", json={}, headers=score_key) for _ in range(2))
    assert first_ask.json() == again.json()
    assert user.post("/api/invoices", json=INVOICE, headers={"Idempotency-Key": "has spaces"}).status_code == 422


def test_keys_belong_to_their_user(user: httpx.Client) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    with httpx.Client(base_url=DASHBOARD_URL, timeout=30, headers={"x-forwarded-for": address()}) as other:
        sign_up(other, email())
        theirs = other.post("/api/invoices", json=INVOICE, headers=key)
    mine = user.post("/api/invoices", json=INVOICE, headers=key)
    assert theirs.status_code == mine.status_code == 202 and theirs.json() != mine.json()


def test_a_form_sent_twice_makes_one_invoice(user: httpx.Client) -> None:
    page = user.get("/invoices/new").text
    form = {"csrf_token": hidden(page, "csrf_token"), "idempotency_key": hidden(page, "idempotency_key"),
            "customer_name": "ACME", "customer_tax_id": "11.222.333/0001-81",
            "description": "Audit", "quantity": "1", "unit_price": "100"}
    first = user.post("/invoices/new", data=form)
    again = user.post("/invoices/new", data=form)
    assert first.status_code == again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert len(user.get("/api/invoices").json()["invoices"]) == 1
    assert hidden(user.get("/invoices/new").text, "idempotency_key") != form["idempotency_key"]  # a new one per form shown


# --- 9. sessions on the server, no requests from other sites, HTTPS, no caching, metrics apart -------------------


def session_cookie(response: httpx.Response, name: str = "session") -> str:
    """The Set-Cookie line of the session cookie `name` in a response."""
    found = [line for line in response.headers.get_list("set-cookie") if line.startswith(f"{name}=")]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return found[0]


def with_cookie(token: str) -> httpx.Client:
    return httpx.Client(base_url=DASHBOARD_URL, timeout=30, cookies={"session": token},
                        headers={"x-forwarded-for": address()})


def test_signing_out_ends_the_session_at_once_and_its_old_cookie_is_refused(user: httpx.Client) -> None:
    token = user.cookies["session"]
    with with_cookie(token) as copy:
        assert copy.get("/api/invoices").status_code == 200
        signed_out = user.request("DELETE", "/api/session", json={})
        assert signed_out.status_code == 204 and "max-age=0" in session_cookie(signed_out).lower()
        assert copy.get("/api/invoices").status_code == 401  # the same cookie, kept by someone: refused
        assert copy.post("/api/scores", json={}).status_code == 401
        assert copy.get("/", follow_redirects=False).headers["location"].startswith("/login")


def test_signing_out_through_the_page_ends_the_session_too() -> None:
    account = {"email": email(), "password": PASSWORD}
    with httpx.Client(base_url=DASHBOARD_URL, timeout=30, headers={"x-forwarded-for": address()}) as browser:
        assert browser.post("/signup", data=account).headers["location"] == "/login?signed_up"
        assert "Sign-up received: we mailed a link" in browser.get("/login?signed_up").text
        assert browser.post("/login", data={**account, "next": "/score"}).headers["location"] == "/score"
        token = browser.cookies["session"]
        page = browser.get("/score").text
        assert browser.post("/logout", data={"csrf_token": "forged"}).status_code == 403  # its own token only
        assert browser.post("/logout", data={"csrf_token": hidden(page, "csrf_token")}).headers["location"] == "/login"
    with with_cookie(token) as copy:
        assert copy.get("/score", follow_redirects=False).status_code == 303


def test_an_expired_session_is_refused(user: httpx.Client) -> None:
    assert user.get("/api/invoices").status_code == 200
    token_hash = hashlib.sha256(user.cookies["session"].encode()).hexdigest()
    with database() as db:  # as if its SESSION_MAX_AGE_SECONDS had passed
        expired = db.execute(text("UPDATE sessions SET expires_at = 0 WHERE token_hash = :hash"), {"hash": token_hash})
        assert expired.rowcount == 1
    time.sleep(FOUND_SECONDS)  # another process's change: the dashboard sees it within that
    assert user.get("/api/invoices").status_code == 401


def test_a_live_stream_gets_nothing_once_its_session_is_signed_out() -> None:
    account = {"email": email(), "password": PASSWORD}
    with httpx.Client(base_url=DASHBOARD_URL, timeout=30, headers={"x-forwarded-for": address()}) as first, \
            httpx.Client(base_url=DASHBOARD_URL, timeout=30, headers={"x-forwarded-for": address()}) as second:
        sign_up(first, **account)
        assert second.post("/api/session", json=account).status_code == 200  # the same person, another browser
        lines: list[str] = []
        opened = threading.Event()

        def listen() -> None:
            with httpx.Client(base_url=DASHBOARD_URL, cookies=first.cookies, timeout=60) as sse:
                with sse.stream("GET", "/events") as stream:
                    for line in stream.iter_lines():
                        opened.set()
                        lines.append(line)

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        assert opened.wait(10)
        assert first.request("DELETE", "/api/session", json={}).status_code == 204
        answered = wait_for_answer(second, second.post("/api/invoices", json=INVOICE).json()["url"])
        listener.join(10)
        assert not listener.is_alive(), "the stream of the signed-out session is still open"
        assert not [line for line in lines if line.startswith("data:")]
        assert answered["status"] == "generated"


def invoices_of(user_id: str, kind: str) -> int:
    with database() as db:
        return int(db.execute(text("SELECT count(*) FROM requests WHERE user_id = :user_id AND kind = :kind"),
                              {"user_id": user_id, "kind": kind}).scalar_one())


CROSS_SITE = [
    {"Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example"},
    {"Sec-Fetch-Site": "same-site", "Origin": f"http://{HOST}:{PORT + 1}"},  # a sibling origin, the case
    {"Origin": "https://attacker.example"},  # a browser too old for Sec-Fetch-Site
]


def test_a_post_from_another_site_is_refused_and_makes_nothing() -> None:
    with httpx.Client(base_url=DASHBOARD_URL, timeout=30, headers={"x-forwarded-for": address()}) as client:
        user_id = sign_up(client, email())["id"]
        page = client.get("/score").text
        for headers in CROSS_SITE:
            for path, body in (("/api/invoices", INVOICE), ("/api/scores", None)):
                refused = client.post(path, json=body, headers=headers)
                assert refused.status_code == 403, (path, headers, refused.text)
                assert "came from another site" in refused.json()["error"]
            form = client.post("/score", headers=headers, data={"csrf_token": hidden(page, "csrf_token"),
                                                                 "idempotency_key": hidden(page, "idempotency_key")})
            assert form.status_code == 403  # even with the form's right token
            assert client.delete("/api/session", headers=headers).status_code == 403
        assert invoices_of(user_id, "invoice") == invoices_of(user_id, "score") == 0
        assert client.get("/api/invoices").json()["invoices"] == []  # and still signed in
        same_origin = {"Sec-Fetch-Site": "same-origin", "Origin": DASHBOARD_URL}
        assert client.post("/api/scores", json={}, headers=same_origin).status_code == 202  # this site's own pages
        assert client.post("/api/invoices", json=INVOICE).status_code == 202  # a script: no browser headers
        assert invoices_of(user_id, "invoice") == invoices_of(user_id, "score") == 1


def proxied(local_address: str) -> httpx.Client:
    """A client connecting from `local_address`, saying as a TLS-ending proxy would that the request came over HTTPS."""
    return httpx.Client(base_url=DASHBOARD_URL, timeout=30, transport=httpx.HTTPTransport(local_address=local_address),
                        headers={"x-forwarded-proto": "https", "x-forwarded-for": address()})


def test_behind_a_trusted_proxy_https_brings_a_host_prefixed_secure_cookie_and_hsts() -> None:
    account = {"email": email(), "password": PASSWORD}
    with proxied("127.0.0.1") as proxy:  # in FORWARDED_ALLOW_IPS by default
        assert proxy.post("/api/users", json=account).status_code == 202
        signed_in = proxy.post("/api/session", json=account)
        line = session_cookie(signed_in, "__Host-session").lower()  # kept by a browser only as the prefix demands:
        assert "; secure" in line and "; path=/" in line and "domain=" not in line and "; httponly" in line
        assert not [c for c in signed_in.headers.get_list("set-cookie") if c.startswith("session=")]
        token = session_cookie(signed_in, "__Host-session").split(";")[0].split("=", 1)[1]
        assert proxy.get("/api/invoices", headers={"cookie": f"__Host-session={token}"}).status_code == 200
        assert proxy.get("/api/invoices", headers={"cookie": f"session={token}"}).status_code == 401  # not read on HTTPS
        assert proxy.get("/login").headers["strict-transport-security"] == "max-age=31536000"
    with proxied("127.0.0.2") as stranger:  # not a trusted proxy: its X-Forwarded-Proto is ignored
        signed_in = stranger.post("/api/session", json=account)
        assert signed_in.status_code == 200
        assert "secure" not in session_cookie(signed_in).lower()
        assert "strict-transport-security" not in stranger.get("/login").headers
    with httpx.Client(base_url=DASHBOARD_URL, timeout=30, headers={"x-forwarded-for": address()}) as plain:
        assert "secure" not in session_cookie(plain.post("/api/session", json=account)).lower()


def test_every_private_response_is_no_store_and_none_names_the_server(user: httpx.Client) -> None:
    url = user.post("/api/invoices", json=INVOICE).json()["url"]
    invoice_page = "/invoices/" + url.rsplit("/", 1)[1]
    responses = [user.get(path) for path in ("/", "/invoices/new", invoice_page, "/score", "/contracts", "/login",
                                             "/signup", "/api/invoices", url, "/api/scores/latest", "/openapi.json",
                                             "/asyncapi.json", "/no/such/page")]
    responses += [user.post("/api/invoices", json={}), user.post("/api/scores"), user.post("/api/scores", headers=CROSS_SITE[0]),
                  httpx.get(f"{DASHBOARD_URL}/api/invoices"), user.post("/score", data={}, follow_redirects=False)]
    with user.stream("GET", "/events") as events:
        responses.append(events)
    for response in responses:
        assert response.headers.get_list("cache-control") == ["no-store"], (response.request.url, response.headers)
    for response in [*responses, user.get("/static/app.css")]:
        assert "server" not in response.headers, (response.request.url, response.headers["server"])
        assert "uvicorn" not in str(response.headers).lower()


def test_every_api_write_takes_a_json_body_even_one_that_says_nothing(user: httpx.Client) -> None:
    # A body of this type is what no other site's form can send: the check stands beside the origin check.
    for method, path in (("POST", "/api/scores"), ("DELETE", "/api/session")):
        bare = user.request(method, path)
        assert bare.status_code == 415 and bare.json()["error"] == "send the body as application/json", bare.text
        form = user.request(method, path, content=b"", headers={"content-type": "application/x-www-form-urlencoded"})
        assert form.status_code == 415
        extra = user.request(method, path, json={"user_id": "someone else"})
        assert extra.status_code == 422 and extra.json()["errors"] == [
            {"field": "user_id", "message": "is not a known field"}]
        assert user.request(method, path, json=[]).status_code == 422
    assert user.post("/api/scores", json={}).status_code == 202
    assert user.request("DELETE", "/api/session", json={}).status_code == 204


def test_a_session_holds_at_most_so_many_live_streams_and_one_closed_frees_its_place(user: httpx.Client) -> None:
    read = httpx.Timeout(10, read=60)
    with contextlib.ExitStack() as held:
        for _ in range(MAX_STREAMS_PER_SESSION):
            assert held.enter_context(user.stream("GET", "/events", timeout=read)).status_code == 200
        refused = user.get("/events")
        assert refused.status_code == 429 and refused.headers["retry-after"] == "5", refused.text
        assert "close a tab" in refused.text
        with httpx.Client(base_url=DASHBOARD_URL, timeout=30, headers={"x-forwarded-for": address()}) as other:
            sign_up(other, email())
            with other.stream("GET", "/events", timeout=read) as theirs:
                assert theirs.status_code == 200  # another session has places of its own
    # The server lets a place go when it sees the stream gone, at its next write at the latest (a keepalive: 15 s).
    def opened() -> int:
        with user.stream("GET", "/events", timeout=read) as stream:
            return stream.status_code

    deadline = time.monotonic() + 40
    while (status := opened()) == 429 and time.monotonic() < deadline:
        time.sleep(1)
    assert status == 200


def test_metrics_are_served_on_their_own_port_not_the_users() -> None:
    assert httpx.get(f"{DASHBOARD_URL}/metrics").status_code == 404
    metrics = httpx.get(f"{METRICS_URL}/metrics")
    assert metrics.status_code == 200 and "process_resident_memory_bytes" in metrics.text
    assert httpx.get(f"{METRICS_URL}/readyz").status_code == 200


# --- 10. passwords after NIST SP 800-63B rev. 4; answers that do not tell who has an account ----------------------


def sign_up_problems(password: str, account: str | None = None) -> list[str]:
    response = httpx.post(f"{DASHBOARD_URL}/api/users", json={"email": account or email(), "password": password},
                          headers={"x-forwarded-for": address()})
    if response.status_code == 202:
        return []
    assert response.status_code == 422, response.text
    return [error["message"] for error in response.json()["errors"] if error["field"] == "password"]


def test_passwords_need_fifteen_characters_and_take_sixty_four_of_anything() -> None:
    assert sign_up_problems("tiny red kettle"[:14]) == [
        "must be at least 15 characters (got 14): a few words with spaces between them make a good one"]
    assert sign_up_problems("tiny red kettle") == []  # 15
    assert sign_up_problems("ünï cödé and spaces all the way to sixty-four characters long ok?"[:64]) == []
    assert sign_up_problems("x7#" + "correct horse battery staple " * 6 + "!") == []  # 177: long ones too
    assert sign_up_problems("y" * 201) == ["must be at most 200 characters (got 201)"]


def test_a_common_password_and_the_email_itself_are_refused_with_a_reason() -> None:
    common = ("is one of the most common passwords (or one with only digits, spaces or symbols added at an end),"
              " so it is among the first an attacker tries: choose another")
    for password in ("password1234567", "1qaz2wsx3edc4rfv", "Qwerty123456789!"):
        assert sign_up_problems(password) == [common], password
    account = email()
    assert sign_up_problems(account, account) == ["must not be built from your email address: choose another"]
    assert sign_up_problems(account.upper() + " 2024", account) == ["must not be built from your email address: choose another"]
    with httpx.Client(base_url=DASHBOARD_URL, timeout=30, headers={"x-forwarded-for": address()}) as browser:
        page = browser.post("/signup", data={"email": account, "password": "password1234567"})
        assert page.status_code == 422 and "<strong>password</strong> is one of the most common passwords" in page.text


def test_an_account_made_under_the_old_eight_character_rule_still_signs_in() -> None:
    account = {"email": email(), "password": "12345678"}
    with database() as db:
        db.execute(text("INSERT INTO users (id, email, password_hash, created_at) VALUES (:id, :email, :hash, 0)"),
                   {"id": str(uuid.uuid4()), "email": account["email"], "hash": PasswordHasher().hash(account["password"])})
    with httpx.Client(base_url=DASHBOARD_URL, timeout=30, headers={"x-forwarded-for": address()}) as client:
        assert client.post("/api/session", json=account).status_code == 200
        assert client.get("/api/invoices").status_code == 200


def answer(response: httpx.Response) -> tuple[int, str, tuple[str, ...]]:
    """What a client sees of an answer, but its date: status, body and headers (Set-Cookie among them)."""
    headers = sorted(f"{name}: {value}" for name, value in response.headers.multi_items() if name != "date")
    return response.status_code, response.text, tuple(headers)


def timed(send: Any) -> tuple[httpx.Response, float]:
    began = time.perf_counter()
    response = send()
    return response, time.perf_counter() - began


def assert_alike(first: list[float], second: list[float]) -> None:
    """Medians within a third of each other: an argon2 hash (~100 ms) each, one is not skipped for either."""
    a, b = statistics.median(first), statistics.median(second)
    print(f"\nmedians {a * 1000:.0f} ms and {b * 1000:.0f} ms")
    assert max(a, b) / min(a, b) < 1.33, (first, second)


def test_signing_up_with_a_taken_email_answers_as_for_a_new_one() -> None:
    taken = email()
    with httpx.Client(base_url=DASHBOARD_URL, timeout=30) as client:
        assert client.post("/api/users", json={"email": taken, "password": PASSWORD},
                           headers={"x-forwarded-for": address()}).status_code == 202
        new, old = [], []
        for _ in range(7):  # interleaved, so load on the machine falls on both alike
            new.append(timed(lambda: client.post("/api/users", json={"email": email(), "password": "another long one"},
                                                 headers={"x-forwarded-for": address()})))
            old.append(timed(lambda: client.post("/api/users", json={"email": taken, "password": "another long one"},
                                                 headers={"x-forwarded-for": address()})))
        assert {answer(response) for response, _ in new} == {answer(response) for response, _ in old}
        assert len({answer(response) for response, _ in new}) == 1 and new[0][0].status_code == 202
        assert_alike([seconds for _, seconds in new], [seconds for _, seconds in old])
        page_new = client.post("/signup", data={"email": email(), "password": PASSWORD}, headers={"x-forwarded-for": address()})
        page_old = client.post("/signup", data={"email": taken, "password": PASSWORD}, headers={"x-forwarded-for": address()})
        assert answer(page_new) == answer(page_old)
        assert client.post("/api/session", json={"email": taken, "password": "another long one"}).status_code == 401


def test_logging_in_with_an_unknown_email_answers_as_a_wrong_password_does() -> None:
    known = email()
    with httpx.Client(base_url=DASHBOARD_URL, timeout=30) as client:
        assert client.post("/api/users", json={"email": known, "password": PASSWORD},
                           headers={"x-forwarded-for": address()}).status_code == 202
        unknown, wrong = [], []
        for _ in range(7):
            unknown.append(timed(lambda: client.post("/api/session", json={"email": email(), "password": "not the password"},
                                                     headers={"x-forwarded-for": address()})))
            wrong.append(timed(lambda: client.post("/api/session", json={"email": known, "password": "not the password"},
                                                   headers={"x-forwarded-for": address()})))
        assert {answer(response) for response, _ in unknown} == {answer(response) for response, _ in wrong}
        assert unknown[0][0].status_code == 401
        assert_alike([seconds for _, seconds in unknown], [seconds for _, seconds in wrong])
        stranger = email()
        page_unknown = client.post("/login", data={"email": stranger, "password": "not the password", "next": "/"},
                                   headers={"x-forwarded-for": address()})
        page_wrong = client.post("/login", data={"email": known, "password": "not the password", "next": "/"},
                                 headers={"x-forwarded-for": address()})
        assert page_unknown.status_code == page_wrong.status_code == 401
        assert page_unknown.headers.get_list("set-cookie") == page_wrong.headers.get_list("set-cookie") == []
        assert page_unknown.text.replace(stranger, "EMAIL") == page_wrong.text.replace(known, "EMAIL")  # shown again
