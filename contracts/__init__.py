"""The contracts: Avro schemas, the topic manifest, and the code that loads, provisions and checks them."""

from contracts.manifest import Manifest, SchemaVersion, Subject, Topic, load_manifest

__all__ = ["Manifest", "SchemaVersion", "Subject", "Topic", "load_manifest"]
