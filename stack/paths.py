"""Where the local stack keeps its downloads and its state."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE", "LOGS", "PIDS", "REPO", "STATE"]

REPO = Path(__file__).resolve().parent.parent
# Downloads survive `make clean`; state (data, logs, pid files) does not.
CACHE = REPO / ".cache" / "stack"
# STACK_STATE puts the state of a second, separate stack elsewhere: the supervisor's tests run fake
# services in a temporary folder beside the shared stack. The processes a stack starts inherit it.
STATE = Path(os.environ.get("STACK_STATE") or REPO / "var").resolve()
LOGS = STATE / "log"
PIDS = STATE / "run"
