"""The operator view's pages: GET /operator shows lag, throughput and dead letters; POST /operator/replay sends one
dead letter back (a form with the session's CSRF token, from this site only, like every POST)."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from services.dashboard import auth
from services.dashboard.appstate import app_state
from services.dashboard.db import User
from services.dashboard.operations import Group, Lag, Operations
from services.dashboard.pages import _form, render, to_login

__all__ = ["routes"]


def _operator(request: Request) -> tuple[User | None, Operations]:
    operations = app_state(request).operations
    user = auth.current_user(request)
    return (user if user is not None and operations.allows(user.email) else None), operations


async def operator(request: Request) -> Response:
    user, operations = _operator(request)
    if auth.current_user(request) is None:
        return to_login(request)
    if user is None:
        return render(request, "not_found.html", 404)  # to anyone else there is no such page

    async def lag_and_throughput() -> tuple[list[Lag], list[Group], dict[str, float]]:
        ends = await asyncio.to_thread(operations.ends)  # asked once, for both
        lag = await asyncio.to_thread(operations.lag, ends)
        return lag, await asyncio.to_thread(operations.groups, lag), operations.throughput(ends)

    (lag, groups, throughput), shelves, forwarded = await asyncio.gather(
        lag_and_throughput(), asyncio.to_thread(operations.shelves), asyncio.to_thread(operations.forwarded))
    return render(request, "operator.html", lag=lag, groups=groups, throughput=throughput, shelves=shelves,
                  forwarded=forwarded, clients=app_state(request).statuses(), note=request.query_params.get("note", ""),
                  viewer=operations.viewer, trace_link=operations.trace_link,
                  traced=_traced(operations, request.query_params.get("request_id")))


def _traced(operations: Operations, request_id: str | None) -> dict[str, str]:
    """What the page says of ?request_id=: a link to its traces in the trace viewer (a link, since the page's
    form-action 'self' keeps a form from leading to another site), or why there is none."""
    try:
        link = operations.trace_of(request_id.strip()) if request_id is not None else None
    except ValueError:
        return {"request_id": request_id or "", "trace_note": "that is not a request id"}
    return {"request_id": request_id or "", "trace_link": link} if link is not None else {}


async def replay(request: Request) -> Response:
    user, operations = _operator(request)
    if user is None:
        return render(request, "not_found.html", 404)
    fields = dict(await _form(request))
    try:
        letter = await asyncio.to_thread(operations.replay, user.email, fields.get("source", ""),
                                         int(fields.get("partition", "")), int(fields.get("offset", "")))
        note = f"replayed {letter.topic}:{letter.partition}:{letter.offset} to {fields['source']}"
    except (LookupError, ValueError) as error:
        note = f"not replayed: {error}"
    return RedirectResponse(f"/operator?note={quote(note)}", status_code=303)


routes = [Route("/operator", operator), Route("/operator/replay", replay, methods=["POST"])]
