"""Schemathesis fuzzes the served OpenAPI document: no 5xx, and no response that breaks the document."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from tests.integration.conftest import DASHBOARD_URL, sign_up


def test_schemathesis_finds_no_server_error_and_no_undocumented_response() -> None:
    with httpx.Client(base_url=DASHBOARD_URL, timeout=15) as client:
        sign_up(client)
        cookie = client.cookies["session"]
    schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert schemathesis, "schemathesis is not installed in the virtual environment"
    # Its sign-ups and log-ins come from an address of their own (uvicorn believes X-Forwarded-For from
    # 127.0.0.1), so they use up only that address's share of attempts, not everyone's on this machine.
    address = f"2001:db8:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}::1"
    result = subprocess.run(
        [schemathesis, "run", f"{DASHBOARD_URL}/openapi.json", "--header", f"Cookie: session={cookie}",
         "--header", f"X-Forwarded-For: {address}",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
         "--phases", "examples,coverage,fuzzing", "--max-time", "45", "--workers", "2", "--seed", "20261128",
         "--no-color"],
        capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
