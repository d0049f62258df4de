"""A person in a real browser (Debian's chromium, driven by Playwright): from sign-up to a score; and a page on a
sibling origin that cannot act for them."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from services.dashboard.formatting import locale_named, money, quantity
from stack import procs

DASHBOARD_URL = os.environ.get("DASHBOARD_URL", "http://127.0.0.1:8000")
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "test-artifacts"))
DASHBOARD_LOG = Path(os.environ.get("DASHBOARD_LOG", "var/log/dashboard.log"))
# The locale the dashboard under test writes money in: the tests read the same variable it does.
LOCALE = locale_named(os.environ.get("DASHBOARD_LOCALE", "pt_BR"))
PASSWORD = "a long password"
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling home, which this machine refuses.
# An answer may wait for a worker to take its partitions back after a test froze it (SIGSTOP): longer than
# Playwright's 5 s, on a machine running the whole suite.
expect.set_options(timeout=30_000)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no chromium at {CHROMIUM}: `make test` installs Debian's chromium, or set CHROMIUM")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(base_url=DASHBOARD_URL)
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def snap(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def sign_up_and_in(page: Page, email: str) -> None:
    page.goto("/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    snap(page, "01-signup")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Sign-up received: we mailed a link")).to_be_visible()  # the same for a taken email
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_sign_up_invoice_live_update_and_score(page: Page) -> None:
    sign_up_and_in(page, f"browser-{uuid.uuid4().hex[:8]}@example.com")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    snap(page, "02-overview-empty")

    page.get_by_role("link", name="New invoice").first.click()
    page.get_by_label("Name").fill("Padaria Pão Quente Ltda")
    page.get_by_label("CPF or CNPJ").fill("11.222.333/0001-81")
    rows = page.locator("tr.item")
    expect(rows).to_have_count(2)
    rows.nth(0).get_by_label("Description").fill("Bookkeeping, October")
    rows.nth(0).get_by_label("Quantity").fill("1")
    rows.nth(0).get_by_label("Unit price").fill(quantity("850.00", LOCALE))  # as its people write it
    rows.nth(1).get_by_label("Description").fill("Payroll processing")
    rows.nth(1).get_by_label("Quantity").fill("12")
    rows.nth(1).get_by_label("Unit price").fill(quantity("35.50", LOCALE))
    snap(page, "03-new-invoice")
    # Hold the invoice generator still, so the page is seen pending before the reply comes.
    generator = procs.running_pid("invoice")
    assert generator, "the invoice generator is not running; run `make up`"
    os.kill(generator, signal.SIGSTOP)
    try:
        page.get_by_role("button", name="Issue invoice").click()
        expect(page.locator("[data-status]")).to_have_text("pending")
        page.get_by_role("link", name="Overview").click()
        row = page.locator("#invoices tbody tr").first
        expect(row.locator("[data-status]")).to_have_text("pending")
        expect(page.locator("body[data-live=open]")).to_have_count(1)
        page.wait_for_load_state("networkidle")  # the stream's one catch-up of the page is done
        page.evaluate("() => { window.__sameDocument = true; }")
        asked = watch_requests(page)
        snap(page, "04-overview-pending")
    finally:
        os.kill(generator, signal.SIGCONT)
    expect(row.locator("[data-status]")).to_have_text("generated")
    expect(row.locator("td.num")).to_have_text(money("1339.80", LOCALE))  # the row's new total came with the event
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
    assert asked == [], f"the live update asked the server for {asked}"
    expect(page.locator("#invoicing-table tbody tr").last).to_contain_text(money("1339.80", LOCALE))  # the chart too
    snap(page, "05-overview-generated")

    row.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Nota fiscal de serviço nº 1")).to_be_visible()
    expect(page.locator("#invoice-total")).to_have_text(money("1339.80", LOCALE))  # 1276.00 + 5% ISS
    expect(page.locator("#customer-tax-id")).to_have_text("11.222.333/0001-81")
    expect(page.locator("#verification-code")).to_have_text(re.compile(r"^[0-9A-F]{4}-[0-9A-F]{4}$"))  # from v2
    snap(page, "06-invoice")
    page.emulate_media(media="print")
    snap(page, "07-invoice-print")
    page.emulate_media(media="screen")

    page.get_by_role("link", name="Score").click()
    calculator = procs.running_pid("score")
    assert calculator, "the score calculator is not running; run `make up`"
    os.kill(calculator, signal.SIGSTOP)  # so that the score is seen arriving, not already there
    try:
        page.get_by_role("button", name="Recalculate my score").click()
        expect(page.locator("tr[data-request-id] [data-status]").first).to_have_text("pending")
        expect(page.locator("body[data-live=open]")).to_have_count(1)
        page.wait_for_load_state("networkidle")
        page.evaluate("() => { window.__sameDocument = true; }")
        asked = watch_requests(page)
    finally:
        os.kill(calculator, signal.SIGCONT)
    expect(page.locator("#score-tier")).to_be_visible()
    expect(page.locator("tr[data-request-id] [data-status]").first).to_have_text("calculated")
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
    assert asked == [], f"the live update asked the server for {asked}"
    expect(page.locator("#factors tbody tr")).to_have_count(4)
    snap(page, "08-score")

    page.get_by_role("link", name="Contracts").click()
    expect(page.get_by_role("heading", name="Contracts")).to_be_visible()
    expect(page.get_by_text("generate-invoice-value").first).to_be_visible()
    snap(page, "09-contracts")


def watch_requests(page: Page) -> list[str]:
    """The URLs the page asks for from now on, but the event stream's own (it is already open)."""
    asked: list[str] = []
    page.on("request", lambda request: None if "/events?" in request.url else asked.append(request.url))
    return asked


def issue_invoice(page: Page, customer: str, tax_id: str, count: str, unit_price: str) -> None:
    page.goto("/invoices/new")
    page.get_by_label("Name").fill(customer)
    page.get_by_label("CPF or CNPJ").fill(tax_id)
    row = page.locator("tr.item").first  # the form's second row stays blank, which is no item
    row.get_by_label("Description").fill("Bookkeeping")
    row.get_by_label("Quantity").fill(count)
    row.get_by_label("Unit price").fill(quantity(unit_price, LOCALE))  # as its people write it
    page.get_by_role("button", name="Issue invoice").click()
    expect(page.locator("[data-status]")).to_have_text("generated")


def test_the_overview_draws_invoicing_per_month_and_the_score_history(page: Page) -> None:
    sign_up_and_in(page, f"charts-{uuid.uuid4().hex[:8]}@example.com")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("#invoicing-chart .empty")).to_contain_text("No invoices generated")
    expect(page.locator("#score-chart .empty")).to_have_text("No score calculated yet")

    issue_invoice(page, "Padaria Pão Quente Ltda", "11222333000181", "1", "850.00")  # 850.00 + 5% ISS = 892.50
    expect(page.locator("#customer-tax-id")).to_have_text("11.222.333/0001-81")
    issue_invoice(page, "Maria da Silva", "12345678909", "2", "35.50")  # 71.00 + 5% ISS = 74.55
    expect(page.locator("#customer-tax-id")).to_have_text("123.456.789-09")
    expect(page.locator("#invoice-total")).to_have_text(money("74.55", LOCALE))
    page.goto("/score")
    page.get_by_role("button", name="Recalculate my score").click()
    expect(page.locator("#score-tier")).to_be_visible()
    score, tier = page.locator("#score-value").inner_text().split()[0], page.locator("#score-tier").inner_text()

    page.goto("/")
    invoicing, history = page.locator("svg#invoicing-chart"), page.locator("svg#score-chart")
    expect(invoicing).to_have_attribute("role", "img")
    expect(invoicing.locator(":scope > title")).to_have_text("Invoicing per month")
    total = money(Decimal("892.50") + Decimal("74.55"), LOCALE)
    expect(invoicing.locator(":scope > desc")).to_contain_text(f"2 invoices for {total} in all")
    expect(history.locator(":scope > title")).to_have_text("Score history")
    expect(history.locator(":scope > desc")).to_contain_text(f": {score} ({tier}) out of 1000")
    expect(history.locator("circle")).to_have_count(1)
    this_month = datetime.now(UTC).strftime("%Y-%m")
    expect(page.locator("#invoicing-table tbody tr")).to_have_count(12)
    expect(page.locator("#invoicing-table tbody tr").last.locator("td")).to_have_text([this_month, "2", total])
    expect(page.locator("#score-table tbody tr")).to_have_count(1)
    expect(page.locator("#score-table tbody tr td").nth(1)).to_have_text(score)
    expect(page.locator("#score-table tbody tr td").nth(2)).to_have_text(tier)
    expect(page.locator("#invoices tbody tr").first.locator("td.num")).to_have_text(money("74.55", LOCALE))
    # The live page fetches itself once as its event stream opens, which would close the tables again: open them after.
    expect(page.locator("body[data-live=open]")).to_have_count(1)
    page.wait_for_load_state("networkidle")
    for summary in page.locator("section.charts summary").all():
        summary.click()  # the numbers beside each picture, for the screenshot
    snap(page, "10-overview-charts")
    page.locator("section.charts").screenshot(path=ARTIFACTS / "11-charts.png")


@pytest.fixture
def sibling_site() -> Iterator[str]:
    """Another origin of the same site as the dashboard (same host, another port): a page there tries to ask for a
    score as the signed-in person, by script and by form, as the page that found this hole did."""
    host = DASHBOARD_URL.split("//")[1].split(":")[0]
    attack = f"""<!doctype html><title>sibling</title>
<form id="form" method="post" action="{DASHBOARD_URL}/score"><input name="idempotency_key" value="sibling-form"></form>
<script>
fetch("{DASHBOARD_URL}/api/scores", {{method: "POST", mode: "no-cors", credentials: "include"}})
  .then(() => {{ document.title = "sent"; }}, () => {{ document.title = "failed"; }});
</script>""".encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(attack)))
            self.end_headers()
            self.wfile.write(attack)

        def log_message(self, *_: object) -> None:
            pass

    with socket.socket() as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    server = ThreadingHTTPServer((host, port), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://{host}:{port}/"
    server.shutdown()
    server.server_close()


def test_a_page_on_a_sibling_origin_cannot_ask_for_a_score_for_the_signed_in_person(page: Page, sibling_site: str) -> None:
    assert DASHBOARD_LOG.exists(), f"no dashboard log at {DASHBOARD_LOG}: set DASHBOARD_LOG to the server's log file"
    sign_up_and_in(page, f"sibling-{uuid.uuid4().hex[:8]}@example.com")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    start = DASHBOARD_LOG.stat().st_size
    page.goto(sibling_site)
    expect(page).to_have_title("sent")  # the browser sent it, cookie and all; the answer is opaque to the page
    page.evaluate("() => document.getElementById('form').submit()")
    expect(page.get_by_text("refused: this request came from another site")).to_be_visible()
    page.goto("/score")
    expect(page.get_by_role("heading", name="Your score")).to_be_visible()  # still signed in
    expect(page.locator("tr[data-request-id]")).to_have_count(0)  # and nothing was asked for
    with DASHBOARD_LOG.open("rb") as log:
        log.seek(start)
        refused = [json.loads(line) for line in log if b"refused a cross-site request" in line]
    assert {(line["path"], line["message"].rsplit(": ", 1)[1]) for line in refused} >= {
        ("/api/scores", "Sec-Fetch-Site is same-site"), ("/score", "Sec-Fetch-Site is same-site")}
