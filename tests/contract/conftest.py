"""Fixtures of the contract tooling's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contract.oracle import ROOT, TALLY
from tests.contract.projects import make_project


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository holding the manifest and v1 of every schema family, committed once."""
    return make_project(tmp_path / "project")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The differential test's numbers (tests/contract/test_oracle.py), when it ran."""
    if TALLY.chains:
        path = TALLY.write(ROOT / "results")
        terminalreporter.write_sep("-", "contracts compat against Avro Java")
        terminalreporter.write_line(f"{TALLY.summary()} ({path.relative_to(ROOT)})")
