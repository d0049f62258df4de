"""Why a scenario failed, in the components' own words: the last error (or else warning) each one logged since the
scenario began, from our JSON lines and librdkafka's own (`%<level>|<epoch seconds>|<facility>|...`)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from stack.paths import LOGS

__all__ = ["explanations"]

LIBRDKAFKA = re.compile(r"%(?P<level>[0-7])\|(?P<at>[0-9]+\.[0-9]+)\|")
SEVERITY = {"critical": 3, "error": 3, "warning": 1}  # ours; librdkafka's: 0-2 (fatal, critical) 3, errors 2


def explanations(since: float, folder: Path = LOGS) -> list[str]:
    """`<component>: <line>` for each component that logged an error or warning after `since` (epoch seconds)."""
    found = []
    for path in sorted(folder.glob("*.log")):
        worst = _worst(path, since)
        if worst is not None:
            found.append(f"{path.stem}: {worst}")
    return found


def _worst(path: Path, since: float) -> str | None:
    best: tuple[int, str] | None = None
    for line in path.read_text(errors="replace").splitlines():
        rated = _rate(line, since)
        if rated is not None and (best is None or rated[0] >= best[0]):
            best = rated
    return None if best is None else best[1][:600]


def _rate(line: str, since: float) -> tuple[int, str] | None:
    """(severity, line) for an error or warning logged after `since`; None for anything else."""
    if line.startswith("{"):
        try:
            entry = json.loads(line)
            at = datetime.fromisoformat(entry["time"]).timestamp()
        except (ValueError, KeyError, TypeError):
            return None
        severity = SEVERITY.get(str(entry.get("level")), 0)
        return (severity, line) if severity and at >= since else None
    match = LIBRDKAFKA.match(line)
    if match and float(match["at"]) >= since and int(match["level"]) <= 4:
        return {0: 3, 1: 3, 2: 3, 3: 2}.get(int(match["level"]), 1), line
    return None
