"""Throwaway projects for the review's tests: a git repository holding a copy of the contracts (v1 of every family)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["CONTRACTS", "commit", "git", "make_project", "publish", "schema"]

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
GIT = ["git", "-c", "user.name=Review Test", "-c", "user.email=review@example.com", "-c", "commit.gpgsign=false"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def commit(repo: Path, message: str = "change") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)


def make_project(root: Path) -> Path:
    """A git repository at `root` holding the manifest and v1 of every schema family, committed once."""
    (root / "contracts").mkdir(parents=True)
    shutil.copy(CONTRACTS / "topics.toml", root / "contracts" / "topics.toml")
    for v1 in sorted((CONTRACTS / "schemas").glob("*/v1.avsc")):
        target = root / "contracts" / "schemas" / v1.parent.name
        target.mkdir(parents=True)
        shutil.copy(v1, target / "v1.avsc")
    git(root, "init", "-q")
    commit(root, "contracts v1")
    return root


def schema(repo: Path, family: str, version: int) -> dict[str, Any]:
    return json.loads((repo / "contracts" / "schemas" / family / f"v{version}.avsc").read_text())


def publish(repo: Path, family: str, version: int, document: dict[str, Any]) -> None:
    (repo / "contracts" / "schemas" / family / f"v{version}.avsc").write_text(json.dumps(document, indent=2) + "\n")
