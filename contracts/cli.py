"""`contracts ...`: provisioning and the contract tooling, from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from contracts.acls import acl_table
from contracts.asyncapi import document as asyncapi_document
from contracts.codegen import RECORDS, CodegenError, generate, staleness
from contracts.compat import MODES, STRICTER_NOTE, DefinedTwice, check
from contracts.env import SettingsError, bootstrap_servers, kafka_client, registry_client, registry_url
from contracts.findings import rule_for
from contracts.manifest import ManifestError, load_manifest
from contracts.provision import Durability, ProvisioningError, give_rights, provision
from contracts.registry import Registry, RegistryError
from contracts.report import FORMATS, write_reports
from contracts.review import review
from contracts.review_model import ReviewInputError

__all__ = ["main"]


def _provision(args: argparse.Namespace) -> int:
    manifest = load_manifest()
    registry = Registry(registry_client())
    admin = AdminClient(kafka_client())
    try:
        changes = provision(manifest, admin, registry, durability=Durability.from_env())
    finally:
        registry.close()
    subjects = len(manifest.subjects)
    if changes:
        print(f"provisioned: {changes} change(s) to {len(manifest.topics)} topics and {subjects} subjects")
    else:
        print(f"nothing to change: {len(manifest.topics)} topics and {subjects} subjects already match the manifest")
    return 0


def _review(args: argparse.Namespace) -> int:
    root = Path(__file__).resolve().parent.parent  # the project: contracts/ and its git repository
    url = None if args.no_registry else (args.registry or registry_url())
    try:
        result = review(root, args.base, url)
    except ReviewInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(FORMATS[args.format](result).rstrip("\n"))
    *others, last = write_reports(result, Path(args.out) if args.out else root / "results")
    print(f"(written to {', '.join(map(str, others))} and {last})", file=sys.stderr)
    return result.exit_status


def _compat(args: argparse.Namespace) -> int:
    """Exit status 0 when NEW may follow the previous versions under --mode, 1 when it may not, 2 when an input
    cannot be read (a missing file, not JSON, not an Avro schema, an unknown mode)."""
    mode = args.mode.upper()
    if mode not in MODES:
        print(f"error: unknown compatibility mode {args.mode!r}: expected one of {', '.join(MODES)}", file=sys.stderr)
        return 2
    texts = []
    for path in [args.new, *args.previous]:
        try:
            texts.append(Path(path).read_text(encoding="utf-8"))
            check("NONE", texts[-1], [])  # each file parsed alone first, so that an error names its file
        except OSError as error:
            print(f"error: {path}: cannot be read ({error.strerror or error})", file=sys.stderr)
            return 2
        except DefinedTwice as error:  # the registry takes it: say so, with the review's rule
            rule = rule_for("TYPE_DEFINED_TWICE")
            print(f"error: {path}: {error} ({rule.id} {rule.name}: {STRICTER_NOTE})", file=sys.stderr)
            return 2
        except ValueError as error:  # also UnicodeDecodeError
            print(f"error: {path}: {error}", file=sys.stderr)
            return 2
    verdict = check(mode, texts[0], texts[1:])
    if args.json:
        print(json.dumps(verdict.to_json(), indent=2))
        return 0 if verdict.compatible else 1
    previous = ", ".join(args.previous) or "no previous version"
    if verdict.compatible:
        print(f"compatible under {mode}: {args.new} may follow {previous}")
    else:
        stricter = f" ({STRICTER_NOTE})" if verdict.stricter_than_registry else ""
        print(f"incompatible under {mode}{stricter}: {args.new} may not follow {previous}")
    for reason in verdict.reasons:
        field = f" ({reason.field})" if reason.field else ""
        stricter = f" [{STRICTER_NOTE}]" if reason.stricter_than_registry else ""
        print(f"  {args.previous[reason.against - 1]}, {reason.direction}, at {reason.path}{field}: "
              f"{reason.kind}: {reason.message}{stricter}")
    return 0 if verdict.compatible else 1


def _asyncapi(args: argparse.Namespace) -> int:
    """The AsyncAPI document of the manifest, for the cluster the environment names (the services' defaults)."""
    text = json.dumps(asyncapi_document(
        load_manifest(),
        bootstrap_servers=bootstrap_servers(),
        registry_url=registry_url(),
        durability=Durability.from_env(),
        security_protocol=str(kafka_client()["security.protocol"]),
    ), indent=2) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _codegen(args: argparse.Namespace) -> int:
    """Write the typed records and topic bindings, or with --check exit 1 when the file differs from what it would be."""
    path = Path(args.out) if args.out else RECORDS
    text = generate(load_manifest())
    if args.check:
        problem = staleness(path, text)
        if problem is not None:
            print(f"error: {problem}", file=sys.stderr)
            return 1
        print(f"{path} is up to date")
        return 0
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0


def _acls(args: argparse.Namespace) -> int:
    """The rights the manifest gives each principal, as the Markdown table the README shows; or, with --apply, exactly
    those of one principal given on the cluster (the registry's, before it starts)."""
    manifest = load_manifest()
    if args.apply is None:
        print(acl_table(manifest))
        return 0
    changes = give_rights(AdminClient(kafka_client()), manifest, args.apply, print)
    print(f"{args.apply}: {changes} change(s) to its rights")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="contracts", description="Contract tooling for the event platform.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "provision", help="create the manifest's topics and register its schemas (idempotent)"
    ).set_defaults(run=_provision)
    compat = commands.add_parser(
        "compat",
        help="may NEW follow the PREVIOUS versions under a compatibility mode? (Confluent Schema Registry's rules)",
        description="Exit status: 0 compatible, 1 incompatible, 2 unreadable input. Stricter than the registry where a "
        "change reads without error but changes meaning: a decimal read with another scale or less precision, a value "
        "read with another logical type (timestamp-millis as timestamp-micros, a date as a plain int); such verdicts "
        "and reasons are marked.",
    )
    compat.add_argument("--mode", required=True, help=f"one of {', '.join(MODES)}")
    compat.add_argument("--json", action="store_true", help="print {mode, compatible, reasons} as JSON")
    compat.add_argument("new", metavar="NEW.avsc", help="the candidate version")
    compat.add_argument("previous", metavar="PREVIOUS.avsc", nargs="*", help="the published versions, oldest first")
    compat.set_defaults(run=_compat)
    review = commands.add_parser(
        "review", help="explain every schema change since a git ref: diffs, verdicts, rollout order (exit 1 if one breaks)"
    )
    review.add_argument("--base", default="HEAD~1", help="the git ref to compare with (default: HEAD~1)")
    where = review.add_mutually_exclusive_group()
    where.add_argument("--registry", metavar="URL", help="the registry to compare with (default: $SCHEMA_REGISTRY_URL)")
    where.add_argument("--no-registry", action="store_true", help="compare with the base ref only")
    review.add_argument("--format", choices=tuple(FORMATS), default="markdown",
                        help="what to print: markdown (default), json, github (workflow commands) or sarif (2.1.0)")
    review.add_argument("--out", metavar="DIR", help="where to write schema-review.md, .json and .sarif (default: results/)")
    review.set_defaults(run=_review)
    acls = commands.add_parser(
        "acls", help="print who may do what on the cluster, as provisioning grants it from the manifest (Markdown)")
    acls.add_argument("--apply", metavar="PRINCIPAL", help="give PRINCIPAL exactly its rights on the cluster, print nothing else")
    acls.set_defaults(run=_acls)
    asyncapi = commands.add_parser(
        "asyncapi", help="write the AsyncAPI 3 document of the topics, schemas and services (no broker or registry needed)",
        description="Reads KAFKA_BOOTSTRAP_SERVERS, SCHEMA_REGISTRY_URL and TOPIC_REPLICATION_FACTOR / "
        "TOPIC_MIN_INSYNC_REPLICAS like provisioning.",
    )
    asyncapi.add_argument("-o", "--out", metavar="FILE", help="write it there (default: standard output)")
    asyncapi.set_defaults(run=_asyncapi)
    codegen = commands.add_parser(
        "codegen", help="write contracts/records.py: a TypedDict per record of the latest schemas, a typed binding per topic",
        description="The file is generated, never edited by hand; --check (run by make lint) fails when it is stale.",
    )
    codegen.add_argument("--check", action="store_true", help="write nothing; exit 1 when the file differs from its output")
    codegen.add_argument("-o", "--out", metavar="FILE", help="the file to write or check (default: contracts/records.py)")
    codegen.set_defaults(run=_codegen)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except (CodegenError, ManifestError, ProvisioningError, RegistryError, SettingsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KafkaException as error:
        print(f"error: the Kafka broker is not reachable ({error.args[0].str()})", file=sys.stderr)
        return 1
