"""The record headers the platform writes and reads, named once: the writers, the readers and the AsyncAPI document
all take them from here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEAD_LETTER", "FORWARDED", "REQUEST_ID", "TRACE_CONTEXT", "Header"]

NUMBER = {"pattern": "^[0-9]+$"}


@dataclass(frozen=True)
class Header:
    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=dict)  # JSON Schema of its text, beyond "a string"


REQUEST_ID = Header("request_id", "The request this record asks or answers: a reply repeats its request's request_id.")


class DEAD_LETTER:  # noqa: N801 - a namespace of constants
    """What a dead letter's headers say; the original record's own headers follow them."""

    SOURCE_TOPIC = Header("dlq.source.topic", "The topic the record was read from.")
    SOURCE_PARTITION = Header("dlq.source.partition", "Its partition.", NUMBER)
    SOURCE_OFFSET = Header("dlq.source.offset", "Its offset.", NUMBER)
    SOURCE_BYTES = Header("dlq.source.bytes", "The size of its key and value, in bytes.", NUMBER)
    ERROR_CLASS = Header("dlq.error.class", "The class of the error.")
    ERROR_MESSAGE = Header("dlq.error.message", "Why, in one sentence naming the part at fault.")
    SERVICE = Header("dlq.service", "The service that set it aside.")
    TIME = Header("dlq.time", "When, in UTC.", {"format": "date-time"})
    OMITTED = Header("dlq.original.omitted", "Present when the original key and value were too large to carry beside"
                                             " the reason: the letter holds only the headers.")
    REPLAYED_FROM = Header("dlq.replayed.from", "On a record sent back to its source topic: the dead letter it was,"
                                                " as <dead-letter topic>:<partition>:<offset>.")
    PREFIX = "dlq."  # every header above starts with it; a replay drops them and keeps the original's
    WRITTEN = (SOURCE_TOPIC, SOURCE_PARTITION, SOURCE_OFFSET, SOURCE_BYTES, ERROR_CLASS, ERROR_MESSAGE, SERVICE, TIME)


class FORWARDED:  # noqa: N801 - a namespace of constants
    """What a record forwarded to its key's partition carries besides its original headers (see
    contracts/partitioning.py): a stateful consumer that finds a record on another partition than its key's writes it
    again, untouched, to the right one."""

    FROM = Header("forwarded.from", "Where the record was first written, as <topic>:<partition>:<offset>.")
    BY = Header("forwarded.by", "The service that forwarded it.")
    CLIENT_ID = Header("client.id", "The client that wrote the record, when its producer says so: an operator looks"
                                    " for it when records keep arriving on the wrong partition.")
    WRITTEN = (FROM, BY)


class TRACE_CONTEXT:  # noqa: N801 - a namespace of constants
    """W3C Trace Context (www.w3.org/TR/trace-context), carried in record headers as HTTP carries it: every record a
    service of ours produces with TRACING=1 names the span that produced it, so a request is one trace across the
    services. A dead letter keeps the record's own; a replayed one gets a new one, whose trace links to the old."""

    PARENT = Header("traceparent", "The span that produced the record: version-trace id-span id-flags (W3C Trace"
                                   " Context), when the producer traces.",
                    {"pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"})
    STATE = Header("tracestate", "Vendor-specific trace state that travels with traceparent (W3C Trace Context).")
    WRITTEN = (PARENT, STATE)
