"""`peer.quix.*`: the invoice generator's work as a Quix Streams application, for bench/peers.py.

Consumes invoice requests with Quix's Avro deserializer over the registry, validates them and computes
the totals with the project's billing module, numbers each accepted request from a per-user counter in
Quix state (the topic is keyed by user, so the state is too), and produces the same reply dict as the
generator with Quix's Avro serializer over the registry, exactly once or at least once as the job says.

Runs in .cache/quix-venv (Quix Streams pins an older confluent-kafka than the project), with the repository
root on PYTHONPATH: `python -m bench.quix_invoice JOB.json`. It stops after job["count"] outputs and
writes its timings and CPU time to job["result"].
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from quixstreams import Application, State
from quixstreams.kafka.configuration import ConnectionConfig
from quixstreams.models.serializers.avro import AvroDeserializer, AvroSerializer
from quixstreams.models.serializers.schema_registry import (
    SchemaRegistryClientConfig,
    SchemaRegistrySerializationConfig,
)

from bench.bare import ISS_RATE, RULES, Meter, reply
from services.invoice.billing import check_request

__all__ = ["run"]


def _serializer(registry: SchemaRegistryClientConfig, schema: str, subject: str) -> AvroSerializer:
    """Writes with the latest registered version of `subject`, never registering: the scratch topics borrow
    the contract subjects. The strategy is explicit because the default would derive a subject from the
    scratch topic's name (and Apicurio's Confluent API has no /associations to resolve one)."""
    return AvroSerializer(
        json.loads(schema),
        schema_registry_client_config=registry,
        schema_registry_serialization_config=SchemaRegistrySerializationConfig(
            auto_register_schemas=False, use_latest_version=True, subject_name_strategy=lambda _ctx, _name: subject,
        ),
    )


def run(job: Mapping[str, Any]) -> None:
    meter = Meter()
    # Our registry client settings (url, basic.auth.user.info, ssl.ca.location) under Quix's names.
    registry = SchemaRegistryClientConfig(**{key.replace(".", "_"): value for key, value in job["registry"].items()})
    app = Application(
        # The connection settings only (the metadata refresh interval we add matters to a move, not to this run).
        broker_address=ConnectionConfig.from_librdkafka_dict(job["kafka"], ignore_extras=True),
        consumer_group=job["group"],
        processing_guarantee=job["guarantee"],
        auto_offset_reset="earliest",
        state_dir=job["state_dir"],
        producer_extra_config=job["producer"],
        loglevel="WARNING",
    )
    requests = app.topic(
        job["requests"],
        key_deserializer=AvroDeserializer(schema_registry_client_config=registry),
        value_deserializer=AvroDeserializer(schema_registry_client_config=registry),
    )
    replies = app.topic(
        job["replies"],
        key_serializer=_serializer(registry, job["key_schema"], job["key_subject"]),
        value_serializer=_serializer(registry, job["value_schema"], job["value_subject"]),
    )

    def handle(request: dict[str, Any], state: State) -> dict[str, Any]:
        meter.first()
        checked = check_request(RULES, request["customer"], request["items"], ISS_RATE)
        number = None
        if not checked.problems:
            number = state.get("last_number", 0) + 1
            state.set("last_number", number)
        return reply(request, checked, number, datetime.now(UTC))

    app.dataframe(requests).apply(handle, stateful=True).to_topic(replies)
    app.run(count=job["count"], collect=False)  # returns once the last checkpoint is committed
    meter.write(job["result"], job["count"])


if __name__ == "__main__":
    run(json.loads(Path(sys.argv[1]).read_text()))
