"""The invoice generator: consumes invoice requests, produces invoices (or rejections)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal

from contracts.records import GENERATE_INVOICE, INVOICE_DECISIONS_CHANGELOG, INVOICE_GENERATED
from messaging.records import route
from messaging.runtime import Runtime
from messaging.service import run_service
from messaging.settings import SettingsError, env_int
from messaging.stores import StateSpec
from messaging.worker import Worker
from services.invoice.billing import Rules, parse_iss_rate
from services.invoice.handler import make_handler
from services.invoice.store import InvoiceState


def iss_rates() -> tuple[Decimal, dict[str, Decimal]]:
    """INVOICE_ISS_RATE (default 0.05) and per-user overrides in INVOICE_ISS_RATES="<user id>=0.02,...". """
    try:
        default = parse_iss_rate(os.environ.get("INVOICE_ISS_RATE", "0.05"))
        overrides = {}
        for item in filter(None, os.environ.get("INVOICE_ISS_RATES", "").split(",")):
            user_id, _, rate = item.partition("=")
            overrides[user_id.strip()] = parse_iss_rate(rate.strip())
    except ValueError as error:
        raise SettingsError(f"ISS rate setting: {error}") from None
    return default, overrides


def build(runtime: Runtime) -> list[Worker[InvoiceState]]:
    requests = runtime.manifest.topic(GENERATE_INVOICE)
    replies = runtime.manifest.topic(INVOICE_GENERATED)
    changelog = runtime.manifest.topic(INVOICE_DECISIONS_CHANGELOG)
    runtime.prepare(requests, replies, changelog)
    default, overrides = iss_rates()
    writes = runtime.codec(replies.value).version  # the invoice_reply version this generator writes
    handler = make_handler(Rules.of(runtime.manifest), replies, lambda user_id: overrides.get(user_id, default), writes,
                           lambda: datetime.now(UTC))
    group = os.environ.get("INVOICE_GROUP", runtime.manifest.consumer_groups["invoice"])
    return [Worker(runtime, group, [route(requests, handler)], state=StateSpec(changelog, InvoiceState))]


if __name__ == "__main__":
    raise SystemExit(run_service("invoice", build, env_int("HEALTH_PORT", 8101)))
