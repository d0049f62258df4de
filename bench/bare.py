"""`peer.bare`: the invoice work in a bare confluent-kafka loop, the floor the generator is held to.

Decode (plain fastavro, Confluent wire format), `validate_request`, `compute_totals`, the reply, encode,
produce; per batch: flush, then commit (at least once). No state, no dead letters, no metrics: the
invoice number is a running count, which needs no store. Run by bench/peers.py as
`python -m bench.bare JOB.json` in a process of its own, so its CPU time is counted apart from the
harness. The reply builder and the meter live here because the Quix Streams peer shares them and its
virtual environment has only the standard library, confluent-kafka and fastavro in common with ours.
"""

from __future__ import annotations

import io
import json
import resource
import struct
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import Consumer, Producer

from contracts.manifest import load_manifest
from services.invoice.billing import Checked, Rules, check_request, digits_of, parse_iss_rate, verification_code

__all__ = ["ISS_RATE", "RULES", "Meter", "plain_decoder", "plain_encoder", "reply"]

ISS_RATE = parse_iss_rate("0.05")  # the generator's default INVOICE_ISS_RATE
RULES = Rules.of(load_manifest())
BATCH = 500  # the project's worker batch size
HEADER = struct.Struct(">bI")


def reply(request: Mapping[str, Any], checked: Checked, number: int | None, decided_at: datetime) -> dict[str, Any]:
    """The same dict as services/invoice/handler.py `build_reply` writes for invoice_reply v2 (that module
    needs the project's messaging package, which the Quix environment cannot import), from the request checked
    with `check_request` as the generator checks it (its totals computed once)."""
    problems, totals = checked.problems, checked.totals
    answer: dict[str, Any] = {
        "request_id": request["request_id"],
        "user_id": request["user_id"],
        "status": "REJECTED" if problems else "GENERATED",
        "invoice": None,
        "rejection_reasons": [{"field": p.field, "message": p.message} for p in problems],
        "processed_at": decided_at,
    }
    if totals is not None and not problems:
        answer["invoice"] = {
            "number": number,
            "issued_at": decided_at,
            "customer": {"name": request["customer"]["name"].strip(),
                         "tax_id": digits_of(request["customer"]["tax_id"])},
            "lines": [{"description": line.description, "quantity": line.quantity, "unit_price": line.unit_price,
                       "total": line.total} for line in totals.lines],
            "subtotal": totals.subtotal,
            "iss_rate": totals.iss_rate,
            "iss_amount": totals.iss_amount,
            "total": totals.total,
            "verification_code": verification_code(str(request["user_id"]), number or 0, str(request["request_id"])),
        }
    return answer


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the process, librdkafka's included
    return usage.ru_utime + usage.ru_stime


class Meter:
    """The moment the first record is in hand and the process's CPU time then and at the end, so that
    start-up (imports, joining the group) counts in neither the rate nor the CPU per record."""

    def __init__(self) -> None:
        self.first_at: float | None = None
        self.cpu_at_first = 0.0

    def first(self) -> None:
        if self.first_at is None:
            self.first_at = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process on the host
            self.cpu_at_first = _cpu_seconds()

    def write(self, path: str, handled: int) -> None:
        result = {"first_at": self.first_at, "done_at": time.monotonic(), "handled": handled,
                  "cpu_seconds": _cpu_seconds() - self.cpu_at_first}
        Path(path).write_text(json.dumps(result))


def plain_encoder(schema_id: int, parsed: Any) -> Callable[[Any], bytes]:
    """fastavro's writer behind the Confluent framing, nothing else: the floor every codec is held to."""
    header = HEADER.pack(0, schema_id)

    def encode(record: Any) -> bytes:
        buffer = io.BytesIO()
        buffer.write(header)
        fastavro.schemaless_writer(buffer, parsed, record)
        return buffer.getvalue()

    return encode


def plain_decoder(parsed_by_id: Mapping[int, Any]) -> Callable[[bytes], Any]:
    """fastavro's reader behind the Confluent framing, with the writer's schema as it is."""

    def decode(data: bytes) -> Any:
        magic, schema_id = HEADER.unpack_from(data)
        if magic != 0:
            raise ValueError("not in the Confluent wire format")
        buffer = io.BytesIO(data)
        buffer.seek(HEADER.size)
        return fastavro.schemaless_reader(buffer, parsed_by_id[schema_id], None)

    return decode


def _parsed(schema: str) -> Any:
    return fastavro.parse_schema(json.loads(schema))


def run(job: Mapping[str, Any]) -> None:
    """Drain job["count"] requests from job["requests"] into job["replies"], then write the meter's result."""
    consumer = Consumer({**job["kafka"], "group.id": job["group"], "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    producer = Producer({**job["kafka"], **job["producer"]})
    decode = plain_decoder({int(schema_id): _parsed(text) for schema_id, text in job["writer_schemas"].items()})
    encode_key = plain_encoder(job["key_schema_id"], _parsed(job["key_schema"]))
    encode_value = plain_encoder(job["value_schema_id"], _parsed(job["value_schema"]))
    meter = Meter()
    consumer.subscribe([job["requests"]])
    handled = 0
    while handled < job["count"]:
        first = consumer.poll(0.5)
        if first is None:
            continue
        meter.first()
        for message in [first, *consumer.consume(BATCH - 1, timeout=0)]:
            if message.error() is not None:
                raise RuntimeError(f"consuming {job['requests']}: {message.error()}")
            decode(message.key())  # the worker decodes keys too; the reply's key comes from the request
            request = decode(message.value())
            checked = check_request(RULES, request["customer"], request["items"], ISS_RATE)
            answer = reply(request, checked, handled + 1, datetime.now(UTC))
            key = encode_key({"user_id": request["user_id"]})
            producer.produce(job["replies"], key=key, value=encode_value(answer))
            handled += 1
        producer.flush()
        consumer.commit(asynchronous=False)
    meter.write(job["result"], handled)
    consumer.close()


if __name__ == "__main__":
    run(json.loads(Path(sys.argv[1]).read_text()))
