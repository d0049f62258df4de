"""`contracts ...`: provisioning and (later) the contract tooling, from the command line."""

from __future__ import annotations

import argparse
import sys

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from contracts.manifest import ManifestError, load_manifest
from contracts.provision import ProvisioningError, provision
from messaging.registry import Registry, RegistryError
from messaging.settings import Settings

__all__ = ["main"]


def _provision(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    manifest = load_manifest()
    registry = Registry(settings.registry_url)
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    try:
        changes = provision(manifest, admin, registry)
    finally:
        registry.close()
    subjects = len(manifest.subjects)
    if changes:
        print(f"provisioned: {changes} change(s) to {len(manifest.topics)} topics and {subjects} subjects")
    else:
        print(f"nothing to change: {len(manifest.topics)} topics and {subjects} subjects already match the manifest")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="contracts", description="Contract tooling for the event platform.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "provision", help="create the manifest's topics and register its schemas (idempotent)"
    ).set_defaults(run=_provision)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except (ManifestError, ProvisioningError, RegistryError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KafkaException as error:
        print(f"error: the Kafka broker is not reachable ({error.args[0].str()})", file=sys.stderr)
        return 1
