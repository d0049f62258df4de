"""A flood of wrong log-ins at an account neither stalls the dashboard nor locks its owner out: 40 parallel clients
at one address keep guessing while the owner, on another host (a network namespace), signs in on the first try."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from chaos.hosts import Host
from contracts.env import principal_env
from tests.integration.accounts import PASSWORD
from tests.ports import free_port
from tests.prober import Prober

OWNER_LOGS_IN = """
import json, sys, time, urllib.error, urllib.request
account = json.dumps({"email": sys.argv[2], "password": sys.argv[3]}).encode()
request = urllib.request.Request(sys.argv[1] + "/api/session", data=account, headers={"content-type": "application/json"})
began = time.time()
try:
    status = urllib.request.urlopen(request, timeout=30).status
except urllib.error.HTTPError as error:
    status = error.code
print(status, began, time.time())
"""


async def _flood_while_the_owner_logs_in(url: str, host: Host, email: str) -> dict[str, object]:
    owner_done = asyncio.Event()
    statuses: list[int] = []
    flood_times: list[float] = []

    async def guess(client: httpx.AsyncClient) -> None:
        while len(statuses) < 200 or not owner_done.is_set():
            response = await client.post("/api/session", json={"email": email, "password": f"guess {len(statuses)}"})
            statuses.append(response.status_code)
            flood_times.append(time.time())

    async def owner() -> str:
        while len(statuses) < 20:  # the flood under way first
            await asyncio.sleep(0.005)
        process = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", host.name, sys.executable, "-c", OWNER_LOGS_IN, url, email, PASSWORD,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output, _ = await process.communicate()
        owner_done.set()
        return output.decode()

    with Prober(f"{url}/healthz") as prober:
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=40)) as client:
            *_, answer = await asyncio.gather(*(guess(client) for _ in range(40)), owner())
    return {"statuses": statuses, "prober": prober, "owner": answer, "flood": (min(flood_times), max(flood_times))}


def test_forty_clients_guessing_at_one_address_neither_stall_the_dashboard_nor_lock_out_the_owner(tmp_path: Path) -> None:
    with Host("acc-owner", 41) as host:
        port, run = free_port(), uuid.uuid4().hex[:6]
        url = f"http://{host.root_address}:{port}"
        env = {**os.environ, **principal_env("dashboard"), "DASHBOARD_HOST": str(host.root_address),
               "DASHBOARD_PORT": str(port), "DASHBOARD_METRICS_PORT": str(free_port()),
               "DATABASE_URL": f"sqlite:///{tmp_path / 'dashboard.sqlite3'}", "INSTANCE_ID": f"dashboard-flood-{run}",
               "DASHBOARD_GROUP": f"dashboard-flood-{run}"}
        with (tmp_path / "dashboard.log").open("wb") as log:
            dashboard = subprocess.Popen([sys.executable, "-m", "services.dashboard"], env=env, stdout=log,
                                         stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not _ready(url):
                assert time.monotonic() < deadline and dashboard.poll() is None, (tmp_path / "dashboard.log").read_text()[-2000:]
                time.sleep(0.3)
            email = f"owner-{run}@example.com"
            # The owner signs up from the host (the attacker's address has spent none of its turns on the account).
            signed_up = subprocess.run(["ip", "netns", "exec", host.name, sys.executable, "-c",
                                        OWNER_LOGS_IN.replace("/api/session", "/api/users"), url, email, PASSWORD],
                                       capture_output=True, text=True, timeout=60)
            assert signed_up.stdout.startswith("202 "), signed_up.stdout + signed_up.stderr
            result = asyncio.run(_flood_while_the_owner_logs_in(url, host, email))
        finally:
            dashboard.terminate()
            dashboard.wait(30)
    statuses, health = result["statuses"], result["prober"]
    assert isinstance(statuses, list) and isinstance(health, Prober) and isinstance(result["owner"], str)
    status, began, ended = result["owner"].split()
    flood_began, flood_ended = result["flood"]  # type: ignore[misc]
    print(f"\n{len(statuses)} wrong log-ins from 40 clients at one address: {statuses.count(401)} checked (401),"
          f" {statuses.count(429)} refused (429); /healthz p50 {health.percentile(.5) * 1000:.1f} ms,"
          f" p99 {health.percentile(.99) * 1000:.1f} ms over {len(health.seconds)} probes; the owner on another host: {status}"
          f" in {(float(ended) - float(began)) * 1000:.0f} ms")
    assert status == "200", result["owner"]  # the first and only try
    assert flood_began < float(began) and float(ended) < flood_ended, "the owner's log-in must fall inside the flood"
    assert len(statuses) >= 200 and set(statuses) == {401, 429}, statuses
    assert health.percentile(0.99) <= 0.050


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
