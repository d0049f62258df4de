"""The dashboard serves the AsyncAPI document at /asyncapi.json, and the Contracts page links to it and
shows its operations."""

from __future__ import annotations

import html
import re

import httpx

from contracts import Manifest
from contracts.asyncapi import document
from messaging.settings import Settings
from tests.integration.conftest import DASHBOARD_URL


def test_the_asyncapi_document_is_served_to_anyone_as_json(manifest: Manifest, settings: Settings) -> None:
    response = httpx.get(f"{DASHBOARD_URL}/asyncapi.json", timeout=15)  # like /openapi.json: no session needed
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    served = response.json()
    expected = document(manifest, settings.bootstrap_servers, settings.registry_url,
                        security_protocol=str(settings.kafka_client["security.protocol"]))
    assert served["asyncapi"] == "3.1.0"
    assert served["info"]["version"] == expected["info"]["version"]  # the same contracts as this checkout's
    assert served["servers"] == expected["servers"]
    assert served["channels"].keys() == expected["channels"].keys()


def test_the_contracts_page_links_to_the_document_and_shows_each_services_operations(client: httpx.Client,
                                                                                    manifest: Manifest) -> None:
    page = client.get("/contracts")
    assert page.status_code == 200
    served = client.get("/asyncapi.json").json()
    text = html.unescape(page.text)
    assert 'href="/asyncapi.json"' in text
    assert served["info"]["version"] in text
    table = text[text.index('id="asyncapi"'):].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)]
    assert len(rows) == len(served["operations"])
    def received(topic: str) -> str:  # a consumer reads every version of the topic's values
        value = manifest.named(topic).value
        return ", ".join(f"{value.family}.v{version.version}" for version in value.versions)

    assert ["invoice", "receive", "generate-invoice", received("generate-invoice"), "invoice-generator",
            "invoice-generated"] in rows
    assert ["dashboard", "receive", "invoice-generated", received("invoice-generated"), "dashboard", "—"] in rows
