"""contracts.registry: absent things answered as None or [], errors that name the registry (never a password), and
the environment's credentials and CA reaching the client; against the live registry and a stand-in HTTP server."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from contracts import Manifest
from contracts.env import SettingsError, registry_client
from contracts.registry import Registry, RegistryError, same_schema

NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens there


def test_a_missing_subject_has_no_versions_no_level_and_holds_no_schema(registry: Registry) -> None:
    assert registry.versions("test-registry-no-such-subject") == []
    assert registry.compatibility("test-registry-no-such-subject") is None
    assert registry.lookup("test-registry-no-such-subject", '"string"') is None
    assert registry.schema_by_id(2**31 - 1) is None


def test_a_published_version_reads_back_the_same_by_subject_and_by_id(registry: Registry, manifest: Manifest) -> None:
    subject = manifest.subjects[0]
    schema_id = registry.lookup(subject.name, subject.latest.text)
    assert schema_id is not None
    assert same_schema(registry.schema_text(subject.name, subject.latest.version), subject.latest.text)
    assert same_schema(registry.schema_by_id(schema_id) or "", subject.latest.text)


def test_a_missing_version_is_an_error_that_names_the_subject_and_the_registry(registry: Registry, manifest: Manifest) -> None:
    subject = manifest.subjects[0]
    with pytest.raises(RegistryError, match=f"version 999 of {subject.name} at {registry.url}: answered 404"):
        registry.schema_text(subject.name, 999)


def test_an_unreachable_registry_is_named_and_its_password_is_not() -> None:
    registry = Registry({"url": "http://reader:s3cret@127.0.0.1:9", "max.retries": 0})
    with pytest.raises(RegistryError, match=f"the schema registry at {NOWHERE} is not reachable") as refused:
        registry.versions("anything")
    assert "s3cret" not in str(refused.value)


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ({"url": "ftp://registry"}, "Invalid url"),
        ({"url": NOWHERE, "retries": 3}, "Unrecognized properties: retries"),
        ({"url": NOWHERE, "ssl.ca.location": "/no/such/ca.pem"}, "No such file"),
    ],
)
def test_unusable_settings_fail_at_once(config: dict[str, str], reason: str) -> None:
    with pytest.raises(RegistryError, match=reason):
        Registry(config)


# ------------------------------------------------------------------------ the environment's settings


def test_by_default_the_registry_is_the_local_stacks_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SCHEMA_REGISTRY_URL", "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "SCHEMA_REGISTRY_SSL_CA_LOCATION"):
        monkeypatch.delenv(name, raising=False)
    assert registry_client() == {"url": "http://127.0.0.1:8081/apis/ccompat/v7"}


def test_credentials_and_ca_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", "https://registry:8081")
    monkeypatch.setenv("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "invoice:pass:word")
    monkeypatch.setenv("SCHEMA_REGISTRY_SSL_CA_LOCATION", str(ca))
    assert registry_client() == {
        "url": "https://registry:8081", "basic.auth.user.info": "invoice:pass:word", "ssl.ca.location": str(ca)}


def test_credentials_without_a_colon_are_refused_without_being_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "just-a-password")
    with pytest.raises(SettingsError, match="SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO must be user:password") as refused:
        registry_client()
    assert "just-a-password" not in str(refused.value)


def test_a_missing_ca_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_SSL_CA_LOCATION", str(tmp_path / "ca.pem"))
    with pytest.raises(SettingsError, match=f"SCHEMA_REGISTRY_SSL_CA_LOCATION names {tmp_path / 'ca.pem'}"):
        registry_client()


# ------------------------------------------------------------------ basic auth, seen by a stand-in server


class _Guarded(BaseHTTPRequestHandler):
    """GET /subjects for invoice:secret only, like a registry with basic auth; 401 for anyone else."""

    def do_GET(self) -> None:
        allowed = self.headers.get("Authorization") == "Basic " + base64.b64encode(b"invoice:secret").decode()
        body = json.dumps([] if allowed else {"error_code": 401, "message": "Unauthorized"}).encode()
        self.send_response(200 if allowed else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def guarded() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Guarded)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_the_environments_credentials_are_sent(guarded: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", guarded)
    monkeypatch.setenv("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "invoice:secret")
    assert Registry(registry_client()).subjects() == []


def test_a_refusal_names_the_registry_and_the_status(guarded: str) -> None:
    with pytest.raises(RegistryError, match=f"listing the subjects at {guarded}: answered 401, Unauthorized"):
        Registry({"url": guarded, "basic.auth.user.info": "invoice:wrong"}).subjects()
