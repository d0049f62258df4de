"""The invoice form as a person uses it, on a dashboard in each locale (the stack's, and one of its own in the other):
amounts written the way they write them, every problem at once beside its field, and each line's total shown as
they type, rounded as the invoice generator rounds it."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest
from confluent_kafka.admin import AdminClient
from playwright.sync_api import Browser, Page, expect

from contracts import load_manifest
from contracts.env import principal_env
from messaging.settings import Settings
from services.dashboard.formatting import LOCALES, Locale, money, quantity
from services.invoice.billing import Rules, compute_totals
from stack.paths import REPO
from tests.e2e.test_browser import DASHBOARD_URL, LOCALE, browser, sign_up_and_in, snap  # noqa: F401 - browser is a fixture
from tests.ports import free_port

RULES = Rules.of(load_manifest())  # the generator's, from the same manifest


@dataclass(frozen=True)
class Dashboard:
    url: str
    locale: Locale


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module", params=sorted(LOCALES))
def dashboard(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """The dashboard under test when it speaks this locale; otherwise one of its own that does (its database, ports
    and consumer group, as the dashboard's principal), stopped and its group deleted afterwards."""
    locale = LOCALES[request.param]
    if locale == LOCALE:
        yield Dashboard(DASHBOARD_URL, locale)
        return
    folder = tmp_path_factory.mktemp(f"dashboard-{locale.name}")
    port, group = free_port(), f"dashboard-form-{locale.name}-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, **principal_env("dashboard"), "DASHBOARD_PORT": str(port), "DASHBOARD_LOCALE": locale.name,
           "DASHBOARD_METRICS_PORT": str(free_port()), "DATABASE_URL": f"sqlite:///{folder / 'dashboard.sqlite3'}",
           "DASHBOARD_GROUP": group, "INSTANCE_ID": group}
    log = folder / "dashboard.log"
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "services.dashboard"], cwd=REPO, env=env, stdout=output,
                                   stderr=output)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _ready(url):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-1500:]
            time.sleep(0.3)
        yield Dashboard(url, locale)
    finally:
        process.terminate()
        process.wait(30)
        admin = AdminClient({**Settings.from_env().kafka_client})  # held: a client collected mid-call never answers
        admin.delete_consumer_groups([group])[group].exception(30)


@pytest.fixture
def page(browser: Browser, dashboard: Dashboard) -> Iterator[Page]:  # noqa: F811
    context = browser.new_context(base_url=dashboard.url)
    page = context.new_page()
    page.set_default_timeout(20_000)
    sign_up_and_in(page, f"form-{dashboard.locale.name}-{uuid.uuid4().hex[:8]}@example.com")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.goto("/invoices/new")
    yield page
    context.close()


def written(text: str, locale: Locale) -> str:
    """An amount written pt_BR's way ("1.234,56") as people write it in `locale`."""
    return text.translate(str.maketrans({".": locale.group, ",": locale.decimal}))


def fill_row(page: Page, index: int, description: str, quantity: str, unit_price: str) -> None:
    row = page.locator("tr.item").nth(index)
    row.get_by_label("Description").fill(description)
    row.get_by_label("Quantity").fill(quantity)
    row.get_by_label("Unit price").fill(unit_price)


def test_amounts_are_read_as_people_write_them_in_the_locale(page: Page, dashboard: Dashboard) -> None:
    locale = dashboard.locale
    page.get_by_label("Name", exact=True).fill("Padaria Pão Quente Ltda")
    page.get_by_label("CPF or CNPJ", exact=True).fill("11.222.333/0001-81")
    rows = [("Consulting", "2,5", "150,50"), ("Audit", "1", "1.234,56"), ("Training", "3", "1234,56")]
    page.get_by_role("button", name="Add a service").click()
    for index, (description, count, price) in enumerate(rows):
        fill_row(page, index, description, written(count, locale), written(price, locale))
    lines = [Decimal("376.25"), Decimal("1234.56"), Decimal("3703.68")]
    for index, line in enumerate(lines):
        expect(page.locator("tr.item").nth(index).locator("output.line-total")).to_have_text(money(line, locale))
    subtotal = money(sum(lines), locale)
    expect(page.locator("#subtotal")).to_have_text(subtotal)
    snap(page, f"14-invoice-form-{locale.name}")

    page.get_by_role("button", name="Issue invoice").click()
    expect(page.locator("[data-status]")).to_have_text("generated")
    cells = page.locator("table.lines tbody tr td")
    expect(cells).to_have_text([
        "Consulting", quantity("2.5", locale), money("150.50", locale), money("376.25", locale),
        "Audit", "1", money("1234.56", locale), money("1234.56", locale),
        "Training", "3", money("1234.56", locale), money("3703.68", locale)])
    expect(page.locator("#invoice-subtotal")).to_have_text(subtotal)  # what the form showed before sending


def test_an_ambiguous_amount_is_refused_with_a_sentence_that_says_how_to_write_it(page: Page, dashboard: Dashboard) -> None:
    locale = dashboard.locale
    page.get_by_label("Name", exact=True).fill("ACME")
    page.get_by_label("CPF or CNPJ", exact=True).fill("11222333000181")
    fill_row(page, 0, "Audit", "1", written("1.234", locale))
    expect(page.locator("tr.item").first.locator("output.line-total")).to_have_text("—")  # nothing guessed
    page.get_by_role("button", name="Issue invoice").click()
    price = page.get_by_label("Unit price, service 1", exact=True)
    expect(price).to_have_attribute("aria-invalid", "true")
    expect(price).to_have_value(written("1.234", locale))
    expect(price).to_have_accessible_description(
        f'Unit price, service 1: "{written("1.234", locale)}" could be a whole number or a fraction: write'
        f' 1234 or {written("1.234,00", locale)} for the whole number, or a fraction with at most 2 digits'
        f' after the "{locale.decimal}"')
    # The JSON API keeps its one exact format, the schema's pattern.
    api = page.request.post("/api/invoices", data={"customer": {"name": "ACME", "tax_id": "11222333000181"},
                                                   "items": [{"description": "Audit", "quantity": "1",
                                                              "unit_price": "150,50"}]})
    assert api.status == 422
    assert api.json()["errors"] == [{"field": "items[0].unit_price", "message":
                                     'must be a decimal number written like "12.50": only the digits 0-9, one optional'
                                     ' "." and an optional leading "-" (no spaces, "+", exponents or separators)'}]


def test_every_problem_is_reported_at_once_beside_its_field_and_the_first_has_the_focus(
    page: Page, dashboard: Dashboard
) -> None:
    locale = dashboard.locale
    page.get_by_label("Name", exact=True).fill("ACME")
    page.get_by_label("CPF or CNPJ", exact=True).fill("123.456.789-00")
    fill_row(page, 0, "Audit", "1", written("10,555", locale))
    fill_row(page, 1, " ", written("0,5", locale), "abc")
    page.get_by_role("button", name="Issue invoice").click()

    problems = {
        "CPF or CNPJ": "CPF or CNPJ: is not a valid CPF: wrong check digits",
        "Unit price, service 1": f'Unit price, service 1: has more than 2 digits after the "{locale.decimal}"',
        "Description, service 2": "Description, service 2: must not be blank",
        "Unit price, service 2": f"Unit price, service 2: must be a number written like {written('1.234,56', locale)}",
    }
    for label, said in problems.items():
        field = page.get_by_label(label, exact=True)
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(field).to_have_accessible_description(said)
    expect(page.locator("#form-problems li")).to_have_text(list(problems.values()))
    expect(page.get_by_label("CPF or CNPJ", exact=True)).to_be_focused()
    for label in ("Name", "Description, service 1", "Quantity, service 1", "Quantity, service 2"):
        expect(page.get_by_label(label, exact=True)).not_to_have_attribute("aria-invalid", "true")
    kept = {"Name": "ACME", "CPF or CNPJ": "123.456.789-00", "Unit price, service 1": written("10,555", locale),
            "Quantity, service 2": written("0,5", locale), "Unit price, service 2": "abc"}
    for label, value in kept.items():
        expect(page.get_by_label(label, exact=True)).to_have_value(value)
    snap(page, f"15-invoice-form-problems-{locale.name}")

    page.get_by_label("CPF or CNPJ", exact=True).fill("123.456.789-09")
    fill_row(page, 0, "Audit", "1", written("10,55", locale))
    fill_row(page, 1, "Review", written("0,5", locale), "3")
    expect(page.locator("#subtotal")).to_have_text(money("12.05", locale))
    page.get_by_role("button", name="Issue invoice").click()
    expect(page.locator("[data-status]")).to_have_text("generated")


def test_each_line_total_is_shown_as_it_is_typed_rounded_as_the_generator_rounds(page: Page, dashboard: Dashboard) -> None:
    locale = dashboard.locale
    chance = random.Random(26)
    quantity_scale, price_scale = (RULES.request[f"items[].{name}"].decimal or (0, 0) for name in ("quantity", "unit_price"))
    largest = [Decimal(10 ** precision - 1).scaleb(-scale) for precision, scale in (quantity_scale, price_scale)]
    pairs = [(Decimal("0.5"), Decimal("0.01")), (Decimal("1.5"), Decimal("0.01")), (Decimal("0.333"), Decimal("0.15")),
             (Decimal("2.005"), Decimal("0.50")), (largest[0], largest[1]), (Decimal("0.001"), Decimal("0.01"))]
    pairs += [(Decimal(chance.randrange(1, 10 ** 7)).scaleb(-quantity_scale[1]),
               Decimal(chance.randrange(0, 10 ** 8)).scaleb(-price_scale[1])) for _ in range(40)]
    row = page.locator("tr.item").first
    for count, price in pairs:
        (line,) = compute_totals(RULES, [{"description": "x", "quantity": count, "unit_price": price}], Decimal(0)).lines
        fill_row(page, 0, "x", quantity(count, locale), quantity(price, locale))
        expect(row.locator(".reading")).to_have_text(f"{quantity(line.quantity, locale)} × {money(line.unit_price, locale)}")
        expect(row.locator("output.line-total")).to_have_text(money(line.total, locale))
        expect(page.locator("#subtotal")).to_have_text(money(line.total, locale))
    fill_row(page, 1, "y", "2", written("0,125", locale))  # a third decimal the price cannot have: no total for it
    expect(page.locator("tr.item").nth(1).locator("output.line-total")).to_have_text("—")
    fill_row(page, 1, "y", "2", written("0,12", locale))
    expect(page.locator("#subtotal")).to_have_text(money(line.total + Decimal("0.24"), locale))
    page.locator("tr.item").first.get_by_role("button", name="Remove").click()
    expect(page.locator("#subtotal")).to_have_text(money("0.24", locale))
