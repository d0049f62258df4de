"""`stack.start`: `make up` from stopped to healthy, with the artifacts already downloaded."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

__all__ = ["measure"]


def measure() -> list[dict[str, Any]]:
    subprocess.run([sys.executable, "-m", "stack", "down"], check=True, capture_output=True)
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "stack", "up"], check=True, capture_output=True)
    seconds = time.perf_counter() - began
    print(f"  make up (warm): {seconds:.1f} s", flush=True)
    return [{"name": "stack.start", "unit": "s", "value": round(seconds, 1)}]
