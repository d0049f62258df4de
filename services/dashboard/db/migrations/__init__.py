"""The dashboard's schema, migrated by Alembic: each file in versions/ is one step, applied once and in order."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

__all__ = ["upgrade"]

# The PostgreSQL advisory lock every dashboard takes to migrate: any number, the same in all of them.
LOCK = 7_206_214_901
# Alembic keeps the migration under way in a module global (alembic.context): one at a time in a process.
_ONE_AT_A_TIME = threading.Lock()


def upgrade(engine: Engine) -> None:
    """Apply the migrations the database lacks; none when it has them all, so every start may call this.

    Everything runs in one transaction that first takes a lock: PostgreSQL's transaction-level advisory lock,
    SQLite's write lock (BEGIN IMMEDIATE). A second dashboard starting at the same time waits for the first to
    commit, then finds nothing left to do. The lock goes with the commit, or with the connection when its
    process dies, so none is ever left behind.
    """
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    with _ONE_AT_A_TIME, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": LOCK})
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        config.attributes["connection"] = connection  # env.py runs the migrations on it, in this transaction
        command.upgrade(config, "head")
