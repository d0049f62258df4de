"""Where the local stack keeps its downloads and its state."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CACHE", "LOGS", "PIDS", "REPO", "STATE"]

REPO = Path(__file__).resolve().parent.parent
# Downloads survive `make clean`; state (data, logs, pid files) does not.
CACHE = REPO / ".cache" / "stack"
STATE = REPO / "var"
LOGS = STATE / "log"
PIDS = STATE / "run"
