"""The dashboard: the web app people use, at http://127.0.0.1:8000 by default."""

from __future__ import annotations

import sys

import uvicorn

from messaging import logs, tracing
from messaging.settings import SettingsError
from services.dashboard.app import StartupError, create_app
from services.dashboard.server import with_deadlines
from services.dashboard.settings import DashboardSettings


def main() -> int:
    logs.configure("dashboard")
    try:
        settings = DashboardSettings.from_env()
        tracing.setup("dashboard")  # TRACING=1: spans to the receiver OTEL_TRACES_EXPORTER names
    except SettingsError as error:
        print(f"dashboard cannot start: {error}", file=sys.stderr)
        return 1
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(
        app, host=settings.host, port=settings.port, log_config=None, access_log=False, timeout_graceful_shutdown=5,
        server_header=False,  # no banner naming the server
        http=with_deadlines(settings.header_timeout_seconds, settings.body_timeout_seconds)))
    try:
        server.run()
    except SystemExit:  # uvicorn's way out when the lifespan failed
        if isinstance(failure := getattr(app.state, "startup_error", None), StartupError):
            print(failure, file=sys.stderr)  # one sentence, the last line, after uvicorn's own account
            return 1
        raise
    finally:
        tracing.shutdown()  # what is still buffered goes out
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
