"""Steady load through the dashboard's API: invoice and score requests from a few users, at a fixed rate."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

import httpx

__all__ = ["Load", "Sent"]

INVOICE = {
    "customer": {"name": "Chaos Comércio Ltda", "tax_id": "11.222.333/0001-81"},
    "items": [{"description": "Monthly bookkeeping", "quantity": "1", "unit_price": "450.00"}],
}


@dataclass
class Sent:
    kind: str
    user: int
    at: float
    status: int
    request_id: str | None = None


@dataclass
class Load:
    """Sends `rate` requests a second (one in five a score request) round-robin over `users` users."""

    base_url: str
    users: int = 8
    rate: float = 20.0
    sent: list[Sent] = field(default_factory=list)
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    async def sign_up(self) -> None:
        for _ in range(self.users):
            client = httpx.AsyncClient(base_url=self.base_url, timeout=30)
            email = f"chaos-{uuid.uuid4().hex[:12]}@example.com"
            account = {"email": email, "password": "chaos and order"}
            (await client.post("/api/users", json=account)).raise_for_status()  # signs no one in
            (await client.post("/api/session", json=account)).raise_for_status()
            self.clients.append(client)

    async def run(self, stop: asyncio.Event) -> None:
        tasks: set[asyncio.Task[None]] = set()
        count = 0
        started = time.monotonic()
        while not stop.is_set():
            kind = "score" if count % 5 == 4 else "invoice"
            task = asyncio.create_task(self._send(kind, count % self.users))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            count += 1
            # A fixed schedule, not "sleep after each": a slow answer does not lower the offered rate.
            delay = started + count / self.rate - time.monotonic()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass
        await asyncio.gather(*tasks)

    async def _send(self, kind: str, user: int) -> None:
        client = self.clients[user]
        at = time.time()
        try:
            if kind == "invoice":
                response = await client.post("/api/invoices", json=INVOICE)
            else:
                response = await client.post("/api/scores", json={})
        except httpx.HTTPError:
            self.sent.append(Sent(kind, user, at, 0))
            return
        # A 503 names its request when Kafka did not confirm it but may have it: kept, and answered if Kafka has it.
        request_id = response.json().get("request_id") if response.status_code in (202, 503) else None
        self.sent.append(Sent(kind, user, at, response.status_code, request_id))

    async def states(self) -> dict[str, str]:
        """request_id -> the state the dashboard shows now, for everything these users asked."""
        found: dict[str, str] = {}
        for client in self.clients:
            for path, key in (("/api/invoices", "invoices"),):
                offset = 0
                while True:
                    page = (await client.get(path, params={"limit": 200, "offset": offset})).json()[key]
                    found.update({item["request_id"]: item["status"] for item in page})
                    if len(page) < 200:
                        break
                    offset += 200
        for item in self.sent:
            if item.kind == "score" and item.request_id:
                view = (await self.clients[item.user].get(f"/api/scores/{item.request_id}")).json()
                found[item.request_id] = view["status"]
        return found

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()
