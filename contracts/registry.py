"""A small client for the Confluent schema-registry REST API (Confluent's own, or Apicurio's ccompat)."""

from __future__ import annotations

import json
from typing import Any

import httpx

__all__ = ["IncompatibleSchema", "Registry", "RegistryError", "same_schema"]

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryError(Exception):
    """The registry is unreachable or answered something unexpected."""


class IncompatibleSchema(RegistryError):
    """The registry refused a schema as incompatible with its subject's level."""


def same_schema(a: str | dict[str, Any], b: str | dict[str, Any]) -> bool:
    """Registries reformat schema text (Apicurio compacts it): compare the parsed JSON, never the strings
    (text that is not JSON at all is compared as it is)."""
    try:
        return (json.loads(a) if isinstance(a, str) else a) == (json.loads(b) if isinstance(b, str) else b)
    except ValueError:
        return a == b


class Registry:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout, headers={"Accept": CONTENT_TYPE})

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        try:
            return self._http.request(
                method, path, json=body, headers={"Content-Type": CONTENT_TYPE} if body is not None else None
            )
        except httpx.HTTPError as error:
            raise RegistryError(f"the schema registry at {self.url} is not reachable ({error})") from error

    def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._call(method, path, body)
        if not response.is_success:
            raise RegistryError(f"{method} {path} answered {response.status_code}: {_message(response)}")
        return response.json()

    def subjects(self) -> list[str]:
        return list(self._json("GET", "/subjects"))

    def versions(self, subject: str) -> list[int]:
        """The subject's version numbers, oldest first; empty when the subject does not exist."""
        response = self._call("GET", f"/subjects/{subject}/versions")
        if response.status_code == 404:
            return []
        if not response.is_success:
            raise RegistryError(f"listing versions of {subject} answered {response.status_code}: {_message(response)}")
        return sorted(response.json())

    def version(self, subject: str, version: int | str) -> dict[str, Any]:
        """{"subject", "version", "id", "schema"} for one version ("latest" allowed)."""
        return dict(self._json("GET", f"/subjects/{subject}/versions/{version}"))

    def lookup(self, subject: str, schema: str) -> int | None:
        """The id under which `schema` is registered in `subject`; None when it is not."""
        response = self._call("POST", f"/subjects/{subject}", {"schema": schema, "schemaType": "AVRO"})
        if response.status_code == 404:
            return None
        if not response.is_success:
            raise RegistryError(f"looking up a schema in {subject} answered {response.status_code}: {_message(response)}")
        return int(response.json()["id"])

    def schema_by_id(self, schema_id: int) -> str | None:
        """The schema text registered under `schema_id`; None when no schema has that id."""
        response = self._call("GET", f"/schemas/ids/{schema_id}")
        if response.status_code == 404:
            return None
        if not response.is_success:
            raise RegistryError(f"fetching schema {schema_id} answered {response.status_code}: {_message(response)}")
        return str(response.json()["schema"])

    def register(self, subject: str, schema: str) -> int:
        """Register `schema` under `subject`; returns its id. Raises IncompatibleSchema with the registry's reason."""
        response = self._call("POST", f"/subjects/{subject}/versions", {"schema": schema, "schemaType": "AVRO"})
        if response.status_code == 409:
            raise IncompatibleSchema(_message(response))
        if not response.is_success:
            raise RegistryError(f"registering under {subject} answered {response.status_code}: {_message(response)}")
        return int(response.json()["id"])

    def compatibility(self, subject: str | None = None) -> str | None:
        """The subject's level (the global level when subject is None); None when none is set."""
        response = self._call("GET", f"/config/{subject}" if subject else "/config")
        if response.status_code == 404:
            return None
        if not response.is_success:
            raise RegistryError(f"reading the level of {subject or 'the registry'} answered {response.status_code}")
        body = response.json()
        level = body.get("compatibilityLevel") or body.get("compatibility")
        return None if level is None else str(level)

    def set_compatibility(self, level: str, subject: str | None = None) -> None:
        self._json("PUT", f"/config/{subject}" if subject else "/config", {"compatibility": level})

    def is_compatible(self, subject: str, schema: str, version: int | str = "latest") -> bool:
        body = self._json(
            "POST", f"/compatibility/subjects/{subject}/versions/{version}", {"schema": schema, "schemaType": "AVRO"}
        )
        return bool(body["is_compatible"])


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", response.text))
    except ValueError:
        return response.text
