"""The HTML pages. Forms post back here; live updates come through /events."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from functools import cache
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from contracts.compat import check
from contracts.diff import field_diff
from contracts.manifest import Subject
from services.dashboard import asyncapi, auth, reads
from services.dashboard.actions import BadBody, KeyConflict, submit
from services.dashboard.appstate import app_state
from services.dashboard.charts import drawn
from services.dashboard.credentials import Throttled
from services.dashboard.db.engine import now_ms
from services.dashboard.events import MAX_STREAMS_PER_SESSION, LiveStream, stream
from services.dashboard.intake import (
    FieldError,
    InvalidInput,
    form_fields,
    invoice_form_values,
    parse_idempotency_key,
    parse_log_in,
    parse_sign_up,
)
from services.dashboard.sender import Unavailable, Unconfirmed
from services.dashboard.templating import LOCALE, templates
from services.dashboard.views import invoice_view, score_view

__all__ = ["routes"]


def render(request: Request, name: str, status: int = 200, headers: dict[str, str] | None = None,
           **context: Any) -> Response:
    user, state = auth.current_user(request), app_state(request)
    base = {"user": user, "csrf": auth.csrf_token(request), "kafka_ok": state.sender.broker_reachable,
            "operator": user is not None and user.operator,
            "invoice_rules": state.rules.request,  # the form's limits
            # A fresh key each time a form is shown: sending that form twice (a double click, a resent
            # POST after a lost answer) makes one request, the way an Idempotency-Key does for the API.
            "idempotency_key": secrets.token_urlsafe(18),
            # When the page was drawn: its live updates start from there (/events?since=), so none falls between.
            "drawn_at": now_ms()}
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status, headers=headers)


def to_login(request: Request) -> Response:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


def _safe_next(target: str | None) -> str:
    # Only local paths: a crafted ?next= must not send people to another site after they sign in.
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


def _expired_form() -> BadBody:
    return BadBody(403, "the form expired or did not come from this site; reload the page and try again")


async def _form(request: Request, *, signed_in: bool = True) -> list[tuple[str, str]]:
    """The posted form's fields, in order. A signed-in page's form must carry its session's CSRF token: a second
    lock after origins.SameOriginOnly, which every POST passed. Sign-in and sign-up forms have no session yet."""
    if signed_in and auth.current_session(request) is None:
        raise _expired_form()  # refused before its body is read
    form = await request.form(max_files=0, max_fields=1000)
    if signed_in and not auth.valid_csrf(request, form.get("csrf_token")):
        raise _expired_form()
    return [(name, value) for name, value in form.multi_items() if isinstance(value, str)]


async def _credentials(request: Request, template: str, known: set[str],
                       parse: Callable[[Any], tuple[str, str]]) -> tuple[dict[str, str], tuple[str, str] | Response]:
    """The posted form and its (email, password), or the page again with the errors."""
    pairs = await _form(request, signed_in=False)
    try:
        form = form_fields(pairs, known)
        return form, parse({"email": form.get("email"), "password": form.get("password")})
    except InvalidInput as invalid:
        return {}, render(request, template, 422, errors=invalid.errors, email=dict(pairs).get("email", ""))


def _throttled(request: Request, template: str, throttled: Throttled, email: str) -> Response:
    return render(request, template, 429, headers={"Retry-After": str(throttled.retry_after)},
                  errors=[FieldError("email", str(throttled))], email=email)


# What the sign-in page says after another page sent people to it: fixed sentences, never text from the link.
LOGIN_NOTICES = {
    "signed_up": "Sign-up received: we mailed a link to confirm your address; you can sign in now. If this email"
                 " already had an account, it keeps its own password (and its owner got a note).",
    "reset": "Password changed, and every session of the account ended: sign in with the new one.",
    "everywhere": "Every session of your account has ended, this one too.",
}


async def login(request: Request) -> Response:
    if request.method == "GET":
        notice = next((text for code, text in LOGIN_NOTICES.items() if code in request.query_params), None)
        return render(request, "login.html", next=_safe_next(request.query_params.get("next")), notice=notice)
    form, credentials = await _credentials(request, "login.html", {"next", "email", "password"}, parse_log_in)
    if isinstance(credentials, Response):
        return credentials
    email, password = credentials
    try:
        user = await app_state(request).credentials.verify(email, password, auth.client_address(request))
    except Throttled as throttled:
        return _throttled(request, "login.html", throttled, email)
    if user is None:  # the same for an unknown email, in the same time (credentials.py)
        return render(request, "login.html", 401, errors=[FieldError("email", "wrong email or password")], email=email)
    response = RedirectResponse(_safe_next(form.get("next", "/")), status_code=303)
    await auth.log_in(request, response, user)
    return response


async def signup(request: Request) -> Response:
    if request.method == "GET":
        return render(request, "signup.html")
    _, credentials = await _credentials(request, "signup.html", {"email", "password"}, parse_sign_up)
    if isinstance(credentials, Response):
        return credentials
    email, password = credentials
    try:
        await app_state(request).accounts.sign_up(email, password, auth.client_address(request))
    except Throttled as throttled:
        return _throttled(request, "signup.html", throttled, email)
    # The same answer whether the email was new or had an account (which is nobody's business): sign in next.
    return RedirectResponse("/login?signed_up", status_code=303)


async def logout(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    if auth.current_session(request) is not None:
        await _form(request)  # the form's token must be its session's
    await auth.log_out(request, response)
    return response


async def overview(request: Request) -> Response:
    user = auth.current_user(request)
    if user is None:
        return to_login(request)
    state = app_state(request)
    found = await state.db.run(reads.overview, user.id)
    return render(request, "overview.html", invoices=[invoice_view(s) for s in found.invoices],
                  score=score_view(found.latest_score) if found.latest_score else None,
                  **drawn(found.charts, state.rules.scale, LOCALE))


# What a form sent twice with one key is told: another request with it (422), or its first still in flight (409).
RESENT = {422: "this form was sent before with other values; check them and send it again to make a new request",
          409: "this form is already being sent; wait a moment, then look for its answer"}


def _form_key(pairs: list[tuple[str, str]]) -> str | None:
    return parse_idempotency_key(dict(pairs).get("idempotency_key"), "idempotency_key")


async def new_invoice(request: Request) -> Response:
    user = auth.current_user(request)
    if user is None:
        return to_login(request)
    state = app_state(request)
    form = state.invoice_form
    if request.method == "GET":
        return render(request, "invoice_new.html", values={"items": [{}, {}]}, shown=form.shown())
    pairs = await _form(request)
    values = invoice_form_values(pairs)
    try:
        fields = form.read(pairs)
        request_id = await submit(state.db, state.pending, state.sender, user, "invoice", fields, _form_key(pairs))
    except InvalidInput as invalid:
        return render(request, "invoice_new.html", 422, values=values, shown=form.shown(invalid.errors))
    except KeyConflict as conflict:
        return render(request, "invoice_new.html", conflict.status, values=values, shown=form.shown(),
                      errors=[FieldError("form", RESENT[conflict.status])])
    except Unconfirmed as unconfirmed:  # Kafka may have it: its page shows it answered, or timed out
        return RedirectResponse(f"/invoices/{unconfirmed.request_id}", status_code=303)
    except Unavailable:
        return render(request, "invoice_new.html", 503, values=values, shown=form.shown(),
                      errors=[FieldError("kafka", "the request could not be sent just now; nothing was sent, try again")])
    return RedirectResponse(f"/invoices/{request_id}", status_code=303)


async def invoice(request: Request) -> Response:
    user = auth.current_user(request)
    if user is None:
        return to_login(request)
    request_id = request.path_params["request_id"]
    found = await app_state(request).db.run(lambda database: database.submissions.find(user.id, request_id, "invoice"))
    if found is None:
        return render(request, "not_found.html", 404)
    return render(request, "invoice.html", invoice=invoice_view(found))


async def score(request: Request) -> Response:
    user = auth.current_user(request)
    if user is None:
        return to_login(request)
    state = app_state(request)
    if request.method == "POST":
        pairs = await _form(request)
        try:
            form_fields(pairs, {"csrf_token", "idempotency_key"})
            await submit(state.db, state.pending, state.sender, user, "score", {}, _form_key(pairs))
        except InvalidInput as invalid:
            return render(request, "score.html", 422, scores=[], errors=invalid.errors)
        except KeyConflict as conflict:
            return render(request, "score.html", conflict.status, scores=[],
                          errors=[FieldError("form", RESENT[conflict.status])])
        except Unconfirmed:  # Kafka may have it: the list shows it answered, or timed out
            return RedirectResponse("/score", status_code=303)
        except Unavailable:
            return render(request, "score.html", 503, scores=[],
                          errors=[FieldError("kafka", "the request could not be sent just now; try again")])
        return RedirectResponse("/score", status_code=303)
    found = await state.db.run(reads.score_page, user.id)
    return render(request, "score.html", scores=[score_view(s) for s in found.scores],
                  latest=score_view(found.latest_score) if found.latest_score else None)


@cache  # the published versions do not change while the process runs; each check walks every version
def _history(subject: Subject[object]) -> list[dict[str, Any]]:
    """Each version's field changes from the one before, and the reasons our checker refuses it under the subject's
    level where it is stricter than the registry (which accepted the version: it is published)."""
    steps = []
    for n, newer in enumerate(subject.versions[1:], start=1):
        verdict = check(subject.compatibility, newer.text, [v.text for v in subject.versions[:n]])
        steps.append({"from": n, "to": newer.version, "changes": field_diff(subject.versions[n - 1].text, newer.text),
                      "stricter": [r for r in verdict.reasons if r.stricter_than_registry]})
    return steps


async def contracts(request: Request) -> Response:
    user = auth.current_user(request)
    if user is None:
        return to_login(request)
    catalog = app_state(request).catalog
    held = await catalog.held()
    topics = []
    for topic in catalog.manifest.topics:
        subjects = [{"name": subject.name, "family": subject.family, "published": [v.version for v in subject.versions],
                     "registered": held[subject.name].versions, "level": held[subject.name].level,
                     "expected_level": subject.compatibility, "history": _history(subject),
                     "constraints": subject.latest.constraints.by_path.values()} for subject in topic.subjects]
        topics.append({"topic": topic, "subjects": subjects})
    registry_error = next((h.error for h in held.values() if h.error), None)
    return render(request, "contracts.html", topics=topics, registry_error=registry_error,
                  registry_url=catalog.registry_url, asyncapi=catalog.asyncapi,
                  operations=sorted(asyncapi.operations(catalog.asyncapi), key=lambda row: (row["service"], row["channel"])))


async def _while_signed_in(request: Request, chunks: AsyncIterator[str]) -> AsyncIterator[str]:
    """`chunks` until the request's session ends: a stream opened before signing out gets nothing after it."""
    try:
        async for chunk in chunks:
            if not await auth.signed_in_still(request):
                return
            yield chunk
    finally:
        if isinstance(chunks, AsyncGenerator):
            await chunks.aclose()  # now, not whenever it is collected: it leaves the hub at once


async def events(request: Request) -> Response:
    """The live updates of the signed-in user's pages. A page says since when it knows its submissions (`?since=`, the
    moment it was drawn, in epoch milliseconds); a browser reconnecting says the last event it got (Last-Event-ID):
    what changed after that comes first."""
    user = auth.current_user(request)
    if user is None:
        return Response("sign in first\n", status_code=401)
    hub, session = app_state(request).hub, auth.session_key(request)
    if hub.streams[session] >= MAX_STREAMS_PER_SESSION:
        return Response(f"at most {MAX_STREAMS_PER_SESSION} live-update streams per session are open at once: close a"
                        " tab of this site, then reload\n", status_code=429, headers={"Retry-After": "5"})
    known = request.headers.get("last-event-id") or request.query_params.get("since") or ""
    after = int(known) if known.isdigit() and len(known) < 16 else None
    live = app_state(request).live

    async def missed() -> list[dict[str, Any]]:
        return [] if after is None else await asyncio.to_thread(live.since, user.id, after)

    return LiveStream(_while_signed_in(request, stream(hub, user.id, missed)), hub, session)


routes = [
    Route("/", overview),
    Route("/login", login, methods=["GET", "POST"]),
    Route("/signup", signup, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/invoices/new", new_invoice, methods=["GET", "POST"]),
    Route("/invoices/{request_id}", invoice),
    Route("/score", score, methods=["GET", "POST"]),
    Route("/contracts", contracts),
    Route("/events", events),
]
