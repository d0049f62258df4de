"""An account's care in a real browser, with the mail the stack's catcher kept: confirming the address from the mailed
link, a forgotten password reset by mail, a changed password that signs out the other browser, sign out everywhere;
the operator view given by `make operator` to a verified account only, and taken back."""

from __future__ import annotations

import uuid

from playwright.sync_api import Browser, Page, expect

from tests.e2e.test_browser import DASHBOARD_URL, PASSWORD, browser, page, sign_up_and_in, snap  # noqa: F401 - fixtures
from tests.integration.mailbox import link, path_of
from tests.integration.test_accounts import operators

NEW_PASSWORD = "another long passphrase"


def email() -> str:
    return f"account-{uuid.uuid4().hex[:8]}@example.com"


def sign_in(tab: Page, address: str, password: str) -> None:
    tab.goto("/login")
    tab.get_by_label("Email").fill(address)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Sign in").click()


def test_the_mailed_link_confirms_the_address(page: Page) -> None:  # noqa: F811
    address = email()
    sign_up_and_in(page, address)
    banner = page.get_by_text(f"Confirm your email address with the link we mailed to {address}")
    expect(banner).to_be_visible()
    page.get_by_role("button", name="Send the link again").click()
    expect(page.get_by_text("A new link to confirm your address is on its way.")).to_be_visible()
    page.goto(path_of(link(address, "Confirm your email address", after=1)))  # the newer link; the first is void
    expect(page.get_by_text(f"{address} is confirmed as yours.")).to_be_visible()
    snap(page, "accounts-01-confirmed")
    page.goto("/account")
    expect(page.get_by_text("address confirmed")).to_be_visible()
    expect(banner).to_have_count(0)


def test_a_forgotten_password_is_reset_from_the_mailed_link(browser: Browser, page: Page) -> None:  # noqa: F811
    address = email()
    sign_up_and_in(page, address)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    other = browser.new_context(base_url=DASHBOARD_URL).new_page()
    other.goto("/login")
    other.get_by_role("link", name="Forgot your password?").click()
    other.get_by_label("Email").fill(address)
    other.get_by_role("button", name="Mail me a link").click()
    expect(other.get_by_text(f"If {address} has an account, a link to choose a new password is on its way")).to_be_visible()
    other.goto(path_of(link(address, "Reset your password")))
    other.get_by_label("New password").fill(NEW_PASSWORD)
    snap(other, "accounts-02-reset")
    other.get_by_role("button", name="Save the new password").click()
    expect(other.get_by_text("Password changed, and every session of the account ended")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()  # the first browser was signed out too
    sign_in(other, address, NEW_PASSWORD)
    expect(other.get_by_role("heading", name="Overview")).to_be_visible()
    expect(other.get_by_text("Confirm your email address")).to_have_count(0)  # the reset link proved the mailbox
    other.context.close()


def test_changing_the_password_signs_the_other_browser_out_and_sign_out_everywhere_ends_all(
    browser: Browser, page: Page  # noqa: F811
) -> None:
    address = email()
    sign_up_and_in(page, address)
    other = browser.new_context(base_url=DASHBOARD_URL).new_page()
    sign_in(other, address, PASSWORD)
    expect(other.get_by_role("heading", name="Overview")).to_be_visible()
    page.get_by_role("link", name="Account", exact=True).click()
    page.get_by_label("Current password").fill("not my password at all")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change the password").click()
    expect(page.get_by_text("is not your password")).to_be_visible()
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change the password").click()
    expect(page.get_by_text("Password changed. Every other session of this account has ended.")).to_be_visible()
    snap(page, "accounts-03-changed")
    other.reload()
    expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
    sign_in(other, address, NEW_PASSWORD)
    expect(other.get_by_role("heading", name="Overview")).to_be_visible()
    page.get_by_role("button", name="Sign out everywhere").click()
    expect(page.get_by_text("Every session of your account has ended, this one too.")).to_be_visible()
    other.reload()
    expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
    other.context.close()


def test_make_operator_gives_a_verified_account_the_operator_view_and_takes_it_back(page: Page) -> None:  # noqa: F811
    address = email()
    sign_up_and_in(page, address)
    refused = operators("grant", address)
    assert refused.returncode != 0 and "has not confirmed its email address" in refused.stderr
    page.goto(path_of(link(address, "Confirm your email address")))
    assert operators("grant", address).returncode == 0
    page.goto("/")
    page.get_by_role("link", name="Operator").click()
    expect(page.get_by_role("heading", name="Operator view")).to_be_visible()
    assert operators("revoke", address).returncode == 0
    page.goto("/")
    expect(page.get_by_role("link", name="Operator")).to_have_count(0)
    page.goto("/operator")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
