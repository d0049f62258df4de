"""The dashboard's database: users, their sessions, their submissions and their idempotency keys, in SQLite or
PostgreSQL (DATABASE_URL), through SQLAlchemy Core and SQL that means the same on both."""

from __future__ import annotations

from services.dashboard.db.engine import Sql, engine
from services.dashboard.db.idempotency_keys import IdempotencyKeyRepository
from services.dashboard.db.migrations import upgrade
from services.dashboard.db.operators import OperatorRepository
from services.dashboard.db.sessions import SessionRepository
from services.dashboard.db.submissions import SubmissionRepository
from services.dashboard.db.tokens import TokenRepository
from services.dashboard.db.users import UserRepository

__all__ = ["Database"]


class Database:
    """One repository per kind of data, sharing a pool of at most `connections` connections. Each method of each is
    one short transaction, and any thread may call any of them at any time (never the event loop: see OffLoop).

    Opening it applies the migrations the database lacks (migrations.upgrade).
    """

    def __init__(self, url: str, connections: int = 1) -> None:
        self._engine = engine(url, connections)
        upgrade(self._engine)
        sql = Sql(self._engine)
        self.sessions = SessionRepository(sql)
        self.users = UserRepository(sql, changed=self.sessions.forget)
        self.submissions = SubmissionRepository(sql)
        self.keys = IdempotencyKeyRepository(sql)
        self.tokens = TokenRepository(sql)
        self.operators = OperatorRepository(sql, changed=self.sessions.forget)

    def close(self) -> None:
        self._engine.dispose()
