"""The stack's shape from the environment: DB=postgres adds a PostgreSQL server and gives the dashboards its URL."""

from __future__ import annotations

import pytest

from stack import postgres
from stack.cli import Shape
from stack.errors import StackError

URL = "postgresql://dashboard:secret@127.0.0.1:5432/dashboard"


def test_without_db_the_dashboards_keep_their_sqlite_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DB", raising=False)
    monkeypatch.setenv("DASHBOARDS", "2")
    shape = Shape.from_env()
    assert shape.database == "sqlite" and postgres.NAME not in [c.name for c in shape.infrastructure()]
    assert all("DATABASE_URL" not in s.env for s in shape.processes())


def test_db_postgres_runs_the_server_and_every_dashboard_uses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB", "postgres")
    monkeypatch.setenv("DASHBOARDS", "2")
    monkeypatch.setattr(postgres, "url", lambda: URL)  # no secret made in the stack's state by a unit test
    shape = Shape.from_env()
    assert postgres.NAME in [c.name for c in shape.infrastructure()]
    dashboards = [s for s in shape.processes() if s.module == "services.dashboard"]
    assert len(dashboards) == 2 and {s.env["DATABASE_URL"] for s in dashboards} == {URL}
    assert all("DATABASE_URL" not in s.env for s in shape.processes() if s.module != "services.dashboard")


def test_another_db_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB", "mysql")
    with pytest.raises(StackError, match="DB sqlite or postgres"):
        Shape.from_env()
