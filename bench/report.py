"""The bench's outputs: a table on the terminal, results/bench.json, results/bench.md and two PNG plots."""

from __future__ import annotations

import json
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["machine", "table", "write"]


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": len([line for line in Path("/proc/cpuinfo").read_text().splitlines()
                                     if line.startswith("processor")]),
            "memory_gib": round(memory / 1024 / 1024, 1), "python": platform.python_version(),
            "commit": commit, "when": datetime.now(UTC).isoformat(timespec="seconds")}


COLUMNS = ["measurement", "value", "CPU per record", "baseline (same run)", "ratio", "target"]


def _value(entry: dict[str, Any]) -> str:
    if entry.get("measured") is False:
        return f"not measured: {entry['reason']}"
    if entry["value"] is None:
        return f"none ({entry['unit']})"
    return f"{entry['value']:,} {entry['unit']}" if isinstance(entry["value"], int) else f"{entry['value']} {entry['unit']}"


def _row(entry: dict[str, Any]) -> list[str]:
    baseline = entry.get("baseline")
    return [entry["name"], _value(entry),
            f"{entry['cpu_us_per_record']} us" if "cpu_us_per_record" in entry else "",
            f"{baseline['value']:,} ({baseline['name']})" if baseline else "",
            f"{entry['ratio']}x" if entry.get("ratio") is not None else "", entry.get("target", "")]


def _latency(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The latency rows that were measured."""
    return [e for e in entries if e["name"].startswith("latency.") and "offered_rate" in e and e.get("measured", True)]


def table(entries: list[dict[str, Any]]) -> str:
    rows = [COLUMNS, *(_row(e) for e in entries)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)


def _markdown(entries: list[dict[str, Any]], host: dict[str, Any]) -> str:
    lines = [f"Measured {host['when']} at commit {host['commit']} on {host['cores']} cores ({host['cpu']}),"
             f" {host['memory_gib']} GiB, Python {host['python']}.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_row(e)) + " |" for e in entries]
    latency = _latency(entries)
    if latency:
        lines += ["", "| dashboards | database | offered rate | achieved | p50 | p95 | p99 |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {e['dashboards']} | {e['database']} | {e['offered_rate']}/s | {e['achieved_rate']}/s | {e['p50_ms']} ms"
                  f" | {e['p95_ms']} ms | {e['p99_ms']} ms |" for e in latency]
    return "\n".join(lines) + "\n"


def _plots(entries: list[dict[str, Any]], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    written = []
    latency = _latency(entries)
    if latency:
        figure, axes = plt.subplots(figsize=(6, 4))
        # One line per measurement series (the stack's dashboards; the bench's own, one then two), p99 against the
        # offered rate, on a log scale: a saturated rate's seconds would flatten the others' milliseconds.
        for prefix in dict.fromkeys(e["name"].rsplit(".", 1)[0] for e in latency):
            series = [e for e in latency if e["name"].rsplit(".", 1)[0] == prefix and e["p99_ms"] is not None]
            first = series[0]
            where = "the stack's" if prefix == "latency.request_reply" else "the bench's own"
            axes.plot([e["offered_rate"] for e in series], [e["p99_ms"] for e in series], marker="o",
                      label=f"p99, {first['dashboards']} of {where} dashboards, {first['database']}")
        axes.set_yscale("log")
        axes.set(xlabel="offered rate (requests/s)", ylabel="request to reply in the browser, p99 (ms)",
                 title="Latency through the dashboard API")
        axes.legend()
        figure.savefig(out / "bench-latency.png", dpi=100, bbox_inches="tight")
        written.append(out / "bench-latency.png")
    scaling = [e for e in entries if e["name"].startswith("pipeline.scaling.")]
    if scaling:
        figure, axes = plt.subplots(figsize=(6, 4))
        workers = [e["workers"] for e in scaling]
        axes.plot(workers, [e["value"] for e in scaling], marker="o", label="messages/s (left)")
        axes.set(xlabel="invoice generator processes", ylabel="messages/s", title="Generators on 2 cores")
        axes.set_xticks(workers)
        cpu = axes.twinx()
        cpu.plot(workers, [e["cpu_us_per_record"] for e in scaling], marker="s", linestyle="--", color="tab:red",
                 label="CPU per record, us (right)")
        cpu.set(ylabel="us of CPU per record", ylim=(0, max(e["cpu_us_per_record"] for e in scaling) * 1.3))
        figure.legend(loc="lower right")
        figure.savefig(out / "bench-scaling.png", dpi=100, bbox_inches="tight")
        written.append(out / "bench-scaling.png")
    return written


def write(entries: list[dict[str, Any]], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    host = machine()
    (out / "bench.json").write_text(json.dumps({"machine": host, "measurements": entries}, indent=2) + "\n")
    (out / "bench.md").write_text(_markdown(entries, host))
    return [out / "bench.json", out / "bench.md", *_plots(entries, out)]
