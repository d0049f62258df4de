"""`serde.encode` / `serde.decode`: our Codec against plain fastavro and Confluent's Avro serde, same run.

For the latest value schema of every request and reply topic, a fixed set of representative valid records (built by
hand from a seeded random generator, the same on every run) is written and read three ways:

- ours: `messaging.serde.Codec.encode` / `.decode` (checks the contract, frames, refuses bad bytes);
- plain fastavro, the baseline: `schemaless_writer` / `schemaless_reader` on the same parsed schema,
  with the 5-byte Confluent framing (magic 0, 4-byte id) written and parsed by hand and no checking;
- Confluent's `AvroSerializer` / `AvroDeserializer` against the in-memory mock registry (the topic
  subject-name strategy, the schema registered beforehand, `auto.register.schemas` left on), called
  with a `SerializationContext` as a producer or consumer calls them.

All three use the same schema id, so they produce the same bytes (checked for every record before
timing, which also warms every cache). Each round goes through the whole record set once per
implementation, interleaved: chunk by chunk (100 records) a, b and c take turns, the one going first
rotating, so that machine noise hits each alike; each chunk is timed with `time.perf_counter_ns`, the
garbage collector off as `timeit` does. A figure is the median time per record over the rounds, taken
chunk by chunk (each chunk's median over the rounds, summed, over the record count: a round's time with
each chunk's outliers left out, which on a shared machine is far steadier than the median of the
rounds' totals), in microseconds, overall (every schema, weighted by its record count) and per schema.

Needs no broker and no registry: `python -m bench.serde [rounds] [records per schema]`.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import random
import statistics
import struct
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, topic_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from bench.bare import plain_decoder, plain_encoder
from contracts import load_manifest
from contracts.records import CALCULATE_SCORE, GENERATE_INVOICE, INVOICE_GENERATED, SCORE_CALCULATED
from messaging.serde import Codec, WriterSchemas

__all__ = ["measure", "records"]

SEED = 20260102
# The schemas measured, by family (the name results are reported under), with the topic carrying each.
BINDINGS = {"invoice_request": GENERATE_INVOICE, "invoice_reply": INVOICE_GENERATED, "score_request": CALCULATE_SCORE,
            "score_reply": SCORE_CALCULATED}
FAMILIES = tuple(BINDINGS)
IMPLEMENTATIONS = ("ours", "plain", "confluent")
HEADER = struct.Struct(">bI")


# --- the records -----------------------------------------------------------------------------------

_SERVICES = (
    "Bookkeeping", "Tax filing", "Payroll processing", "Audit", "Consulting hours", "Software licence",
    "Website maintenance", "Training session", "Legal review", "Cloud hosting", "Design work", "Translation",
)
_COMPANIES = (
    "ACME Comercio Ltda", "Padaria Pao Quente ME", "Silva & Filhos Engenharia", "Joao Pereira",
    "Tecnologia Horizonte S.A.", "Maria Oliveira", "Clinica Bem Estar Ltda", "Transportes Rapido Eireli",
    "Associacao dos Moradores do Bairro Alto", "Construtora Pedra Firme Ltda",
)
_REJECTIONS = (
    ("customer.tax_id", "the check digits do not match: not a valid CPF or CNPJ"),
    ("items", "an invoice needs at least one item"),
    ("items[0].quantity", "must be greater than zero"),
    ("items[1].unit_price", "must not be negative"),
    ("customer.name", "must not be empty"),
)
_CODE = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
_CENT = Decimal("0.01")


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _moment(rng: random.Random) -> dt.datetime:
    return _EPOCH + dt.timedelta(milliseconds=rng.randrange(366 * 86_400_000))


# Valid CPFs and CNPJs (their check digits are the generator's business, not the codec's).
_TAX_IDS = ("52998224725", "11144477735", "12345678909", "11222333000181", "04252011000110", "33000167000101")


def _tax_id(rng: random.Random) -> str:
    return rng.choice(_TAX_IDS)


def _items(rng: random.Random) -> list[dict[str, Any]]:
    items = []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4, 5))):
        thousandths = rng.choice((1, 1, 2, 3, 5, 10, 12, 40)) * 1000 if rng.random() < 0.8 else rng.randrange(1, 100_000)
        cents = rng.randrange(500, 2_000_000)
        items.append({
            "description": rng.choice(_SERVICES),
            "quantity": Decimal(f"{thousandths}E-3"),
            "unit_price": Decimal(f"{cents}E-2"),
        })
    return items


def _invoice_request(rng: random.Random) -> dict[str, Any]:
    return {
        "request_id": _uuid(rng),
        "user_id": _uuid(rng),
        "requested_at": _moment(rng),
        "customer": {"name": rng.choice(_COMPANIES), "tax_id": _tax_id(rng)},
        "items": _items(rng),
    }


def _invoice_reply(rng: random.Random) -> dict[str, Any]:
    requested = _moment(rng)
    reply: dict[str, Any] = {"request_id": _uuid(rng), "user_id": _uuid(rng)}
    if rng.random() < 0.8:
        lines = [
            {**item, "total": (item["quantity"] * item["unit_price"]).quantize(_CENT, ROUND_HALF_UP)}
            for item in _items(rng)
        ]
        subtotal = sum((line["total"] for line in lines), Decimal("0.00"))
        rate = Decimal(rng.choice(("0.0200", "0.0300", "0.0500")))
        iss = (subtotal * rate).quantize(_CENT, ROUND_HALF_UP)
        code = "".join(rng.choice(_CODE) for _ in range(8))
        reply["status"] = "GENERATED"
        reply["invoice"] = {
            "number": rng.randrange(1, 5000),
            "issued_at": requested + dt.timedelta(milliseconds=rng.randrange(5, 2000)),
            "customer": {"name": rng.choice(_COMPANIES), "tax_id": _tax_id(rng)},
            "lines": lines,
            "subtotal": subtotal,
            "iss_rate": rate,
            "iss_amount": iss,
            "total": subtotal + iss,
            "verification_code": f"{code[:4]}-{code[4:]}",
        }
        reply["rejection_reasons"] = []
    else:
        reply["status"] = "REJECTED"
        reply["invoice"] = None
        reasons = rng.sample(_REJECTIONS, rng.choice((1, 1, 2, 3)))
        reply["rejection_reasons"] = [{"field": field, "message": message} for field, message in reasons]
    reply["processed_at"] = requested + dt.timedelta(milliseconds=rng.randrange(2000, 5000))
    return reply


def _score_request(rng: random.Random) -> dict[str, Any]:
    return {"request_id": _uuid(rng), "user_id": _uuid(rng), "requested_at": _moment(rng)}


def _score_reply(rng: random.Random) -> dict[str, Any]:
    points = [rng.randrange(0, 400), rng.randrange(0, 200), rng.randrange(0, 200), rng.randrange(0, 200)]
    score = sum(points)
    tier = "EXCELLENT" if score >= 800 else "GOOD" if score >= 600 else "FAIR" if score >= 300 else "POOR"
    considered = rng.randrange(0, 200)
    newest = None if not considered else {"request_id": _uuid(rng), "number": rng.randrange(1, 5000),
                                          "processed_at": _moment(rng)}
    return {
        "request_id": _uuid(rng), "user_id": _uuid(rng), "score": score, "tier": tier,
        "factors": [{"name": name, "points": given, "max_points": most, "explanation": f"{given} of {most} points"}
                    for name, given, most in zip(("volume_90d", "regularity", "customer_diversity", "acceptance_rate"),
                                                 points, (400, 200, 200, 200), strict=True)],
        "invoices_considered": considered, "calculated_at": _moment(rng), "newest_counted": newest,
    }


_BY_HAND: dict[str, Callable[[random.Random], dict[str, Any]]] = {
    "invoice_request": _invoice_request,
    "invoice_reply": _invoice_reply,
    "score_request": _score_request,
    "score_reply": _score_reply,
}


def records(family: str, count: int) -> list[Any]:
    """`count` representative valid records of the latest version of `family`, the same on every run."""
    rng = random.Random(SEED + FAMILIES.index(family))
    return [_BY_HAND[family](rng) for _ in range(count)]


# --- the three implementations ---------------------------------------------------------------------


class _Registry:
    """An in-memory stand-in for our registry client, holding the ids the mock registry assigned."""

    def __init__(self) -> None:
        self.by_id: dict[int, str] = {}

    def lookup(self, subject: str, schema: str) -> int | None:
        wanted = json.loads(schema)
        return next((i for i, text in self.by_id.items() if json.loads(text) == wanted), None)

    def schema_by_id(self, schema_id: int) -> str | None:
        return self.by_id.get(schema_id)


class _Case:
    """One schema: its records, their bytes, and the three encoders and decoders set up for it."""

    def __init__(self, family: str, values: list[Any], client: SchemaRegistryClient, registry: _Registry,
                 plain_schemas: dict[int, Any]) -> None:
        topic = load_manifest().topic(BINDINGS[family])
        version = topic.value.latest
        self.family = family
        self.values = values
        self.context = SerializationContext(topic.name, MessageField.VALUE)
        # Registered first, as Confluent's serializer presents it (stripped), so that it finds this id.
        schema_id = client.register_schema(topic.value.name, Schema(version.text.strip(), "AVRO"))
        strategy = {"subject.name.strategy": topic_subject_name_strategy}  # <topic>-value, as provisioned
        self.confluent_encode = AvroSerializer(client, version.text, conf={**strategy, "auto.register.schemas": True})
        self.confluent_decode = AvroDeserializer(client, conf=strategy)
        first = self.confluent_encode(values[0], self.context)
        assert first is not None and HEADER.unpack_from(first) == (0, schema_id)
        registry.by_id[schema_id] = version.text
        codec = Codec(topic.value, version, WriterSchemas(registry))  # type: ignore[arg-type]
        assert codec.schema_id == schema_id
        self.ours_encode, self.ours_decode = codec.encode, codec.decode
        parsed = fastavro.parse_schema(json.loads(version.text))
        plain_schemas[schema_id] = parsed
        self.plain_encode = plain_encoder(schema_id, parsed)
        self.plain_decode = plain_decoder(plain_schemas)
        self.data = [self.ours_encode(value) for value in values]

    def check(self) -> None:
        """Every implementation writes the same bytes and reads every record back unchanged."""
        for value, data in zip(self.values, self.data, strict=True):
            if not (self.plain_encode(value) == data == self.confluent_encode(value, self.context)):
                raise AssertionError(f"{self.family}: the three encoders disagree on {value!r}")
            decoded = (self.ours_decode(data), self.plain_decode(data), self.confluent_decode(data, self.context))
            if any(result != value for result in decoded):
                raise AssertionError(f"{self.family}: a decoder did not read back {value!r}")

    def timed(self, implementation: str, direction: str, chunk: slice) -> int:
        """Nanoseconds to encode the chunk's values (or decode its records) once."""
        if direction == "encode":
            items: list[Any] = self.values[chunk]
            function = getattr(self, f"{implementation}_encode")
        else:
            items = self.data[chunk]
            function = getattr(self, f"{implementation}_decode")
        enabled = gc.isenabled()
        gc.disable()
        try:
            if implementation == "confluent":
                context = self.context
                start = time.perf_counter_ns()
                for item in items:
                    function(item, context)
                return time.perf_counter_ns() - start
            start = time.perf_counter_ns()
            for item in items:
                function(item)
            return time.perf_counter_ns() - start
        finally:
            if enabled:
                gc.enable()


# --- the measurement -------------------------------------------------------------------------------

CHUNK = 100  # records timed in one go; a, b and c take turns chunk by chunk

Samples = dict[tuple[str, str], list[list[int]]]  # (implementation, family) -> per chunk, one time per round


def _cases(records_per_schema: int) -> list[_Case]:
    client = SchemaRegistryClient.new_client({"url": "mock://bench"})
    registry = _Registry()
    plain_schemas: dict[int, Any] = {}
    return [
        _Case(family, records(family, records_per_schema), client, registry, plain_schemas)
        for family in FAMILIES
    ]


def _chunks(count: int) -> list[slice]:
    return [slice(start, min(start + CHUNK, count)) for start in range(0, count, CHUNK)]


def _sample(cases: list[_Case], direction: str, rounds: int) -> Samples:
    samples: Samples = {
        (implementation, case.family): [[] for _ in _chunks(len(case.values))]
        for implementation in IMPLEMENTATIONS
        for case in cases
    }
    for r in range(rounds):
        for case in cases:
            for index, chunk in enumerate(_chunks(len(case.values))):
                turn = (r + index) % 3  # who goes first rotates
                for implementation in IMPLEMENTATIONS[turn:] + IMPLEMENTATIONS[:turn]:
                    samples[(implementation, case.family)][index].append(case.timed(implementation, direction, chunk))
    return samples


def _us_per_record(samples: Samples, implementation: str, cases: list[_Case]) -> float:
    """Every chunk's median over the rounds, summed, per record: the time of a round through the whole
    record set, with each chunk's outliers (another process taking the CPU a while) left out."""
    nanoseconds = sum(
        statistics.median(times) for case in cases for times in samples[(implementation, case.family)]
    )
    return nanoseconds / sum(len(case.values) for case in cases) / 1000


def _entry(direction: str, cases: list[_Case], samples: Samples) -> dict[str, Any]:
    per_schema = {}
    for case in cases:
        ours, plain, confluent = (_us_per_record(samples, i, [case]) for i in IMPLEMENTATIONS)
        per_schema[case.family] = {
            "records": len(case.values),
            "ours": round(ours, 3), "plain": round(plain, 3), "confluent": round(confluent, 3),
            "ratio": round(ours / plain, 3), "confluent_ratio": round(confluent / plain, 3),
        }
    ours, plain, confluent = (_us_per_record(samples, i, cases) for i in IMPLEMENTATIONS)
    return {
        "name": f"serde.{direction}",
        "unit": "us/record",
        "value": round(ours, 3),
        "baseline": {"name": "plain fastavro", "value": round(plain, 3)},
        "ratio": round(ours / plain, 3),
        "extra": {
            "confluent": round(confluent, 3),
            "confluent_ratio": round(confluent / plain, 3),
            "per_schema": per_schema,
        },
    }


def measure(rounds: int = 7, records_per_schema: int = 2000) -> list[dict]:
    """Median time per record over `rounds` interleaved rounds through `records_per_schema` records of
    each schema: one entry for `serde.encode`, one for `serde.decode`."""
    if rounds < 1 or records_per_schema < 1:
        raise ValueError("rounds and records_per_schema must be at least 1")
    cases = _cases(records_per_schema)
    for case in cases:
        case.check()
    gc.collect()
    return [_entry(direction, cases, _sample(cases, direction, rounds)) for direction in ("encode", "decode")]


def main(argv: Sequence[str] = ()) -> None:
    rounds = int(argv[0]) if len(argv) > 0 else 7
    count = int(argv[1]) if len(argv) > 1 else 2000
    entries = measure(rounds, count)
    for entry in entries:
        extra = entry["extra"]
        print(
            f"{entry['name']}: ours {entry['value']:.2f} us/record, plain fastavro {entry['baseline']['value']:.2f}"
            f" (x{entry['ratio']:.2f}), confluent {extra['confluent']:.2f} (x{extra['confluent_ratio']:.2f})"
        )
        for family, row in extra["per_schema"].items():
            print(
                f"  {family:16} ours {row['ours']:7.2f}  plain {row['plain']:7.2f}  confluent {row['confluent']:7.2f}"
                f"  x{row['ratio']:.2f} / x{row['confluent_ratio']:.2f}"
            )
    print(json.dumps(entries, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
