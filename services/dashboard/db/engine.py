"""The connection to SQLite or PostgreSQL (DATABASE_URL), and the three ways the repositories run SQL on it."""

from __future__ import annotations

import sqlite3
import time
from contextlib import AbstractContextManager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, TextClause, create_engine, event, make_url, text

__all__ = ["Sql", "engine", "now_ms", "statement"]

SQLITE_WAIT_SECONDS = 30


def now_ms() -> int:
    return int(time.time() * 1000)


def _url(url: str) -> URL:
    """DATABASE_URL as SQLAlchemy names it: postgresql:// through psycopg (version 3), sqlite:/// as it is."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg") if parsed.drivername == "postgresql" else parsed


def _sqlite_settings(connection: Any, _: Any) -> None:
    # Readers go on while one connection writes. Turning WAL on takes the file's lock for a moment, and SQLite says
    # "locked" at once, without its busy wait, to a connection that finds another (a dashboard starting at the same
    # time) holding it: asked again, for as long as a write would wait.
    deadline = time.monotonic() + SQLITE_WAIT_SECONDS
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    # The request itself is durable in Kafka before the 202; this database is the dashboard's view of it, so
    # it syncs at checkpoints (survives a process crash, not a power cut) to keep writes cheap.
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")


def engine(url: str, connections: int = 1) -> Engine:
    """An engine for DATABASE_URL (sqlite:///<path>, or postgresql://<user>:<password>@<host>:<port>/<database>)
    holding at most `connections` connections: a thread that finds them all in use waits for one."""
    parsed = _url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_size=connections, max_overflow=0)
    if parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # A writer waits up to SQLITE_WAIT_SECONDS for another connection's write to end.
    made = create_engine(parsed, pool_size=connections, max_overflow=0, connect_args={"timeout": SQLITE_WAIT_SECONDS})
    event.listen(made, "connect", _sqlite_settings)
    return made


@lru_cache(maxsize=512)
def statement(sql: str) -> TextClause:
    """The statement for `sql`, made once: SQLAlchemy then finds it compiled in its cache instead of keying it anew."""
    return text(sql)


class Sql:
    """SQL that means the same on both databases, each call one short transaction of its own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self.engine.begin() as connection:
            return [tuple(row) for row in connection.execute(statement(sql), params)]

    def row(self, sql: str, **params: Any) -> tuple[Any, ...] | None:
        with self.engine.begin() as connection:
            row = connection.execute(statement(sql), params).first()
        return tuple(row) if row else None

    def change(self, sql: str, **params: Any) -> int:
        """Run a statement that returns no rows; how many rows it changed."""
        with self.engine.begin() as connection:
            return connection.execute(statement(sql), params).rowcount

    def transaction(self) -> AbstractContextManager[Connection]:
        """Several statements in one transaction: `with sql.transaction() as connection: ...`."""
        return self.engine.begin()
