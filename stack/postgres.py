"""PostgreSQL for the dashboards (`make up DB=postgres`): Debian's server run as a process of the stack, like Kafka.

Its cluster lives in the stack's state (var/postgres/): made by initdb on the first start, kept after. The server
listens on 127.0.0.1 only, where the dashboards sign in as the `dashboard` role with a password kept like the stack's
other secrets (var/secrets/). The stack itself reaches the server as its superuser through a Unix socket in a folder
that only the server's owner enters. PostgreSQL refuses to run as root: under root, Debian's `postgres` user runs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from stack import procs, security
from stack.errors import StackError
from stack.paths import STATE

__all__ = ["NAME", "PORT", "Cluster", "address", "binary", "healthy", "owner", "start", "url"]

NAME = "postgres"
# STACK_POSTGRES_PORT moves it, as STACK_KAFKA_PORT moves the broker (a second stack beside the shared one).
PORT = int(os.environ.get("STACK_POSTGRES_PORT") or 5432)
ROLE = DATABASE = "dashboard"
SECRET = "dashboard-database"  # the name of the role's password among the stack's secrets
SUPERUSER = "postgres"


def _major(folder: Path) -> int:
    return int(folder.parent.name) if folder.parent.name.isdigit() else 0


def binary(name: str) -> Path:
    """A program of PostgreSQL's server: from POSTGRES_BIN, or Debian's package (its newest version here)."""
    if configured := os.environ.get("POSTGRES_BIN"):
        folders = [Path(configured)]
    else:  # /usr/lib/postgresql/<major version>/bin
        folders = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_major, reverse=True)
    for folder in folders:
        if (folder / name).is_file():
            return folder / name
    raise StackError(f"PostgreSQL's {name} is needed for DB=postgres and the database tests: install Debian's server"
                     " (apt-get install postgresql) or set POSTGRES_BIN to the folder that has it")


def owner() -> str | None:
    """Who runs the server: Debian's `postgres` user when we are root (PostgreSQL refuses root), else we ourselves."""
    return "postgres" if os.geteuid() == 0 else None


@dataclass(frozen=True)
class Cluster:
    """A cluster in `home` (its data/ and socket/ folders), served on 127.0.0.1:`port`."""

    home: Path
    port: int

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def sockets(self) -> Path:
        return self.home / "socket"

    def init(self) -> None:
        """Make the cluster the first time; later starts reuse it.

        The Unix socket trusts whoever reaches it, as only the server's owner (and root) can enter its folder;
        over TCP every role signs in with its password (SCRAM).
        """
        if (self.data / "PG_VERSION").exists():
            return
        self.sockets.mkdir(parents=True, exist_ok=True, mode=0o700)
        if user := owner():
            for path in (self.home, self.sockets):
                shutil.chown(path, user, user)
        result = subprocess.run(
            [str(binary("initdb")), "-D", str(self.data), "-U", SUPERUSER, "-E", "UTF8", "--no-locale",
             "--auth-local=trust", "--auth-host=scram-sha-256"],
            cwd=self.home, capture_output=True, text=True, timeout=120, **procs.as_user(owner()),
        )
        if result.returncode != 0:
            reason = (result.stderr.strip() or result.stdout).splitlines()[-1]
            if owner():
                reason += f" (it runs as the {owner()} user, so every folder above {self.home} must let that user through)"
            raise StackError(f"initdb failed for {self.data}: {reason}")

    def argv(self) -> list[str]:
        """The server's command line; it logs to its standard error."""
        return [str(binary("postgres")), "-D", str(self.data), "-p", str(self.port), "-k", str(self.sockets),
                "-c", "listen_addresses=127.0.0.1"]

    def superuser(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        """A connection as the superuser, through the socket, in autocommit (CREATE DATABASE needs it)."""
        return psycopg.connect(host=str(self.sockets), port=self.port, user=SUPERUSER, dbname=database,
                               autocommit=True, connect_timeout=2)

    def accepting(self) -> bool:
        try:
            with self.superuser():
                return True
        except psycopg.OperationalError:
            return False

    def provide(self, role: str, password: str, database: str) -> str:
        """`role` signing in with `password` (made, or its password set again) and its `database` (made unless it
        exists); the URL that reaches it."""
        with self.superuser() as connection:
            known = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            command = "ALTER ROLE {} LOGIN PASSWORD {}" if known else "CREATE ROLE {} LOGIN PASSWORD {}"
            connection.execute(sql.SQL(command).format(sql.Identifier(role), sql.Literal(password)))
            if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                connection.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database),
                                                                                 sql.Identifier(role)))
        return f"postgresql://{quote(role)}:{quote(password, safe='')}@127.0.0.1:{self.port}/{quote(database)}"


CLUSTER = Cluster(STATE / "postgres", PORT)


def url() -> str:
    """The dashboards' DATABASE_URL."""
    return f"postgresql://{ROLE}:{security.password(SECRET)}@127.0.0.1:{PORT}/{DATABASE}"


def address() -> str:
    return f"127.0.0.1:{PORT}"


def healthy() -> bool:
    """The dashboards' role signs in to their database."""
    try:
        with psycopg.connect(url(), connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def start() -> float:
    """Start the server unless it runs (its cluster made the first time); the seconds it took to become ready."""
    if procs.running_pid(NAME):
        return 0.0
    began = time.monotonic()
    procs.require_free_ports("PostgreSQL", PORT)
    CLUSTER.init()
    pid = procs.start(NAME, CLUSTER.argv(), cwd=CLUSTER.home, user=owner())
    procs.wait_until(CLUSTER.accepting, NAME, "PostgreSQL", 60, pid)
    CLUSTER.provide(ROLE, security.password(SECRET), DATABASE)
    return time.monotonic() - began
