"""The AsyncAPI document of the cluster this dashboard talks to: served at /asyncapi.json, summed up on the
Contracts page."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.dashboard.appstate import app_state

__all__ = ["asyncapi", "operations"]


def operations(described: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per operation, as the page shows them: who, what, where, in which group, answered where."""
    def name(reference: dict[str, str]) -> str:
        return reference["$ref"].rsplit("/", 1)[-1]

    rows = []
    for operation in described["operations"].values():
        group = operation.get("bindings", {}).get("kafka", {}).get("groupId", {}).get("enum", [None])[0]
        reply = operation.get("reply")
        rows.append({"service": operation["tags"][0]["name"], "action": operation["action"],
                     "channel": name(operation["channel"]), "messages": [name(m) for m in operation["messages"]],
                     "group": group, "reply": name(reply["channel"]) if reply else None})
    return rows


async def asyncapi(request: Request) -> Response:
    """The document `contracts asyncapi` writes, for this dashboard's broker and registry."""
    return JSONResponse(app_state(request).catalog.asyncapi)
