"""`latency.request_reply`: requests through the dashboard's HTTP API at fixed offered rates, timed until the
reply reaches the user's browser connection (the Server-Sent Events stream)."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from typing import Any

import httpx

__all__ = ["measure"]

DASHBOARD_URL = os.environ.get("DASHBOARD_URL", "http://127.0.0.1:8000")
INVOICE = {
    "customer": {"name": "Bench Serviços Ltda", "tax_id": "11.222.333/0001-81"},
    "items": [{"description": "Consultoria", "quantity": "2", "unit_price": "150.00"}],
}


class User:
    def __init__(self) -> None:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        self.client = httpx.AsyncClient(base_url=DASHBOARD_URL, timeout=30, limits=limits)
        self.sent: dict[str, float] = {}
        self.answered: dict[str, float] = {}
        self.connected = asyncio.Event()
        self.errors = 0

    async def sign_up(self) -> None:
        # Signing up signs no one in (its answer must not tell whether the email had an account): then sign in.
        account = {"email": f"bench-{uuid.uuid4().hex[:12]}@example.com", "password": "benchmark latency"}
        (await self.client.post("/api/users", json=account)).raise_for_status()
        (await self.client.post("/api/session", json=account)).raise_for_status()

    async def listen(self) -> None:
        while True:  # an overloaded server may drop the stream: reconnect, as a browser does
            try:
                async with self.client.stream("GET", "/events", timeout=None) as stream:
                    async for line in stream.aiter_lines():
                        self.connected.set()
                        if line.startswith("data: "):
                            event = json.loads(line[6:])
                            if event["status"] != "pending":
                                self.answered.setdefault(event["request_id"], time.perf_counter())
            except httpx.HTTPError:
                await asyncio.sleep(0.5)

    async def ask(self) -> None:
        began = time.perf_counter()
        try:
            response = await self.client.post("/api/invoices", json=INVOICE)
        except httpx.HTTPError:
            self.errors += 1
            return
        if response.status_code == 202:
            self.sent[response.json()["request_id"]] = began
        else:
            self.errors += 1


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


async def _at_rate(users: list[User], rate: float, seconds: float) -> dict[str, Any]:
    for user in users:
        user.sent.clear()
        user.answered.clear()
        user.errors = 0
    tasks = []
    began = time.perf_counter()
    total = int(rate * seconds)
    for index in range(total):
        # A fixed schedule: requests go out on time whether or not earlier ones were answered.
        delay = began + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(users[index % len(users)].ask()))
    await asyncio.gather(*tasks)
    offered_seconds = time.perf_counter() - began
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline and any(set(u.sent) - set(u.answered) for u in users):
        await asyncio.sleep(0.1)
    waits = [(u.answered[r] - t) * 1000 for u in users for r, t in u.sent.items() if r in u.answered]
    sent = sum(len(u.sent) for u in users)
    return {
        "offered_rate": rate,
        "achieved_rate": round(sent / offered_seconds, 1),
        "requests": total,
        "accepted": sent,
        "answered": len(waits),
        "errors": sum(u.errors for u in users),
        "p50_ms": round(_percentile(waits, 0.50), 1) if waits else None,
        "p95_ms": round(_percentile(waits, 0.95), 1) if waits else None,
        "p99_ms": round(_percentile(waits, 0.99), 1) if waits else None,
    }


async def _measure(rates: tuple[int, ...], seconds: float, user_count: int) -> list[dict[str, Any]]:
    users = [User() for _ in range(user_count)]
    for user in users:
        await user.sign_up()
    listeners = [asyncio.create_task(user.listen()) for user in users]
    await asyncio.gather(*(user.connected.wait() for user in users))
    await _at_rate(users, 50, 2)  # warm-up: connections, caches, JIT-less but not cold
    results = []
    for rate in rates:
        result = await _at_rate(users, rate, seconds)
        print(f"  {rate} req/s offered: achieved {result['achieved_rate']}, p50 {result['p50_ms']} ms,"
              f" p95 {result['p95_ms']} ms, p99 {result['p99_ms']} ms", flush=True)
        results.append(result)
    for task in listeners:
        task.cancel()
    for user in users:
        await user.client.aclose()
    return results


def measure(rates: tuple[int, ...] = (100, 500, 1000), seconds: float = 10, users: int = 20) -> list[dict[str, Any]]:
    results = asyncio.run(_measure(rates, seconds, users))
    return [{"name": f"latency.request_reply.{r['offered_rate']}", "unit": "ms (p99)", "value": r["p99_ms"], **r}
            for r in results]


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
