"""The trace viewer of `make up TRACING=1` as a process of the stack: started with a pid file, on loopback only, taking
spans, and stopped by `down`. It runs in a stack of its own (STACK_STATE, STACK_ZIPKIN_PORT), so the shared stack is
never touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.ports import free_port


def _listening(port: int) -> set[str]:
    """The local addresses listening on `port`, from the kernel's TCP tables (hex, as /proc writes them)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if state == "0A" and int(hex_port, 16) == port:  # LISTEN
                found.add(address)
    return found


def test_the_trace_viewer_runs_on_loopback_takes_spans_and_stops_with_the_stack(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "STACK_STATE": str(tmp_path), "STACK_ZIPKIN_PORT": str(port)}
    started = subprocess.run([sys.executable, "-c", "from stack import zipkin; zipkin.start()"], env=env,
                             capture_output=True, text=True, timeout=300)
    try:
        assert started.returncode == 0, started.stderr
        assert (tmp_path / "run" / "zipkin.pid").exists() and (tmp_path / "log" / "zipkin.log").exists()
        # 127.0.0.1 only: in /proc's hex, 0100007F (IPv4) or its IPv4-mapped IPv6 form.
        assert _listening(port) and all(a in ("0100007F", "0000000000000000FFFF00000100007F") for a in _listening(port))
        span = {"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "id": "00f067aa0ba902b7", "name": "process x",
                "timestamp": 1_700_000_000_000_000, "duration": 5, "localEndpoint": {"serviceName": "invoice"}}
        assert httpx.post(f"http://127.0.0.1:{port}/api/v2/spans", json=[span], timeout=10).status_code == 202
        trace = httpx.get(f"http://127.0.0.1:{port}/api/v2/trace/{span['traceId']}", timeout=10).json()
        assert [s["name"] for s in trace] == ["process x"]
        assert httpx.get(f"http://127.0.0.1:{port}/zipkin/", timeout=10).status_code == 200  # the UI
    finally:
        stopped = subprocess.run([sys.executable, "-m", "stack", "down"], env=env, capture_output=True, text=True,
                                 timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    assert "zipkin" in stopped.stdout and not _listening(port)
