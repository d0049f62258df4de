"""The pages of an account's own care (accounts.py does the work): confirming the email address from its link,
asking for and using a password-reset link, changing the password, signing out everywhere."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from services.dashboard import auth
from services.dashboard.appstate import app_state
from services.dashboard.credentials import Throttled
from services.dashboard.intake import FieldError, InvalidInput, form_fields, parse_email, parse_new_password
from services.dashboard.pages import _form, render, to_login

__all__ = ["routes"]

BAD_LINK = ("This link is unknown, used already or expired. Each link works once, for a day; ask for a new one"
            " (from your account page, or with “Forgot your password?”).")


def _bad_link(request: Request) -> Response:
    return render(request, "notice.html", 400, title="Link not valid", message=BAD_LINK)


def _throttled(request: Request, template: str, throttled: Throttled, **context: object) -> Response:
    return render(request, template, 429, headers={"Retry-After": str(throttled.retry_after)},
                  errors=[FieldError("password", str(throttled))], **context)


async def verify(request: Request) -> Response:
    user = await app_state(request).accounts.verify(request.query_params.get("token", ""))
    if user is None:
        return _bad_link(request)
    return render(request, "notice.html", title="Email address confirmed",
                  message=f"{user.email} is confirmed as yours.")


async def resend(request: Request) -> Response:
    await _form(request)
    user = auth.current_user(request)
    assert user is not None  # _form refused a request without a session
    await app_state(request).accounts.resend_verification(user)
    return RedirectResponse("/account?sent", status_code=303)


async def forgot(request: Request) -> Response:
    if request.method == "GET":
        return render(request, "forgot.html")
    try:
        email = parse_email(form_fields(await _form(request, signed_in=False), {"email"}).get("email"))
    except InvalidInput as invalid:
        return render(request, "forgot.html", 422, errors=invalid.errors)
    await app_state(request).accounts.forgot(email)
    # The same words whether the address has an account or not.
    return render(request, "notice.html", title="Check your mail",
                  message=f"If {email} has an account, a link to choose a new password is on its way to it.")


async def reset(request: Request) -> Response:
    accounts = app_state(request).accounts
    if request.method == "GET":
        token = request.query_params.get("token", "")
        holder = await accounts.reset_holder(token)
        if holder is None:
            return _bad_link(request)
        return render(request, "reset.html", token=token, email=holder.email)
    pairs = await _form(request, signed_in=False)
    token = dict(pairs).get("token", "")
    holder = await accounts.reset_holder(token)
    if holder is None:
        return _bad_link(request)
    try:
        form = form_fields(pairs, {"token", "password"})  # the pairs, so that a field sent twice is refused
        password = parse_new_password(form.get("password"), holder.email, "password")
        done = await accounts.reset(holder, token, password, auth.client_address(request))
    except InvalidInput as invalid:
        return render(request, "reset.html", 422, errors=invalid.errors, token=token, email=holder.email)
    except Throttled as throttled:
        return _throttled(request, "reset.html", throttled, token=token, email=holder.email)
    if done is None:
        return _bad_link(request)
    response = RedirectResponse("/login?reset", status_code=303)
    await auth.log_out(request, response)  # whatever session this browser had ended with the others
    return response


async def account(request: Request) -> Response:
    if auth.current_user(request) is None:
        return to_login(request)
    return render(request, "account.html", sent="sent" in request.query_params,
                  changed="changed" in request.query_params)


async def change_password(request: Request) -> Response:
    pairs = await _form(request)
    user, token = auth.current_user(request), auth.session_token(request)
    assert user is not None and token is not None  # _form refused a request without a session
    try:
        form = form_fields(pairs, {"csrf_token", "current_password", "new_password"})
        new = parse_new_password(form.get("new_password"), user.email, "new_password")
        changed = await app_state(request).accounts.change_password(
            user, form.get("current_password", ""), new, auth.client_address(request), keep_token=token)
    except InvalidInput as invalid:
        return render(request, "account.html", 422, errors=invalid.errors)
    except Throttled as throttled:
        return _throttled(request, "account.html", throttled)
    if not changed:
        return render(request, "account.html", 401, errors=[FieldError("current_password", "is not your password")])
    return RedirectResponse("/account?changed", status_code=303)


async def sign_out_everywhere(request: Request) -> Response:
    await _form(request)
    user = auth.current_user(request)
    assert user is not None  # _form refused a request without a session
    await app_state(request).accounts.sign_out_everywhere(user)
    response = RedirectResponse("/login?everywhere", status_code=303)
    await auth.log_out(request, response)
    return response


routes = [
    Route("/verify", verify),
    Route("/verify/resend", resend, methods=["POST"]),
    Route("/password/forgot", forgot, methods=["GET", "POST"]),
    Route("/password/reset", reset, methods=["GET", "POST"]),
    Route("/account", account),
    Route("/account/password", change_password, methods=["POST"]),
    Route("/account/sign-out-everywhere", sign_out_everywhere, methods=["POST"]),
]
