"""The stack's shape from the environment: DB=postgres adds a PostgreSQL server and gives the dashboards its URL;
TRACING=1 adds the trace viewer."""

from __future__ import annotations

import pytest

from stack import postgres, zipkin
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


def test_tracing_adds_the_trace_viewer_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DB", raising=False)
    monkeypatch.delenv("TRACING", raising=False)
    assert zipkin.NAME not in [c.name for c in Shape.from_env().infrastructure()]
    monkeypatch.setenv("TRACING", "1")
    shape = Shape.from_env()
    assert shape.tracing and [c.name for c in shape.infrastructure()][-1] == zipkin.NAME


def test_tracing_other_than_0_or_1_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACING", "yes")
    with pytest.raises(StackError, match="TRACING 0 or 1"):
        Shape.from_env()
