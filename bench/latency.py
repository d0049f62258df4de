"""`latency.request_reply`: invoice requests through the dashboards' HTTP API at fixed offered rates, timed from the
moment a request was sent until its answer reaches the user's browser connection (the Server-Sent Events stream).

vegeta sends the requests on a fixed schedule (open loop: a late answer does not delay the next request), taking in
turn every pair of a few signed-in users and the dashboards, so each dashboard takes its share and most answers
reach the user through another dashboard than the one that took the request. Each user has one listener here, an
/events stream on one dashboard. A request's latency runs from vegeta's start time for it to the moment its
listener read the event (both clocks are this machine's wall clock); only requests answered 202 count. The
listeners share one event loop and parse nothing heavy; the bench process's own CPU share during each attack is
recorded to show they are not the bottleneck.

Measured on the stack's dashboards (`make bench` runs `make up DASHBOARDS=2`), then on dashboards of the bench's own,
one and then two sharing a reply group, over PostgreSQL when BENCH_POSTGRES_URL (the dashboard's DATABASE_URL,
postgresql://...) names one (in a schema of their own there, so that the stack's dashboards do not store their replies
too; over a SQLite file of their own otherwise), from 50 to 700 requests/s: where the p99
passes 250 ms for each, and the CPU per request of two against one (the dashboards' own counters, every thread).
`python -m bench.latency --help` runs it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from sqlalchemy import make_url

from bench import accounts, groups, processes, vegeta
from bench.accept import INVOICE
from bench.accounts import Account
from bench.processes import Server
from bench.vegeta import Target
from contracts.manifest import load_manifest

__all__ = ["measure", "measure_scale", "percentile", "waits_ms"]

TARGET_RATE, TARGET_P99_MS = 500, 100
TARGET = f"p99 <= {TARGET_P99_MS} ms, every request accepted and answered"
ANSWER_DEADLINE_SECONDS = 30
OWN_PORTS = (8010, 8011)
SWEEP_RATES = (50, 100, 200, 300, 400, 500, 700)
CROSSING_MS = 250


class Listener:
    """One user's browser connection: when (Unix ns) the answer to each request arrived over /events."""

    def __init__(self, server: Server, account: Account) -> None:
        self.client = httpx.AsyncClient(base_url=server.url, timeout=30, cookies={accounts.COOKIE: account.session})
        self.answered: dict[str, int] = {}
        self.connected = asyncio.Event()

    async def listen(self) -> None:
        while True:  # an overloaded server may drop the stream: reconnect, as a browser does
            try:
                async with self.client.stream("GET", "/events", timeout=None) as stream:
                    stream.raise_for_status()
                    async for line in stream.aiter_lines():
                        self.connected.set()
                        if line.startswith("data: "):
                            now = time.time_ns()
                            event = json.loads(line[6:])
                            if "request_id" in event and event.get("status") != "pending":  # not a "charts" event
                                self.answered.setdefault(event["request_id"], now)
            except httpx.HTTPError:
                await asyncio.sleep(0.5)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def waits_ms(hits: list[vegeta.Hit], answered: dict[str, int], since_ns: int = 0,
             until_ns: int | None = None) -> tuple[list[float], int]:
    """The wait from sending to the answer's event, in ms, of every accepted (202) request sent between `since_ns`
    and `until_ns` (every one by default) that was answered; and how many such accepted requests were not."""
    waits, unanswered = [], 0
    for hit in hits:
        if hit.code != 202 or hit.began_ns < since_ns or (until_ns is not None and hit.began_ns > until_ns):
            continue
        request_id = json.loads(hit.body)["request_id"]
        if request_id in answered:
            waits.append((answered[request_id] - hit.began_ns) / 1e6)
        else:
            unanswered += 1
    return waits, unanswered


async def _answers(listeners: list[Listener], expected: int) -> None:
    deadline = time.monotonic() + ANSWER_DEADLINE_SECONDS
    while time.monotonic() < deadline and sum(len(listener.answered) for listener in listeners) < expected:
        await asyncio.sleep(0.1)


async def _at_rate(listeners: list[Listener], targets: list[Target], rate: int, seconds: float,
                   out: Path, servers: list[Server]) -> dict[str, Any]:
    for listener in listeners:
        listener.answered.clear()
    before, began = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    served_before = sum(processes.cpu_seconds(server.pid) for server in servers)
    attack = await asyncio.to_thread(vegeta.attack, targets, out, seconds=seconds, rate=rate)
    after, wall = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - began
    # vegeta's report and the wait run before the per-request results are read here, which costs the
    # listeners' event loop a moment: by then every answer has arrived (or the deadline passed).
    result = vegeta.summary(await asyncio.to_thread(vegeta.report, attack.results))
    await _answers(listeners, result["accepted"])
    # The dashboards' own CPU (every thread) from taking the requests to pushing their answers, per request.
    served = sum(processes.cpu_seconds(server.pid) for server in servers) - served_before
    answered = {request_id: at for listener in listeners for request_id, at in listener.answered.items()}
    waits, unanswered = waits_ms(await asyncio.to_thread(vegeta.hits, attack.results), answered)
    listener_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    def share(fraction: float) -> float | None:
        return round(percentile(waits, fraction), 1) if waits else None

    return {
        "offered_rate": rate, "achieved_rate": result["sent_rate"], "accepted_rate": result["accepted_rate"],
        "requests": result["requests"], "accepted": result["accepted"], "answered": len(waits),
        "unanswered": unanswered, "status_codes": result["status_codes"],
        "p50_ms": share(0.50), "p95_ms": share(0.95), "p99_ms": share(0.99), "http_p99_ms": result["http_p99_ms"],
        "listener_cpu_percent": round(listener_cpu / wall * 100, 1),
        "dashboards_cpu_us_per_request": round(served / max(result["accepted"], 1) * 1e6),
        "generator_cpu_percent": round(attack.generator_cpu_seconds / wall * 100, 1),
    }


async def _measure(servers: list[Server], rates: tuple[int, ...], seconds: float, users: int) -> list[dict[str, Any]]:
    people = await asyncio.to_thread(accounts.sign_up, servers[0].url, users)
    listeners = [Listener(servers[index % len(servers)], person) for index, person in enumerate(people)]
    tasks = [asyncio.create_task(listener.listen()) for listener in listeners]
    targets = [Target("POST", f"{server.url}/api/invoices", INVOICE,
                      (("Content-Type", "application/json"), ("Cookie", person.cookie_header)))
               for person in people for server in servers]
    scratch = tempfile.TemporaryDirectory(prefix="bench-latency-")
    folder = Path(scratch.name)
    try:
        await asyncio.wait_for(asyncio.gather(*(listener.connected.wait() for listener in listeners)), 30)
        await _at_rate(listeners, targets, 50, 2, folder / "warm", servers)  # connections, caches: warm, not cold
        results = []
        for rate in rates:
            result = await _at_rate(listeners, targets, rate, seconds, folder / f"rate-{rate}", servers)
            print(f"  {rate} req/s offered: achieved {result['achieved_rate']}, p50 {result['p50_ms']} ms, p95"
                  f" {result['p95_ms']} ms, p99 {result['p99_ms']} ms ({result['answered']:,} answered,"
                  f" {result['unanswered']} not; codes {result['status_codes']}; listeners"
                  f" {result['listener_cpu_percent']}% of a core; dashboards"
                  f" {result['dashboards_cpu_us_per_request']:,} us CPU per request)", flush=True)
            results.append(result)
            # The next rate starts once this one's requests are worked off, and no late answer of this one is left.
            await asyncio.to_thread(groups.settle, [server.group for server in servers if server.group])
        return results
    finally:
        for task in tasks:
            task.cancel()
        for listener in listeners:
            await listener.client.aclose()
        scratch.cleanup()


def _entries(prefix: str, servers: list[Server], results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    entries = []
    for result in results:
        entry = {"name": f"{prefix}.{result['offered_rate']}", "unit": "ms (p99)", "value": result["p99_ms"], **result,
                 "dashboards": len(servers), "database": servers[0].database}
        if result["offered_rate"] == TARGET_RATE:
            every_one = result["accepted"] == result["requests"] and not result["unanswered"]
            entry.update(target=TARGET,
                         met=every_one and result["p99_ms"] is not None and result["p99_ms"] <= TARGET_P99_MS)
        entries.append(entry)
    return entries


def measure(rates: tuple[int, ...] = (100, TARGET_RATE, 1000), seconds: float = 10, users: int = 4,
            dashboards: int | None = None) -> list[dict[str, Any]]:
    """On the stack's dashboards: DASHBOARDS of them (what `make up` was given; `make bench` gives 2)."""
    servers = processes.running_dashboards(dashboards or int(os.environ.get("DASHBOARDS") or 1))
    groups.settle([server.group for server in servers if server.group])
    return _entries("latency.request_reply", servers, asyncio.run(_measure(servers, rates, seconds, users)))


@contextlib.contextmanager
def _own_dashboards(database_url: str, count: int) -> Iterator[list[Server]]:
    """`count` dashboards of the bench's own over `database_url`, sharing a reply consumer group of their own that
    starts at the end of the replies, as the stack's dashboards share theirs."""
    group = f"{load_manifest().consumer_groups['dashboard']}-bench-{count}"
    groups.start_at_end(group)
    with contextlib.ExitStack() as stack:
        servers = []
        for index, port in enumerate(OWN_PORTS[:count], start=1):
            env = {"DASHBOARD_PORT": str(port), "DATABASE_URL": database_url, "DASHBOARD_GROUP": group,
                   "DASHBOARD_METRICS_PORT": str(port + 1000), "INSTANCE_ID": f"bench-dashboard-{index}"}
            servers.append(stack.enter_context(processes.started(["-m", "services.dashboard"], port, env)))
        yield servers


@contextlib.contextmanager
def _own_schema(database_url: str) -> Iterator[str]:
    """`database_url` (PostgreSQL) with a schema of the sweep's own, dropped after it: the stack's dashboards, which
    may share that database, must not store the sweep's replies too (they read every reply in their own group)."""
    schema = f"bench_scale_{os.getpid()}"
    with psycopg.connect(make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            yield make_url(database_url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
                hide_password=False)
        finally:
            connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def measure_scale(database_url: str | None, rates: tuple[int, ...] = SWEEP_RATES, seconds: float = 8,
                  users: int = 4) -> list[dict[str, Any]]:
    """One dashboard, then two, of the bench's own over one database (`database_url`, PostgreSQL; a SQLite file of
    their own without one), at every rate of `rates`: the p99 at each (the chart), the offered rate where the p99
    first passes 250 ms, and two dashboards' CPU per request against one's at the same rate."""
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder, contextlib.ExitStack() as scratch:
        url = scratch.enter_context(_own_schema(database_url)) if database_url else f"sqlite:///{folder}/dashboard.sqlite3"
        runs: dict[int, list[dict[str, Any]]] = {}
        entries = []
        for count in (1, 2):
            print(f"  {count} dashboard{'s' if count > 1 else ''} over {url.split(':', 1)[0]}", flush=True)
            with _own_dashboards(url, count) as servers:
                groups.settle([server.group for server in servers if server.group])
                runs[count] = asyncio.run(_measure(servers, rates, seconds, users))
                entries += _entries(f"latency.scale.{count}", servers, runs[count])
    for count, results in runs.items():
        crossing = next((r["offered_rate"] for r in results if r["p99_ms"] is None or r["p99_ms"] > CROSSING_MS), None)
        entries.append({"name": f"latency.p99_over_{CROSSING_MS}ms.{count}", "unit": "req/s offered", "value": crossing,
                        "note": f"the lowest offered rate of {', '.join(map(str, rates))} whose p99 passes"
                                f" {CROSSING_MS} ms, with {count} dashboard(s)" + ("" if crossing else ": none did")})
    for rate in rates:
        one, two = (next(r for r in runs[n] if r["offered_rate"] == rate) for n in (1, 2))
        if one["dashboards_cpu_us_per_request"] and rate in (100, TARGET_RATE):
            ratio = round(two["dashboards_cpu_us_per_request"] / one["dashboards_cpu_us_per_request"], 2)
            entries.append({"name": f"latency.cpu_per_request.{rate}", "unit": "us (2 dashboards)",
                            "value": two["dashboards_cpu_us_per_request"],
                            "baseline": {"name": "1 dashboard", "value": one["dashboards_cpu_us_per_request"]},
                            "ratio": ratio, "target": "<= 1.1x", "met": ratio <= 1.1})
    return entries


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default=f"100,{TARGET_RATE},1000", help="offered requests/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=10, help="how long each rate is offered")
    parser.add_argument("--dashboards", type=int, help="the stack's dashboards to use (default: DASHBOARDS, else 1)")
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL"),
                        help="the DATABASE_URL of the scale sweep's dashboards (default: BENCH_POSTGRES_URL; without"
                             " one, a SQLite file of their own)")
    parser.add_argument("--only-scale", action="store_true", help="skip the stack's dashboards")
    args = parser.parse_args()
    rates = tuple(int(rate) for rate in args.rates.split(","))
    entries = [] if args.only_scale else measure(rates, args.seconds, dashboards=args.dashboards)
    entries += measure_scale(args.postgres_url)
    print(json.dumps(entries, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
