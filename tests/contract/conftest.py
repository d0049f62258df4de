"""Fixtures of the contract tooling's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contract.projects import make_project


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository holding the manifest and v1 of every schema family, committed once."""
    return make_project(tmp_path / "project")
