"""The JSON API: the same actions as the pages, described by /openapi.json."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.dashboard import auth
from services.dashboard.actions import IDEMPOTENCY_HEADER, BadBody, KeyConflict, read_json, submit
from services.dashboard.appstate import app_state
from services.dashboard.credentials import Throttled
from services.dashboard.db import State, Submission, User
from services.dashboard.intake import (
    FieldError,
    InvalidInput,
    parse_empty,
    parse_idempotency_key,
    parse_invoice,
    parse_log_in,
    parse_sign_up,
)
from services.dashboard.sender import Unavailable, Unconfirmed
from services.dashboard.views import invoice_view, score_view

__all__ = ["routes"]

Endpoint = Callable[[Request], Awaitable[Response]]
UserEndpoint = Callable[[Request, User], Awaitable[Response]]


def error(status: int, message: str, errors: list[dict[str, str]] | None = None,
          retry_after: int | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers={"Retry-After": str(retry_after)} if retry_after else None)


async def _answered(work: Awaitable[Response]) -> Response:
    """`work`'s response, or a clear 4xx/503 answer for each way a request can be bad."""
    try:
        return await work
    except BadBody as bad:
        return error(bad.status, str(bad))
    except InvalidInput as invalid:
        return error(422, "the request is invalid", [{"field": e.field, "message": e.message} for e in invalid.errors])
    except Unconfirmed as unconfirmed:
        url = f"/api/{'invoices' if unconfirmed.kind == 'invoice' else 'scores'}/{unconfirmed.request_id}"
        return JSONResponse({"error": f"Kafka did not confirm the request ({unconfirmed}), but it may have it: the"
                                      f" request is kept at {url}, answered if Kafka has it and timed out if not. Look"
                                      " there, or retry with the same Idempotency-Key, before asking again",
                             "request_id": unconfirmed.request_id, "url": url}, 503, {"Retry-After": "5"})
    except Unavailable as unavailable:
        return error(503, f"the request was not accepted, try again shortly ({unavailable})", retry_after=5)
    except Throttled as throttled:
        return error(429, str(throttled), retry_after=throttled.retry_after)
    except KeyConflict as conflict:
        if conflict.status == 409:
            return error(409, str(conflict), retry_after=1)
        return error(conflict.status, str(conflict), [{"field": IDEMPOTENCY_HEADER, "message": str(conflict)}])


def public(endpoint: Endpoint) -> Endpoint:
    """An endpoint anyone may call, its bad requests answered clearly (_answered)."""

    @wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        return await _answered(endpoint(request))

    return wrapper


def signed_in(endpoint: UserEndpoint) -> Endpoint:
    """An endpoint for the signed-in user (401 for anyone else), its bad requests answered clearly (_answered)."""

    @wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        user = auth.current_user(request)
        if user is None:
            return error(401, "sign in first: POST /api/session")
        return await _answered(endpoint(request, user))

    return wrapper


WHOLE = re.compile(r"[0-9]{1,7}")  # str.isdigit() also accepts digits like "¹" that int() refuses


def _paging(request: Request) -> tuple[int, int]:
    limit = request.query_params.get("limit", "50")
    offset = request.query_params.get("offset", "0")
    errors = []
    if not (WHOLE.fullmatch(limit) and 1 <= int(limit) <= 200):
        errors.append(FieldError("limit", "must be a whole number from 1 to 200"))
    if not (WHOLE.fullmatch(offset) and int(offset) <= 1_000_000):
        errors.append(FieldError("offset", "must be a whole number from 0 to 1000000"))
    if errors:
        raise InvalidInput(errors)
    return int(limit), int(offset)


# What every sign-up is told, whether its email was new or already had an account: which emails have one
# is nobody's business. Signing in is the next step either way.
SIGNED_UP = {"message": "sign-up received: a link to confirm the address is mailed to it; sign in with POST /api/session,"
                        " with this password if the email was new"
                        " (an account it already had keeps its own password)"}


async def create_user(request: Request) -> Response:
    email, password = parse_sign_up(await read_json(request))
    await app_state(request).accounts.sign_up(email, password, auth.client_address(request))
    return JSONResponse(SIGNED_UP, status_code=202)


async def create_session(request: Request) -> Response:
    email, password = parse_log_in(await read_json(request))
    user = await app_state(request).credentials.verify(email, password, auth.client_address(request))
    if user is None:  # the same for an unknown email, in the same time (credentials.py)
        return error(401, "wrong email or password")
    response = JSONResponse({"id": user.id, "email": user.email})
    await auth.log_in(request, response, user)
    return response


async def delete_session(request: Request) -> Response:
    parse_empty(await read_json(request))
    response = Response(status_code=204)
    await auth.log_out(request, response)
    return response


async def _find(request: Request, user: User, kind: str) -> Submission | None:
    """The user's submission the path names; None when there is none, or it is someone else's."""
    request_id = request.path_params["request_id"]
    return await app_state(request).db.run(lambda database: database.submissions.find(user.id, request_id, kind))


def _idempotency_key(request: Request) -> str | None:
    return parse_idempotency_key(request.headers.get(IDEMPOTENCY_HEADER), IDEMPOTENCY_HEADER)


async def create_invoice(request: Request, user: User) -> Response:
    key = _idempotency_key(request)
    state = app_state(request)
    fields = parse_invoice(await read_json(request), state.rules)
    request_id = await submit(state.db, state.pending, state.sender, user, "invoice", fields, key)
    url = f"/api/invoices/{request_id}"
    return JSONResponse({"request_id": request_id, "status": State.PENDING, "url": url}, 202, {"Location": url})


async def list_invoices(request: Request, user: User) -> Response:
    limit, offset = _paging(request)
    found = await app_state(request).db.run(lambda database: database.submissions.newest(user.id, "invoice", limit, offset))
    return JSONResponse({"invoices": [invoice_view(s) for s in found], "limit": limit, "offset": offset})


async def get_invoice(request: Request, user: User) -> Response:
    found = await _find(request, user, "invoice")
    if found is None:  # someone else's invoice is as absent as one that never existed
        return error(404, "no such invoice")
    return JSONResponse(invoice_view(found))


async def create_score(request: Request, user: User) -> Response:
    parse_empty(await read_json(request))
    state = app_state(request)
    request_id = await submit(state.db, state.pending, state.sender, user, "score", {}, _idempotency_key(request))
    url = f"/api/scores/{request_id}"
    return JSONResponse({"request_id": request_id, "status": State.PENDING, "url": url}, 202, {"Location": url})


async def latest_score(request: Request, user: User) -> Response:
    found = await app_state(request).db.run(lambda database: database.submissions.latest_score(user.id))
    if found is None:
        return error(404, "no score yet: POST /api/scores to ask for one")
    return JSONResponse(score_view(found))


async def get_score(request: Request, user: User) -> Response:
    found = await _find(request, user, "score")
    if found is None:
        return error(404, "no such score request")
    return JSONResponse(score_view(found))


async def openapi(request: Request) -> Response:
    return JSONResponse(app_state(request).openapi)


routes = [
    Route("/openapi.json", openapi),
    Route("/api/users", public(create_user), methods=["POST"]),
    Route("/api/session", public(create_session), methods=["POST"]),
    Route("/api/session", public(delete_session), methods=["DELETE"]),
    Route("/api/invoices", signed_in(create_invoice), methods=["POST"]),
    Route("/api/invoices", signed_in(list_invoices), methods=["GET"]),
    Route("/api/invoices/{request_id}", signed_in(get_invoice), methods=["GET"]),
    Route("/api/scores", signed_in(create_score), methods=["POST"]),
    Route("/api/scores/latest", signed_in(latest_score), methods=["GET"]),
    Route("/api/scores/{request_id}", signed_in(get_score), methods=["GET"]),
]
