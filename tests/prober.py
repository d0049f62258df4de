"""Probe a URL back to back from a process of its own, so that what it measures is the server's answer time and
not the wait of a test process busy with the load it makes itself.

    with Prober("http://127.0.0.1:8000/healthz") as prober:
        ...  # the load
    prober.seconds  # each probe's answer time
"""

from __future__ import annotations

import subprocess
import sys
from types import TracebackType
from typing import Self

_PROBE = """
import select, sys, time, urllib.request
url, pause, seconds = sys.argv[1], float(sys.argv[2]), []
while not select.select([sys.stdin], [], [], 0)[0]:  # until the caller closes our stdin
    began = time.perf_counter()
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.status == 200, answer.status
    seconds.append(time.perf_counter() - began)
    time.sleep(pause)
print(" ".join(f"{s:.6f}" for s in seconds))
"""


class Prober:
    """GETs `url` every `pause` seconds from another process while the block runs; `seconds` holds each answer time."""

    def __init__(self, url: str, pause: float = 0.01, prefix: tuple[str, ...] = ()) -> None:
        self.seconds: list[float] = []
        self._argv = [*prefix, sys.executable, "-c", _PROBE, url, str(pause)]
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Self:
        self._process = subprocess.Popen(self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        assert self._process is not None
        output, _ = self._process.communicate(timeout=30)
        assert self._process.returncode == 0, "the prober failed: a probe was not answered 200"
        self.seconds = [float(word) for word in output.split()]

    def percentile(self, share: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
