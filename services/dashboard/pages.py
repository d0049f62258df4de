"""The HTML pages. Forms post back here; live updates come through /events."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from contracts.diff import field_diff
from messaging.registry import RegistryError
from services.dashboard import auth
from services.dashboard.actions import BadBody, submit
from services.dashboard.bus import Unavailable
from services.dashboard.events import stream
from services.dashboard.intake import FieldError, InvalidInput, parse_credentials, parse_invoice
from services.dashboard.views import invoice_view, score_view

__all__ = ["routes"]

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    user = auth.current_user(request)
    base = {"user": user, "csrf": auth.csrf_token(request), "kafka_ok": request.app.state.bus.broker_reachable}
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status)


def to_login(request: Request) -> Response:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


def _safe_next(target: str | None) -> str:
    # Only local paths: a crafted ?next= must not send people to another site after they sign in.
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


async def _form(request: Request) -> Any:
    form = await request.form(max_files=0, max_fields=1000)
    if not auth.valid_csrf(request, form.get("csrf_token")):
        raise BadBody(403, "the form expired or did not come from this site; reload the page and try again")
    return form


async def _credentials(request: Request, template: str) -> tuple[Any, tuple[str, str] | Response]:
    """The posted form and its (email, password), or the page again with the errors."""
    form = await _form(request)
    try:
        return form, parse_credentials({"email": form.get("email"), "password": form.get("password")})
    except InvalidInput as invalid:
        return form, render(request, template, 422, errors=invalid.errors, email=form.get("email", ""))


async def login(request: Request) -> Response:
    if request.method == "GET":
        return render(request, "login.html", next=_safe_next(request.query_params.get("next")))
    form, credentials = await _credentials(request, "login.html")
    if isinstance(credentials, Response):
        return credentials
    email, password = credentials
    user = auth.verify(request.app.state.db, email, password)
    if user is None:
        return render(request, "login.html", 401, errors=[FieldError("email", "wrong email or password")], email=email)
    auth.log_in(request, user)
    return RedirectResponse(_safe_next(str(form.get("next", "/"))), status_code=303)


async def signup(request: Request) -> Response:
    if request.method == "GET":
        return render(request, "signup.html")
    _, credentials = await _credentials(request, "signup.html")
    if isinstance(credentials, Response):
        return credentials
    email, password = credentials
    user = auth.sign_up(request.app.state.db, email, password)
    if user is None:
        return render(request, "signup.html", 409, errors=[FieldError("email", "is taken")], email=email)
    auth.log_in(request, user)
    return RedirectResponse("/", status_code=303)


async def logout(request: Request) -> Response:
    await _form(request)
    auth.log_out(request)
    return RedirectResponse("/login", status_code=303)


async def overview(request: Request) -> Response:
    user = auth.current_user(request)
    if user is None:
        return to_login(request)
    db = request.app.state.db
    invoices = [invoice_view(r) for r in db.requests(user.id, "invoice", limit=20)]
    latest = db.latest_score(user.id)
    return render(request, "overview.html", invoices=invoices, score=score_view(latest) if latest else None)


def _items_from(form: Any) -> list[dict[str, str]]:
    rows = zip(form.getlist("description"), form.getlist("quantity"), form.getlist("unit_price"))
    # A row left entirely blank is an unused row of the form, not an item.
    return [{"description": d, "quantity": q, "unit_price": p} for d, q, p in rows if (d or q or p).strip()]


async def new_invoice(request: Request) -> Response:
    user = auth.current_user(request)
    if user is None:
        return to_login(request)
    if request.method == "GET":
        return render(request, "invoice_new.html", values={"items": [{}, {}]})
    form = await _form(request)
    values = {"customer": {"name": form.get("customer_name", ""), "tax_id": form.get("customer_tax_id", "")},
              "items": _items_from(form)}
    try:
        fields = parse_invoice(values)
        request_id = await submit(request.app.state.db, request.app.state.bus, user, "invoice", fields)
    except InvalidInput as invalid:
        return render(request, "invoice_new.html", 422, errors=invalid.errors, values=values)
    except Unavailable:
        return render(request, "invoice_new.html", 503, values=values,
                      errors=[FieldError("kafka", "the request could not be sent just now; nothing was sent, try again")])
    return RedirectResponse(f"/invoices/{request_id}", status_code=303)


async def invoice(request: Request) -> Response:
    user = auth.current_user(request)
    if user is None:
        return to_login(request)
    found = request.app.state.db.request(user.id, request.path_params["request_id"], "invoice")
    if found is None:
        return render(request, "not_found.html", 404)
    return render(request, "invoice.html", invoice=invoice_view(found))


async def score(request: Request) -> Response:
    user = auth.current_user(request)
    if user is None:
        return to_login(request)
    db = request.app.state.db
    if request.method == "POST":
        await _form(request)
        try:
            await submit(db, request.app.state.bus, user, "score", {})
        except Unavailable:
            return render(request, "score.html", 503, scores=[],
                          errors=[FieldError("kafka", "the request could not be sent just now; try again")])
        return RedirectResponse("/score", status_code=303)
    scores = [score_view(r) for r in db.requests(user.id, "score", limit=10)]
    latest = db.latest_score(user.id)
    return render(request, "score.html", scores=scores, latest=score_view(latest) if latest else None)


async def contracts(request: Request) -> Response:
    user = auth.current_user(request)
    if user is None:
        return to_login(request)
    runtime = request.app.state.bus.runtime
    topics, registry_error = [], None
    for topic in runtime.manifest.topics:
        subjects = []
        for subject in topic.subjects:
            held: list[int] | str
            level: str | None
            try:
                held, level = runtime.registry.versions(subject.name), runtime.registry.compatibility(subject.name)
            except RegistryError as error:
                held, level, registry_error = [], None, str(error)
            changes = [
                {"from": older.version, "to": newer.version, "changes": field_diff(older.text, newer.text)}
                for older, newer in zip(subject.versions, subject.versions[1:])
            ]
            subjects.append({"name": subject.name, "family": subject.family, "published": [v.version for v in subject.versions],
                             "registered": held, "level": level, "expected_level": subject.compatibility,
                             "history": changes})
        topics.append({"topic": topic, "subjects": subjects})
    return render(request, "contracts.html", topics=topics, registry_error=registry_error,
                  registry_url=runtime.settings.registry_url)


async def events(request: Request) -> Response:
    user = auth.current_user(request)
    if user is None:
        return Response("sign in first\n", status_code=401)
    return StreamingResponse(
        stream(request.app.state.hub, user.id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


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
