"""The dashboard's settings, from environment variables with documented defaults."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from messaging.settings import SettingsError, env_int

__all__ = ["DashboardSettings"]


def _database_path(url: str) -> Path:
    if not url.startswith("sqlite:///"):
        raise SettingsError(f"DATABASE_URL must be a sqlite:/// URL (the only database supported), got {url!r}")
    return Path(url.removeprefix("sqlite:///"))


def _secret(database: Path) -> str:
    """SECRET_KEY, or one generated once and kept beside the database so sessions survive restarts."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = database.with_name(database.name + ".secret")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


@dataclass(frozen=True)
class DashboardSettings:
    host: str
    port: int
    database: Path
    secret_key: str
    request_timeout_seconds: int
    session_max_age_seconds: int
    consumer_group: str

    @classmethod
    def from_env(cls) -> DashboardSettings:
        database = _database_path(os.environ.get("DATABASE_URL", "sqlite:///var/db/dashboard.sqlite3"))
        return cls(
            host=os.environ.get("DASHBOARD_HOST", "127.0.0.1"),
            port=env_int("DASHBOARD_PORT", 8000),
            database=database,
            secret_key=_secret(database),
            request_timeout_seconds=env_int("REQUEST_TIMEOUT_SECONDS", 30),
            session_max_age_seconds=env_int("SESSION_MAX_AGE_SECONDS", 8 * 3600),
            consumer_group=os.environ.get("DASHBOARD_GROUP", "dashboard"),
        )
