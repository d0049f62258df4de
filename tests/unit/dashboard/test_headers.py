"""Every response but the static files is kept out of caches; HSTS only over HTTPS."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from services.dashboard.headers import SecurityHeaders


async def cacheable(request: Request) -> Response:
    return PlainTextResponse("mine", headers={"Cache-Control": "public, max-age=600"})


app = Starlette(routes=[Route("/invoices/1", cacheable), Route("/static/app.css", cacheable)],
                middleware=[Middleware(SecurityHeaders)])


def test_private_responses_are_no_store_whatever_the_endpoint_said() -> None:
    response = TestClient(app).get("/invoices/1")
    assert response.headers.get_list("cache-control") == ["no-store"]
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert TestClient(app).get("/nowhere").headers["cache-control"] == "no-store"  # a 404 too
    assert TestClient(app).get("/static/app.css").headers["cache-control"] == "public, max-age=600"


def test_hsts_only_over_https() -> None:
    assert "strict-transport-security" not in TestClient(app).get("/invoices/1").headers
    secure = TestClient(app, base_url="https://testserver").get("/invoices/1")
    assert secure.headers["strict-transport-security"] == "max-age=31536000"


def test_the_policy_lets_no_page_change_its_base_or_embed_plugins() -> None:
    directives = {d.split()[0]: d.split()[1:] for d in
                  TestClient(app).get("/invoices/1").headers["content-security-policy"].split("; ")}
    assert directives["base-uri"] == directives["object-src"] == directives["frame-ancestors"] == ["'none'"]
    assert directives["default-src"] == directives["form-action"] == ["'self'"]
