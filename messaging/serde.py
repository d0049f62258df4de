"""Avro in the Confluent wire format: a zero byte, the 4-byte schema id, then the Avro body.

Writing uses the contract version the service is built against, under the id the registry gave it at
provisioning (services never register). Reading resolves the writer's schema, fetched once by id, to
the service's own version, so Avro schema resolution fills defaults and drops unknown fields.
"""

from __future__ import annotations

import io
import json
import struct
import threading
from typing import Any, Generic, TypeVar, cast

import fastavro

from contracts.manifest import SchemaVersion, Subject
from contracts.registry import Registry
from messaging.validation import first_problem

__all__ = ["Codec", "ContractViolation", "PoisonRecord", "SchemaNotRegistered", "WriterSchemas"]

ParsedSchema = dict[str, Any]  # a record schema as fastavro.parse_schema gives it
T = TypeVar("T")  # the record type of the subject (a generated TypedDict of contracts/records.py)
MAGIC = b"\x00"
HEADER = struct.Struct(">bI")
_unpack_header = HEADER.unpack_from


class ContractViolation(ValueError):
    """An outgoing record does not match its contract; the message names the field."""


class PoisonRecord(ValueError):
    """Incoming bytes that no retry can decode: wrong framing, unknown schema id, or a body that does not match."""


class SchemaNotRegistered(LookupError):
    """The service's contract version is not in the registry: provisioning has not run."""


class WriterSchemas:
    """Parsed writer schemas by id, fetched from the registry once each (so a registry outage only
    affects schema ids never seen before)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._parsed: dict[int, ParsedSchema] = {}
        self._lock = threading.Lock()

    def get(self, schema_id: int) -> ParsedSchema:
        if schema_id not in self._parsed:
            text = self.registry.schema_by_id(schema_id)
            if text is None:
                raise PoisonRecord(f"names schema id {schema_id}, which the registry does not have")
            with self._lock:
                self._parsed[schema_id] = cast(ParsedSchema, fastavro.parse_schema(json.loads(text)))
        return self._parsed[schema_id]

    def remember(self, schema_id: int, parsed: ParsedSchema) -> None:
        with self._lock:
            self._parsed.setdefault(schema_id, parsed)


class Codec(Generic[T]):
    """Encodes and decodes one subject's records (T) as one contract version."""

    def __init__(self, subject: Subject[T], version: SchemaVersion, writers: WriterSchemas) -> None:
        self.subject = subject.name
        self.version = version.version
        self.contract = version.schema
        self.schema: dict[str, Any] = cast(dict[str, Any], fastavro.parse_schema(version.schema))
        schema_id = writers.registry.lookup(subject.name, version.text)
        if schema_id is None:
            raise SchemaNotRegistered(
                f"{subject.name} version {version.version} is not registered; run `make provision`"
            )
        self.schema_id = schema_id
        self._header = HEADER.pack(0, schema_id)
        self._writers = writers
        self._readable: dict[int, Any] = {schema_id: self.schema}  # writer schemas checked to be this record
        self._branches = _record_branches(self.schema)
        self._constraints = version.constraints
        writers.remember(schema_id, self.schema)

    def encode(self, record: T, *, checked: bool = False) -> bytes:
        """The record in the wire format; ContractViolation (naming the field) when it does not fit the contract:
        its Avro type or a constraint the schema declares (`checked`: the caller checked this version's constraints
        already, as the dashboard's intake does)."""
        if not checked and self._constraints and (broken := self._constraints.first(record)) is not None:
            raise ContractViolation(f"{self.subject} v{self.version}: {broken.path}: {broken.message}")
        buffer = io.BytesIO()
        buffer.write(self._header)
        named = self._name_branches(record) if self._branches and isinstance(record, dict) else record
        try:
            fastavro.schemaless_writer(buffer, self.schema, named, strict=True)
        except Exception as error:  # fastavro raises assorted types without the field's path: find it
            reason = first_problem(self.contract, record) or f"{type(error).__name__}: {error}"
            raise ContractViolation(f"{self.subject} v{self.version}: {reason}") from None
        return buffer.getvalue()

    def decode(self, data: bytes | None) -> T:
        """The record as this contract version sees it; PoisonRecord, saying in words what is wrong, when the
        bytes cannot be read (the caller names the part: "the key ...", "the value ...")."""
        if data is None:
            raise PoisonRecord("is missing (null, as in a tombstone)")
        try:
            magic, schema_id = _unpack_header(data)
        except struct.error:
            raise PoisonRecord(f"is {len(data)} bytes, too short for the Confluent wire format"
                               " (a zero byte, a 4-byte schema id, then the Avro body)") from None
        if magic != 0:
            raise PoisonRecord(f"is not in the Confluent wire format: it starts with byte 0x{data[0]:02x}"
                               " where a zero byte and a 4-byte schema id were expected")
        writer = self._readable.get(schema_id) or self._writer(schema_id)
        body = io.BytesIO(data)
        body.seek(HEADER.size)
        try:
            record = fastavro.schemaless_reader(
                body, writer, None if schema_id == self.schema_id else self.schema
            )
        except Exception as error:  # truncated or mismatched bytes surface as assorted exceptions
            raise PoisonRecord(f"does not match schema id {schema_id} of {self.subject}"
                               f" ({type(error).__name__}: {_first_line(error)})") from None
        if body.tell() != len(data):
            raise PoisonRecord(f"does not match schema id {schema_id} of {self.subject}:"
                               f" {len(data) - body.tell()} bytes left over after the record")
        return cast(T, record)

    def _name_branches(self, record: dict[str, Any]) -> dict[str, Any]:
        # Told which branch a value takes, fastavro writes it at once; left to guess, it first validates the
        # whole value against each branch (a quarter of an invoice reply's encoding time).
        named = dict(record)
        for field, branch in self._branches:
            value = named.get(field)
            if isinstance(value, dict):
                named[field] = (branch, value)
        return named

    def _writer(self, schema_id: int) -> Any:
        """A writer schema seen for the first time: it must be a version of the same record."""
        writer = self._writers.get(schema_id)
        if writer.get("name") != self.schema.get("name"):
            raise PoisonRecord(f"was written with schema id {schema_id} ({writer.get('name')}), which is not a"
                               f" version of {self.subject} ({self.schema.get('name')})")
        self._readable[schema_id] = writer
        return writer


def _record_branches(parsed: Any) -> list[tuple[str, str]]:
    """(field, record name) for each top-level field whose type is a union of null and one record."""
    found = []
    for field in parsed.get("fields", []) if isinstance(parsed, dict) else []:
        branches = field["type"] if isinstance(field["type"], list) else []
        records = [b for b in branches if isinstance(b, dict) and b.get("type") == "record"]
        if len(records) == 1 and len(branches) == 2 and "null" in branches:
            found.append((field["name"], records[0]["name"]))
    return found


def _first_line(error: Exception) -> str:
    """fastavro's messages can embed whole schemas: the first line, cut short, is the useful part."""
    text = str(error).splitlines()[0] if str(error) else ""
    return text if len(text) <= 160 else text[:157] + "..."
