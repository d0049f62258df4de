"""A state-changing request that a browser sends from another site is refused before the app sees it."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from services.dashboard.origins import SameOriginOnly

reached: list[str] = []


async def act(request: Request) -> Response:
    reached.append(request.url.path)
    return PlainTextResponse("done")


app = Starlette(routes=[Route("/api/scores", act, methods=["GET", "POST", "DELETE"]), Route("/score", act, methods=["POST"])],
                middleware=[Middleware(SameOriginOnly)])
client = TestClient(app, base_url="http://dashboard.example.com")


def test_a_browser_from_another_site_or_a_sibling_host_is_refused_and_nothing_runs() -> None:
    reached.clear()
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                    {"Sec-Fetch-Site": "same-site", "Origin": "http://dashboard.example.com"},
                    {"Origin": "https://evil.example.net"}, {"Origin": "http://other.example.com"}, {"Origin": "null"}):
        refused = client.post("/api/scores", headers=headers)
        assert refused.status_code == 403, headers
        assert "came from another site" in refused.json()["error"]
    assert client.delete("/api/scores", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    page = client.post("/score", headers={"Sec-Fetch-Site": "cross-site"})
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/plain")
    assert reached == []


def test_this_sites_pages_scripts_and_safe_reads_pass() -> None:
    reached.clear()
    for headers in ({"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}, {},
                    {"Origin": "http://dashboard.example.com"}, {"Origin": "https://DASHBOARD.example.com"}):
        assert client.post("/api/scores", headers=headers).status_code == 200, headers
    assert client.get("/api/scores", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200  # a read changes nothing
    assert len(reached) == 6
