"""The dashboard's database tests run on SQLite and on PostgreSQL: `database_url` gives each test an empty database of
each kind. PostgreSQL's is a database of its own on a scratch server (Debian's, as `make up DB=postgres` runs it),
made by initdb in a temporary folder on a free port when the first test needs it, and stopped after the last."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql

from stack import procs
from stack.postgres import Cluster, owner
from tests.ports import free_port


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Cluster]:
    home = Path(tempfile.mkdtemp(prefix="pg-"))  # a short path: a Unix socket's may have at most 107 bytes
    cluster = Cluster(home, free_port())
    cluster.init()
    log = home / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(cluster.argv(), stdout=output, stderr=subprocess.STDOUT, cwd=home,
                                  **procs.as_user(owner()))
    try:
        deadline = time.monotonic() + 60
        while not cluster.accepting():
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the scratch PostgreSQL server did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield cluster
    finally:
        server.send_signal(signal.SIGINT)  # a fast shutdown: it ends the sessions still open
        server.wait(30)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The DATABASE_URL of an empty database: a SQLite file, or a database on the scratch PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dashboard.sqlite3'}"
        return
    yield from _postgresql(request.getfixturevalue("postgres_server"))


@pytest.fixture
def postgresql_url(postgres_server: Cluster) -> Iterator[str]:
    """The DATABASE_URL of an empty database on the scratch PostgreSQL server, for what only PostgreSQL does."""
    yield from _postgresql(postgres_server)


def _postgresql(cluster: Cluster) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex}"
    yield cluster.provide("dashboard", "test-password", name)
    with cluster.superuser() as connection:
        connection.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
