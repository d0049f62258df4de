"""`contracts review`: explain every schema change since a git ref, for the people approving it.

For each subject of the manifest whose published versions differ from those at a base git ref, or from what
the schema registry holds, the review lists the versions added, each one's field-level diff against the
version before it (contracts.diff), its verdict under every compatibility mode against every earlier version
(contracts.compat), whether it breaks the subject's configured level, the rollout order it allows and the
services it touches. Editing or deleting an already-published version is an error.

Everything here takes the project root (the folder holding `contracts/`) and the ref, so it runs as well on
a temporary repository as on the real one:

    result = review(root, "HEAD~1", registry_url=None)   # None: do not consult a registry
    print(render_markdown(result)); write_reports(result, root / "results")   # contracts.report

Exit status: 0 when nothing breaks, 1 when a change breaks its subject's level or a published version was
edited (or deleted); unusable input (not a git repository, unknown ref, unreadable manifest, a base a shallow
clone lacks and cannot fetch) raises ReviewInputError, which the command reports in one line with status 2.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from contracts import acls, compat, doors
from contracts.diff import field_diff
from contracts.env import SettingsError, registry_client
from contracts.manifest import Manifest, ManifestError, SchemaVersion, Subject, Topic, read_manifest
from contracts.registry import Registry, RegistryError, same_schema
from contracts.review_base import BaseSnapshot, base_manifest
from contracts.review_model import (
    ANY_ORDER,
    BREAKING,
    CONSUMERS_FIRST,
    EDITED,
    PRODUCER_FIRST,
    REMOVED,
    Problem,
    RegistryState,
    Review,
    ReviewInputError,
    SubjectReview,
    VersionReview,
)

__all__ = ["review", "rollout"]

REGISTRY_TIMEOUT = 5.0


# ---------------------------------------------------------------------------------------------- the review


def review(root: Path, base: str, registry_url: str | None = None) -> Review:
    """Review the schema changes of the project at `root` since git ref `base` (and against the registry at
    `registry_url` when given; an unreachable registry is noted, and the review goes on with the base only)."""
    root = Path(root)
    manifest = _current_manifest(root)
    snapshot = BaseSnapshot.read(root, base)
    state, held = _registry_snapshot(registry_url, manifest)
    subjects = []
    for topic in manifest.topics:
        for subject in topic.subjects:
            reviewed = _subject(root, snapshot, held.get(subject.name) if state.compared else None, topic, subject)
            if reviewed is not None:
                subjects.append(reviewed)
    current = {subject.name for subject in manifest.subjects}
    removed = tuple(sorted(name for name in snapshot.subjects if name not in current))
    before = base_manifest(root, snapshot.commit)
    # Who may do what now against the base (a base without a manifest that loads gave no rights), and what moves keys.
    granted, revoked = acls.changes(before, manifest) if before else (acls.grants(manifest), [])
    opened = doors.doors(before, manifest) if before else []
    return Review(root, base, snapshot.commit, state, tuple(subjects), removed, tuple(granted), tuple(revoked),
                  tuple(opened))


def rollout(verdicts: Mapping[str, compat.Verdict], level: str) -> str:
    """The deployment order a version's verdicts allow; judged with the transitive modes when the subject's level is
    transitive (older records stay in the topic), with the plain ones otherwise."""
    if not verdicts:
        return ANY_ORDER
    suffix = "_TRANSITIVE" if level.endswith("_TRANSITIVE") else ""
    full, backward, forward = (verdicts[mode + suffix].compatible for mode in ("FULL", "BACKWARD", "FORWARD"))
    if full or (backward and forward):
        return ANY_ORDER
    if backward:
        return CONSUMERS_FIRST
    if forward:
        return PRODUCER_FIRST
    return BREAKING


def _current_manifest(root: Path) -> Manifest:
    path = root / "contracts" / "topics.toml"
    if not path.is_file():
        raise ReviewInputError(f"no manifest at {path}")
    try:
        return read_manifest(path)  # uncached: the files may have changed since the last load
    except (ManifestError, OSError, tomllib.TOMLDecodeError) as error:
        raise ReviewInputError(f"the manifest cannot be read: {error}") from None


def _subject(
    root: Path, base: BaseSnapshot, registered: dict[int, Any] | None, topic: Topic[object, object], subject: Subject[object]
) -> SubjectReview | None:
    tree = {published.version: published for published in subject.versions}
    at_base = base.subjects.get(subject.name)
    base_versions = at_base.versions if at_base else {}
    problems: list[Problem] = []
    notes: list[str] = []
    for number, (path, text) in sorted(base_versions.items()):
        if number not in tree:
            problems.append(Problem(
                subject.name, number, REMOVED, "base", path,
                f"{subject.name} version {number}: {path} was published at `{base.ref}` and has been deleted;"
                " published versions are immutable, restore it",
            ))
        elif not same_schema(text, tree[number].text):
            problems.append(_edited(root, subject, tree[number], text, "base", f"`{base.ref}`"))
    if registered is not None:
        edited = {p.version for p in problems}
        for number, text in sorted(registered.items()):
            if number in tree and number not in edited and not same_schema(text, tree[number].text):
                problems.append(_edited(root, subject, tree[number], text, "registry", "what the registry holds"))
        extra = sorted(number for number in registered if number not in tree)
        if extra:
            notes.append(f"the registry holds versions {', '.join(map(str, extra))} of {subject.name},"
                         " which the tree does not publish")
    if at_base and at_base.family != subject.family:
        notes.append(f"the subject's schemas moved from family {at_base.family} to {subject.family} since {base.ref}")
    previous_level = at_base.level if at_base and at_base.level != subject.compatibility else None
    added = sorted(n for n in tree if n not in base_versions or (registered is not None and n not in registered))
    versions = tuple(
        _version(root, subject, tree, number, number not in base_versions,
                 None if registered is None else number in registered)
        for number in added
    )
    if not (versions or problems or notes or previous_level or at_base is None):
        return None
    return SubjectReview(
        subject.name, topic.name, subject.family, subject.compatibility, topic.producer, topic.consumers,
        at_base is None, previous_level, versions, tuple(problems), tuple(notes),
    )


def _version(
    root: Path, subject: Subject[object], tree: dict[int, SchemaVersion], number: int, new_since_base: bool,
    registered: bool | None,
) -> VersionReview:
    published = tree[number]
    earlier = [tree[n].schema for n in sorted(tree) if n < number]
    verdicts = {mode: _check(mode, published.schema, earlier) for mode in compat.MODES} if earlier else {}
    level = subject.compatibility
    return VersionReview(
        version=number,
        path=_relative(root, published.path),
        new_since_base=new_since_base,
        registered=registered,
        previous=number - 1 if earlier else None,
        changes=tuple(field_diff(tree[number - 1].schema, published.schema)) if earlier else (),
        verdicts=verdicts,
        level=level,
        breaks_level=bool(verdicts) and not verdicts[level].compatible,
        rollout=rollout(verdicts, level),
    )


def _check(mode: str, new: Any, earlier: list[Any]) -> compat.Verdict:
    """compat.check, with a schema it refuses to parse (say, a default that does not fit its field, which the
    registry would refuse too) as an incompatible verdict saying why."""
    try:
        return compat.check(mode, new, earlier)
    except compat.DefinedTwice as error:  # the registry takes it; we cannot judge it
        reason = compat.Reason(len(earlier), "", "/", None, "TYPE_DEFINED_TWICE", str(error), True)
        return compat.Verdict(mode, False, (reason,))
    except ValueError as error:
        reason = compat.Reason(len(earlier), "", "/", None, "INVALID_SCHEMA", f"the registry would refuse it: {error}", False)
        return compat.Verdict(mode, False, (reason,))


def _edited(root: Path, subject: Subject[object], published: SchemaVersion, held: Any, against: str, where: str) -> Problem:
    path = _relative(root, published.path)
    try:
        changes = tuple(field_diff(held, published.schema))
    except (ValueError, TypeError, AttributeError, KeyError):
        changes = ()
    return Problem(
        subject.name, published.version, EDITED, against, path,
        f"{subject.name} version {published.version}: {path} was edited after it was published (it differs from"
        f" {where}); published versions are immutable: restore it and publish the change as"
        f" v{subject.latest.version + 1}.avsc instead",
        changes,
    )


def _relative(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


# -------------------------------------------------------------------------------------------- the registry


def _registry_snapshot(url: str | None, manifest: Manifest) -> tuple[RegistryState, dict[str, dict[int, Any]]]:
    """What the registry holds for each subject of the manifest: version -> parsed schema."""
    if not url:
        return RegistryState(None, "not consulted", "--no-registry"), {}
    try:  # the credentials and CA the environment gives, for whichever registry is asked
        client = Registry({**registry_client(), "url": url, "timeout": REGISTRY_TIMEOUT})
    except (RegistryError, SettingsError) as error:
        return RegistryState(url, "unreachable", str(error)), {}
    held: dict[str, dict[int, Any]] = {}
    try:
        for subject in manifest.subjects:
            published = {v.version for v in subject.versions}
            numbers = client.versions(subject.name)
            held[subject.name] = {
                number: json.loads(client.schema_text(subject.name, number)) if number in published else None
                for number in numbers
            }
    except (RegistryError, ValueError, KeyError) as error:
        return RegistryState(url, "unreachable", str(error)), {}
    finally:
        client.close()
    return RegistryState(url, "compared"), held
