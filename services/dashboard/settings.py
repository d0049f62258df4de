"""The dashboard's settings, from environment variables with documented defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass

from contracts.manifest import Manifest
from messaging.settings import SettingsError, env_int
from services.dashboard.mailer import MailSettings

__all__ = ["DashboardSettings"]


def _database_url(url: str) -> str:
    if not url.startswith(("sqlite:///", "postgresql://")):
        raise SettingsError("DATABASE_URL must be sqlite:///<path> or postgresql://<user>:<password>@<host>:<port>/<database>,"
                            f" got {url.partition('://')[0]}://...")
    return url


def _public_url(url: str) -> str:
    # The mailed links start with it: taken from the request's Host header instead, a forged one would send
    # someone's reset link to the forger's site.
    if not url.startswith(("http://", "https://")):
        raise SettingsError(f"DASHBOARD_PUBLIC_URL must be the dashboard's address as people reach it, http(s)://...,"
                            f" got {url!r}")
    return url.rstrip("/")


def _positive(value: int, name: str) -> int:
    if value < 1:
        raise SettingsError(f"{name} must be 1 or more, got {value}")
    return value


@dataclass(frozen=True)
class DashboardSettings:
    host: str
    port: int
    # /metrics, /healthz and /readyz for scrapers and probes, off the port people use, on HEALTH_HOST (loopback
    # by default) as the workers serve theirs; DASHBOARD_PORT + 1000 unless set, so a second dashboard's differs.
    metrics_port: int
    database_url: str
    request_timeout_seconds: int
    session_max_age_seconds: int
    consumer_group: str | None  # DASHBOARD_GROUP; None: the manifest's (reply_group)
    max_body_bytes: int = 64 * 1024
    header_timeout_seconds: int = 10
    body_timeout_seconds: int = 15
    password_threads: int = 2
    database_pool_size: int = 4
    account_attempts: int = 10
    account_window_seconds: int = 900
    address_attempts: int = 60
    address_window_seconds: int = 60
    # OPERATOR_EMAILS: verified accounts made operators at start (and on verification); the rest by `make operator`
    operators: frozenset[str] = frozenset()
    public_url: str = ""  # DASHBOARD_PUBLIC_URL: where people reach the dashboard, for the links in its mail
    mail: MailSettings = MailSettings()
    trace_viewer: str = "http://127.0.0.1:16686"  # TRACING_UI_URL: where the operator view links a request's trace

    def reply_group(self, manifest: Manifest) -> str:
        """The consumer group of the reply consumer: DASHBOARD_GROUP, or the manifest's `[service.dashboard]` one."""
        return self.consumer_group if self.consumer_group is not None else manifest.consumer_groups["dashboard"]

    @classmethod
    def from_env(cls) -> DashboardSettings:
        port = env_int("DASHBOARD_PORT", 8000)
        metrics_port = env_int("DASHBOARD_METRICS_PORT", port + 1000)
        if metrics_port == port or not 0 < metrics_port < 65536:
            raise SettingsError(f"DASHBOARD_METRICS_PORT must be a port other than DASHBOARD_PORT ({port}), since metrics"
                                f" stay off the port people use; got {metrics_port}")
        return cls(
            host=os.environ.get("DASHBOARD_HOST", "127.0.0.1"),
            port=port,
            metrics_port=metrics_port,
            operators=frozenset(e.strip().lower() for e in os.environ.get("OPERATOR_EMAILS", "").split(",") if e.strip()),
            public_url=_public_url(os.environ.get("DASHBOARD_PUBLIC_URL") or f"http://127.0.0.1:{port}"),
            mail=MailSettings.from_env(),
            trace_viewer=os.environ.get("TRACING_UI_URL", cls.trace_viewer).rstrip("/"),
            database_url=_database_url(os.environ.get("DATABASE_URL", "sqlite:///var/db/dashboard.sqlite3")),
            request_timeout_seconds=env_int("REQUEST_TIMEOUT_SECONDS", 30),
            session_max_age_seconds=_positive(env_int("SESSION_MAX_AGE_SECONDS", 8 * 3600), "SESSION_MAX_AGE_SECONDS"),
            consumer_group=os.environ.get("DASHBOARD_GROUP"),
            max_body_bytes=_positive(env_int("MAX_BODY_BYTES", cls.max_body_bytes), "MAX_BODY_BYTES"),
            header_timeout_seconds=_positive(env_int("HEADER_TIMEOUT_SECONDS", cls.header_timeout_seconds),
                                             "HEADER_TIMEOUT_SECONDS"),
            body_timeout_seconds=_positive(env_int("BODY_TIMEOUT_SECONDS", cls.body_timeout_seconds),
                                           "BODY_TIMEOUT_SECONDS"),
            password_threads=_positive(env_int("PASSWORD_HASH_THREADS", cls.password_threads), "PASSWORD_HASH_THREADS"),
            database_pool_size=_positive(env_int("DATABASE_POOL_SIZE", cls.database_pool_size), "DATABASE_POOL_SIZE"),
            account_attempts=_positive(env_int("AUTH_ACCOUNT_ATTEMPTS", cls.account_attempts), "AUTH_ACCOUNT_ATTEMPTS"),
            account_window_seconds=_positive(env_int("AUTH_ACCOUNT_WINDOW_SECONDS", cls.account_window_seconds),
                                             "AUTH_ACCOUNT_WINDOW_SECONDS"),
            address_attempts=_positive(env_int("AUTH_ADDRESS_ATTEMPTS", cls.address_attempts), "AUTH_ADDRESS_ATTEMPTS"),
            address_window_seconds=_positive(env_int("AUTH_ADDRESS_WINDOW_SECONDS", cls.address_window_seconds),
                                             "AUTH_ADDRESS_WINDOW_SECONDS"),
        )
