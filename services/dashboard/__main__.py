"""The dashboard: the web app people use, at http://127.0.0.1:8000 by default."""

from __future__ import annotations

import sys

import uvicorn

from contracts.registry import RegistryError
from messaging import logs
from messaging.runtime import Runtime
from messaging.serde import SchemaNotRegistered
from messaging.settings import SettingsError
from services.dashboard.app import create_app
from services.dashboard.bus import CONTRACTS, DELIVERY_TIMEOUT_MS
from services.dashboard.server import with_deadlines
from services.dashboard.settings import DashboardSettings


def main() -> int:
    logs.configure("dashboard")
    try:
        settings = DashboardSettings.from_env()
        runtime = Runtime("dashboard", producer_overrides={"message.timeout.ms": DELIVERY_TIMEOUT_MS})
        manifest = runtime.manifest
        # Resolve every contract now, so a missing registry or schema stops start-up with one sentence.
        runtime.prepare(*(manifest.topic(binding) for binding in CONTRACTS))
    except (SettingsError, RegistryError, SchemaNotRegistered, LookupError) as error:
        print(f"dashboard cannot start: {error}", file=sys.stderr)
        return 1
    uvicorn.run(create_app(settings, runtime), host=settings.host, port=settings.port, log_config=None,
                access_log=False, timeout_graceful_shutdown=5, server_header=False,  # no banner naming the server
                http=with_deadlines(settings.header_timeout_seconds, settings.body_timeout_seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
