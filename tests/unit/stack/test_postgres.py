"""The stack's PostgreSQL (`make up DB=postgres`), in a stack of its own (STACK_STATE) beside the shared one: made and
started once, healthy for the dashboards' role, seen by `status`, stopped by `down`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ports import free_port


@pytest.fixture
def stack_env() -> Iterator[dict[str, str]]:
    state = Path(tempfile.mkdtemp(prefix="stack-"))  # a short path: the server's socket lives in it
    state.chmod(0o755)  # as var/ is: the server may run as another user (postgres, when we are root)
    env = {**os.environ, "STACK_STATE": str(state), "STACK_POSTGRES_PORT": str(free_port()), "DB": "postgres"}
    yield env
    subprocess.run([sys.executable, "-m", "stack", "down"], env=env, capture_output=True, timeout=120)
    shutil.rmtree(state, ignore_errors=True)


def python(code: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_stacks_postgresql_starts_once_serves_the_dashboards_and_stops_with_down(stack_env: dict[str, str]) -> None:
    first = python("from stack import postgres; print(postgres.start() > 0, postgres.healthy())", stack_env)
    again = python("from stack import postgres; print(postgres.start(), postgres.healthy())", stack_env)
    assert (first, again) == ("True True", "0.0 True")  # the second start finds it running
    status = subprocess.run([sys.executable, "-m", "stack", "status"], env=stack_env, capture_output=True, text=True,
                            timeout=60).stdout
    assert any(line.split()[:2] == ["postgres", "running"] and "healthy" in line for line in status.splitlines()), status
    down = subprocess.run([sys.executable, "-m", "stack", "down"], env=stack_env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 0 and "postgres     stopped" in down.stdout, down.stdout + down.stderr
    assert python("from stack import postgres; print(postgres.healthy())", stack_env) == "False"
