"""A worker's readiness follows its broker: 503 while its host is cut off, 200 again once it is back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from chaos.hosts import Host
from contracts.env import principal_env

PROBE = """
import urllib.error, urllib.request
try:
    urllib.request.urlopen("http://127.0.0.1:8102/readyz", timeout=3)
    print(200)
except urllib.error.HTTPError as error:
    print(error.code)
except OSError:
    print(0)
"""


def _readiness(host: Host) -> int:
    """/readyz as seen from inside the host (the worker's health endpoint listens on the host's loopback)."""
    probe = subprocess.run(["ip", "netns", "exec", host.name, sys.executable, "-c", PROBE],
                           capture_output=True, text=True, timeout=30)
    return int(probe.stdout.strip() or 0)


def _await(host: Host, status: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (seen := _readiness(host)) != status:
        assert time.monotonic() < deadline, f"/readyz answered {seen}, not {status}, for {seconds:.0f} s"
        time.sleep(0.5)


def test_a_workers_readiness_is_503_while_its_broker_is_unreachable(tmp_path: Path) -> None:
    with Host("acc-ready", 9) as host:
        env = {**os.environ, **principal_env("score"),
               "INSTANCE_ID": f"ready-{uuid.uuid4().hex[:6]}", "STATE_DIR": str(tmp_path / "state"),
               "HEALTH_PORT": "8102"}
        host.start([sys.executable, "-m", "services.score"], env, tmp_path / "score.log")
        _await(host, 200, 60)
        host.cut()
        _await(host, 503, 15)
        host.heal()
        _await(host, 200, 30)
