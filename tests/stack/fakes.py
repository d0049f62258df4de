"""Fake services for the supervisor's tests, and the stack's own controls to run them, as
`python -m tests.stack.fakes`:

- no arguments: a service. It notes the time it started in FAKE_STARTS, then either serves /readyz on
  HEALTH_PORT (through the workers' own health server) until SIGTERM (FAKE_MODE=serve), or exits 1 at
  once (FAKE_MODE=crash).
- `start NAME PORT MODE STARTS`: `Service.start`, as `make up` starts a real service, under the supervisor.
- `stop NAME`: `procs.stop`, as the benchmarks and the fault tests stop a service on purpose.

The controls run in a process of their own because the stack reads STACK_STATE (which state folder,
so which stack) once, when it is imported.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time


def serve() -> int:
    with open(os.environ["FAKE_STARTS"], "a") as starts:
        starts.write(f"{time.time()}\n")
    if os.environ["FAKE_MODE"] == "crash":
        return 1
    from messaging.metrics import serve_health

    serve_health(int(os.environ["HEALTH_PORT"]), statuses=list)  # no clients: ready
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    threading.Event().wait()
    return 0


def control(command: str, name: str, *rest: str) -> int:
    from stack import procs
    from stack.errors import StackError
    from stack.services import Service

    if command == "stop":
        procs.stop(name)
        return 0
    port, mode, starts = rest
    service = Service(name, "tests.stack.fakes", int(port), "HEALTH_PORT", {"FAKE_MODE": mode, "FAKE_STARTS": starts})
    try:
        print(f"{name} ready in {service.start():.1f} s")
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(control(*sys.argv[1:]) if len(sys.argv) > 1 else serve())
