"""The operator view's pages: GET /operator shows lag, throughput and dead letters; POST /operator/replay sends one
dead letter back (a form with the session's CSRF token, from this site only, like every POST)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from services.dashboard import auth
from services.dashboard.appstate import app_state
from services.dashboard.db import User
from services.dashboard.operations import Group, Lag, NotReplayed, Operations
from services.dashboard.pages import _form, render, to_login

__all__ = ["NOTES", "note_for", "routes"]


def _operator(request: Request) -> tuple[User | None, Operations]:
    operations = app_state(request).operations
    user = auth.current_user(request)
    return (user if user is not None and user.operator else None), operations


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
                  forwarded=forwarded, clients=app_state(request).statuses(),
                  note=note_for(request.query_params,
                                {t.name: t.dead_letter_topic for t in operations.manifest.topics if t.dead_letter_topic}),
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


# What the page may say after a replay: fixed sentences, filled only with a topic of the manifest and two numbers, so
# a link to /operator?note=... made elsewhere cannot put words of its own on an operator's page.
NOTES = {
    "replayed": "replayed {dead_letters}:{partition}:{offset} to {topic}",
    "not-replayable": "not replayed: this view replays only the dead letters of the topics the dashboard produces",
    "no-letter": "not replayed: there is no dead letter of {topic} at partition {partition}, offset {offset}",
    "wrong-source": "not replayed: that dead letter names another topic as its source than {topic}",
    "bad-form": "not replayed: the partition and the offset must be whole numbers",
}


def note_for(query: Mapping[str, str], topics: Mapping[str, str]) -> str:
    """The sentence a note's code stands for, given each topic's dead-letter topic; "" for anything else (an unknown
    code, topic or number)."""
    template, topic = NOTES.get(query.get("note", "")), query.get("topic", "")
    numbers = [query.get(name, "") for name in ("partition", "offset")]
    if template is None or ("{topic}" in template and topic not in topics):
        return ""
    if "{partition}" in template and not all(n.isascii() and n.isdigit() and len(n) < 20 for n in numbers):
        return ""
    return template.format(topic=topic, dead_letters=topics.get(topic, ""), partition=numbers[0], offset=numbers[1])


async def replay(request: Request) -> Response:
    user, operations = _operator(request)
    if user is None:
        return render(request, "not_found.html", 404)
    fields = dict(await _form(request))
    source = fields.get("source", "")
    try:
        partition, offset = int(fields.get("partition", "")), int(fields.get("offset", ""))
        await asyncio.to_thread(operations.replay, user.email, source, partition, offset)
        code = "replayed"
    except ValueError:
        code, partition, offset = "bad-form", 0, 0
    except NotReplayed as refused:
        code = refused.code
    note = urlencode({"note": code, "topic": source, "partition": partition, "offset": offset})
    return RedirectResponse(f"/operator?{note}", status_code=303)


routes = [Route("/operator", operator), Route("/operator/replay", replay, methods=["POST"])]
