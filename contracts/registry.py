"""The schema registry through Confluent's SchemaRegistryClient (Confluent's registry, or Apicurio's Confluent API),
with what the project adds on top: "absent" answered as None or [], errors that name the registry and what was
asked, a schema refused as incompatible told apart, and schema texts compared as JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError
from confluent_kafka.schema_registry.common._httpx_compat import httpx  # the client's HTTP library (httpx2 or httpx)

__all__ = ["DEFAULTS", "IncompatibleSchema", "Registry", "RegistryError", "same_schema"]

# The client's own retries wait up to 1, 2 then 4 s. Ours only ride out a blip: every caller has its own way to
# wait for a registry that is down (the worker retries with backoff, the dashboard shows the error, provisioning
# stops), and should hear of it within a second, not seven.
DEFAULTS: dict[str, Any] = {"timeout": 10, "max.retries": 2, "retries.wait.ms": 100, "retries.max.wait.ms": 1000}

# Confluent's error codes split these (40401 no such subject, 40402 no such version, 40403 no such schema, 40408
# no level set; Apicurio's Confluent API answers with the same codes where it has them); here all mean "absent".
NOT_FOUND, CONFLICT = 404, 409

T = TypeVar("T")


class RegistryError(Exception):
    """The registry is unreachable, refused us, or answered something unexpected; the message names it."""


class IncompatibleSchema(RegistryError):
    """The registry refused a schema as incompatible with its subject's level; the message is its reason."""


class _Absent(RegistryError):
    """A 404: no such subject, version or schema. The methods that answer "absent" (None, []) catch it."""


def same_schema(a: str | dict[str, Any], b: str | dict[str, Any]) -> bool:
    """Registries reformat schema text (Apicurio compacts it): compare the parsed JSON, never the strings
    (text that is not JSON at all is compared as it is)."""
    try:
        return (json.loads(a) if isinstance(a, str) else a) == (json.loads(b) if isinstance(b, str) else b)
    except ValueError:
        return a == b


class Registry:
    """One registry through one SchemaRegistryClient, `client` (for what this class does not cover, such as
    Confluent's serializers). The client caches what never changes: schemas by id, ids by subject and schema,
    numbered versions; version lists and levels are asked each time."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        """`config`: SchemaRegistryClient's settings (url, basic.auth.user.info, ssl.ca.location, timeout,
        max.retries...), usually contracts.env.registry_client(); DEFAULTS fill in what it leaves out. Unknown
        settings, a bad URL or an unreadable CA file raise RegistryError at once."""
        self.url = re.sub(r"//[^/@]*@", "//", str(config.get("url", "")))  # for messages: never a password
        try:
            self.client = SchemaRegistryClient({**DEFAULTS, **config})
        except (ValueError, TypeError, OSError) as error:  # OSError: ssl.SSLError or a missing CA file
            raise RegistryError(f"cannot use the schema registry at {self.url}: {error}") from None

    def close(self) -> None:
        self.client.close()

    def subjects(self) -> list[str]:
        with self._asking("listing the subjects"):
            return list(self.client.get_subjects())

    def versions(self, subject: str) -> list[int]:
        """The subject's version numbers, oldest first; empty when the subject does not exist."""
        try:
            with self._asking(f"listing the versions of {subject}"):
                return sorted(self.client.get_versions(subject))
        except _Absent:
            return []

    def schema_text(self, subject: str, version: int) -> str:
        """The schema registered as `version` of `subject`, as the registry words it (compare with same_schema)."""
        with self._asking(f"reading version {version} of {subject}"):
            return _given(self.client.get_version(subject, version).schema.schema_str, "schema")

    def lookup(self, subject: str, schema: str) -> int | None:
        """The id under which `schema` is registered in `subject`; None when it is not."""
        try:
            with self._asking(f"looking up a schema in {subject}"):
                return _given(self.client.lookup_schema(subject, Schema(schema, "AVRO")).schema_id, "id")
        except _Absent:
            return None

    def schema_by_id(self, schema_id: int) -> str | None:
        """The schema text registered under `schema_id`; None when no schema has that id."""
        try:
            with self._asking(f"fetching schema {schema_id}"):
                return _given(self.client.get_schema(schema_id).schema_str, "schema")
        except _Absent:
            return None

    def register(self, subject: str, schema: str) -> int:
        """Register `schema` under `subject`; its id. IncompatibleSchema, with the registry's reason, when the
        subject's level refuses it."""
        with self._asking(f"registering a schema under {subject}"):
            return self.client.register_schema(subject, Schema(schema, "AVRO"))

    def compatibility(self, subject: str | None = None) -> str | None:
        """The subject's level (the registry's global level when subject is None); None when none is set.
        For a subject without a level of its own, Apicurio answers the global level and Confluent 404 (None)."""
        try:
            with self._asking(f"reading the level of {subject or 'the registry'}"):
                return self.client.get_compatibility(subject)
        except _Absent:
            return None

    def set_compatibility(self, level: str, subject: str | None = None) -> None:
        with self._asking(f"setting the level of {subject or 'the registry'} to {level}"):
            self.client.set_compatibility(subject, level)

    def is_compatible(self, subject: str, schema: str, version: int | Literal["latest"] = "latest") -> bool:
        """Whether `schema` may follow that one version of `subject` (non-transitively, whatever the level)."""
        with self._asking(f"testing a schema against {subject} version {version}"):
            return self.client.test_compatibility(subject, Schema(schema, "AVRO"), version)

    @contextmanager
    def _asking(self, doing: str) -> Iterator[None]:
        """The client's errors as ours, naming the registry and what was asked."""
        try:
            yield
        except SchemaRegistryError as error:
            if error.http_status_code == CONFLICT:
                raise IncompatibleSchema(error.error_message) from error
            kind = _Absent if error.http_status_code == NOT_FOUND else RegistryError
            raise kind(f"{doing} at {self.url}: answered {error.http_status_code}, {error.error_message}") from error
        except httpx.TransportError as error:  # refused, timed out, TLS failed: the client's retries are spent
            raise RegistryError(f"the schema registry at {self.url} is not reachable ({error!r})") from error


def _given(value: T | None, what: str) -> T:
    """The client types every field of an answer optional; the ones we read are always there."""
    if value is None:
        raise RegistryError(f"the schema registry answered without the {what}")
    return value
