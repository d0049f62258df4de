"""The HTTP load generator of the dashboard's measurements: vegeta, a Go program, so that the generator's own cost
stays small beside the servers' on the same 2 cores (`make bench-tools` builds it from the Go module proxy; VEGETA
names the binary). Targets go in as JSON lines, results come out as vegeta's JSON report and, per request, as CSV."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import resource
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Attack", "Hit", "Target", "binary", "hits", "parse_hits", "report", "summary", "target_lines"]


@dataclass(frozen=True)
class Target:
    """One request vegeta sends, again and again (several targets are taken in turn)."""

    method: str
    url: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Hit:
    """One request as vegeta saw it: when it began (Unix ns), its status (0: no answer), how long it took, the body."""

    began_ns: int
    code: int
    latency_ns: int
    error: str
    body: bytes


@dataclass(frozen=True)
class Attack:
    """A finished attack: the file of its results and the CPU seconds vegeta itself used."""

    results: Path
    generator_cpu_seconds: float


def binary() -> str:
    """The vegeta to run: VEGETA, else the one on PATH; an error saying how to get it otherwise."""
    found = os.environ.get("VEGETA") or shutil.which("vegeta")
    if not found or not Path(found).is_file():
        raise FileNotFoundError("vegeta is needed for the dashboard's measurements: `make bench-tools` builds it into"
                                " .cache/tools, and VEGETA names the binary")
    return found


def target_lines(targets: Iterable[Target]) -> str:
    """The targets in vegeta's JSON format (`-format=json`), one a line."""
    lines = []
    for target in targets:
        line: dict[str, Any] = {"method": target.method, "url": target.url}
        if target.body:
            line["body"] = base64.b64encode(target.body).decode()
        headers: dict[str, list[str]] = {}
        for name, value in target.headers:
            headers.setdefault(name, []).append(value)
        if headers:
            line["header"] = headers
        lines.append(json.dumps(line))
    return "\n".join(lines) + "\n"


def attack(targets: list[Target], out: Path, *, seconds: float, rate: int | None = None, connections: int = 32) -> Attack:
    """Run vegeta for `seconds`: at `rate` requests/s on a fixed schedule (open: a slow answer does not delay the next
    request), or with rate None as fast as `connections` workers, each with one connection and one request in flight,
    can go (closed). The results are written to `out`."""
    targets_file = out.with_suffix(".targets")
    targets_file.write_text(target_lines(targets))
    argv = [binary(), "attack", "-format=json", f"-targets={targets_file}", f"-duration={seconds}s",
            f"-output={out}", "-timeout=30s", "-redirects=-1"]
    if rate is None:
        argv += ["-rate=0", f"-workers={connections}", f"-max-workers={connections}",
                 f"-connections={connections}", f"-max-connections={connections}"]
    else:
        argv += [f"-rate={rate}/s"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Attack(out, cpu)


def report(results: Path) -> dict[str, Any]:
    """vegeta's own JSON report of an attack: rates, latencies (ns), status codes, errors."""
    done = subprocess.run([binary(), "report", "-type=json", str(results)], check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout))


def summary(report_json: dict[str, Any], accepted_code: int = 202) -> dict[str, Any]:
    """What the measurements keep of a report: the rate vegeta sent at, the accepted answers per second (over the
    attack and the wait for its last answers), the HTTP latencies in ms, and the status codes."""
    codes = {str(code): count for code, count in (report_json.get("status_codes") or {}).items()}
    accepted = codes.get(str(accepted_code), 0)
    seconds = (report_json["duration"] + report_json["wait"]) / 1e9
    latencies = report_json["latencies"]
    return {
        "requests": report_json["requests"],
        "sent_rate": round(report_json["rate"], 1),
        "accepted": accepted,
        "accepted_rate": round(accepted / seconds, 1) if seconds else 0.0,
        "http_p50_ms": round(latencies["50th"] / 1e6, 1),
        "http_p95_ms": round(latencies["95th"] / 1e6, 1),
        "http_p99_ms": round(latencies["99th"] / 1e6, 1),
        "status_codes": codes,
        "errors": list(report_json.get("errors") or [])[:5],
    }


def parse_hits(text: str) -> Iterator[Hit]:
    """Hits from `vegeta encode --to csv` (columns: timestamp ns, code, latency ns, bytes out, bytes in, error,
    base64 body, ...)."""
    for row in csv.reader(io.StringIO(text)):
        if row:
            yield Hit(int(row[0]), int(row[1]), int(row[2]), row[5], base64.b64decode(row[6]))


def hits(results: Path) -> list[Hit]:
    """Every request of an attack, with its answer's body."""
    done = subprocess.run([binary(), "encode", "--to", "csv", str(results)], check=True, capture_output=True, text=True)
    return list(parse_hits(done.stdout))
