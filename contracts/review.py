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

import io
import json
import re
import subprocess
import tarfile
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from contracts import acls, compat, doors
from contracts.acls import Grant
from contracts.diff import Change, field_diff
from contracts.doors import Door
from contracts.env import SettingsError, registry_client
from contracts.manifest import Manifest, ManifestError, SchemaVersion, Subject, Topic, read_manifest
from contracts.registry import Registry, RegistryError, same_schema

__all__ = [
    "EDITED", "REMOVED", "Problem", "RegistryState", "Review", "ReviewInputError", "SubjectReview", "VersionReview",
    "review", "rollout",
]

EDITED, REMOVED = "edited", "removed"
ANY_ORDER = "any order"
CONSUMERS_FIRST = "upgrade consumers first, then the producer"
PRODUCER_FIRST = "upgrade the producer first, then consumers"
BREAKING = "breaking: not deployable in place (new topic or coordinated migration)"
VERSION_FILE = re.compile(r"v([1-9][0-9]*)\.avsc")
REGISTRY_TIMEOUT = 5.0


class ReviewInputError(Exception):
    """The review cannot run: not a git repository, an unknown ref, an unreadable manifest."""


@dataclass(frozen=True)
class RegistryState:
    url: str | None
    status: str  # "compared", "unreachable" or "not consulted"
    detail: str = ""

    @property
    def compared(self) -> bool:
        return self.status == "compared"

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class Problem:
    """A published version that changed: edited (its content differs) or removed (its file is gone)."""

    subject: str
    version: int
    kind: str  # EDITED or REMOVED
    against: str  # "base" or "registry": where the published content comes from
    path: str  # the schema file, relative to the repository
    message: str
    changes: tuple[Change, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject, "version": self.version, "kind": self.kind, "against": self.against,
            "path": self.path, "message": self.message, "changes": [c.to_json() for c in self.changes],
        }


@dataclass(frozen=True)
class VersionReview:
    version: int
    path: str  # the schema file, relative to the repository
    new_since_base: bool
    registered: bool | None  # None when no registry was consulted
    previous: int | None  # the version it is diffed against; None for a first version
    changes: tuple[Change, ...]
    verdicts: Mapping[str, compat.Verdict]  # every mode, against every earlier version; empty for a first version
    level: str
    breaks_level: bool
    rollout: str

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version, "path": self.path, "new_since_base": self.new_since_base,
            "registered": self.registered, "previous": self.previous,
            "changes": [c.to_json() for c in self.changes],
            "verdicts": {mode: verdict.to_json() for mode, verdict in self.verdicts.items()},
            "level": self.level, "breaks_level": self.breaks_level, "rollout": self.rollout,
        }


@dataclass(frozen=True)
class SubjectReview:
    subject: str
    topic: str
    family: str
    compatibility: str
    producer: str
    consumers: tuple[str, ...]
    new_subject: bool
    previous_level: str | None  # the level at the base when it changed since
    versions: tuple[VersionReview, ...]
    problems: tuple[Problem, ...]
    notes: tuple[str, ...] = ()

    @property
    def breaks(self) -> bool:
        return bool(self.problems) or any(v.breaks_level for v in self.versions)

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject, "topic": self.topic, "family": self.family, "compatibility": self.compatibility,
            "previous_compatibility": self.previous_level, "new_subject": self.new_subject,
            "producer": self.producer, "consumers": list(self.consumers),
            "versions_added": [v.version for v in self.versions],
            "versions": [v.to_json() for v in self.versions],
            "errors": [p.to_json() for p in self.problems], "notes": list(self.notes), "breaks": self.breaks,
        }


@dataclass(frozen=True)
class Review:
    root: Path  # the project reviewed: the folder holding contracts/ (paths in the review are relative to it)
    base: str
    base_commit: str
    registry: RegistryState
    subjects: tuple[SubjectReview, ...]
    removed_subjects: tuple[str, ...] = ()
    granted: tuple[Grant, ...] = ()  # rights on the cluster the manifest now gives (contracts.acls)
    revoked: tuple[Grant, ...] = ()  # and those it no longer gives
    doors: tuple[Door, ...] = ()  # manifest changes that move keys between partitions (contracts.doors)

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(p for s in self.subjects for p in s.problems)

    @property
    def breaking(self) -> tuple[tuple[SubjectReview, VersionReview], ...]:
        return tuple((s, v) for s in self.subjects for v in s.versions if v.breaks_level)

    @property
    def changed(self) -> bool:
        return bool(self.subjects or self.removed_subjects or self.granted or self.revoked or self.doors)

    @property
    def exit_status(self) -> int:
        return 1 if self.problems or self.breaking else 0

    @property
    def summary(self) -> str:
        """One sentence: what changed and whether it may be approved."""
        base = f"`{self.base}` ({self.base_commit[:7]})"
        registry = self.registry
        if not self.changed:
            if registry.compared:
                return (f"No schema changes since {base}, and the registry at {registry.url} holds exactly what the tree"
                        " publishes.")
            if registry.status == "unreachable":
                return (f"No schema changes since {base} (the registry at {registry.url} was not reachable, so it was not"
                        " compared).")
            return f"No schema changes since {base} (registry not consulted)."
        problems, breaking = self.problems, self.breaking
        count = f"{len(self.subjects)} subject{'s' if len(self.subjects) != 1 else ''} changed"
        if self.granted or self.revoked:
            count += f", {len(self.granted)} right{'s' if len(self.granted) != 1 else ''} granted and {len(self.revoked)} revoked"
        if self.doors:
            count += f", {len(self.doors)} one-way door{'s' if len(self.doors) != 1 else ''} (keys moving between partitions)"
        if problems or breaking:
            what = []
            if problems:
                what.append(f"{len(problems)} published version{'s' if len(problems) != 1 else ''} edited or deleted")
            if breaking:
                plural = "s" if len(breaking) != 1 else ""
                what.append(f"{len(breaking)} version{plural} breaking the subject's compatibility level")
            return f"{count}: NOT approvable as is: {'; '.join(what)}."
        if self.doors:
            return (f"{count}: nothing breaks its subject's compatibility level, but keys move between partitions:"
                    " approve each one-way door only with what it says it needs.")
        return f"{count}: nothing breaks its subject's compatibility level."

    def to_json(self) -> dict[str, Any]:
        return {
            "base": self.base, "base_commit": self.base_commit, "registry": self.registry.to_json(),
            "changed": self.changed, "exit_status": self.exit_status, "summary": self.summary,
            "errors": [p.to_json() for p in self.problems],
            "subjects": [s.to_json() for s in self.subjects], "removed_subjects": list(self.removed_subjects),
            "rights": {"granted": [asdict(g) for g in self.granted], "revoked": [asdict(g) for g in self.revoked]},
            "one_way_doors": [asdict(door) for door in self.doors],
        }


# ---------------------------------------------------------------------------------------------- the review


def review(root: Path, base: str, registry_url: str | None = None) -> Review:
    """Review the schema changes of the project at `root` since git ref `base` (and against the registry at
    `registry_url` when given; an unreachable registry is noted, and the review goes on with the base only)."""
    root = Path(root)
    manifest = _current_manifest(root)
    snapshot = _BaseSnapshot.read(root, base)
    state, held = _registry_snapshot(registry_url, manifest)
    subjects = []
    for topic in manifest.topics:
        for subject in topic.subjects:
            reviewed = _subject(root, snapshot, held.get(subject.name) if state.compared else None, topic, subject)
            if reviewed is not None:
                subjects.append(reviewed)
    current = {subject.name for subject in manifest.subjects}
    removed = tuple(sorted(name for name in snapshot.subjects if name not in current))
    before = _base_manifest(root, snapshot.commit)
    # Who may do what now against the base (a base without a manifest that loads gave no rights), and what moves keys.
    granted, revoked = acls.changes(before, manifest) if before else (acls.grants(manifest), [])
    opened = doors.doors(before, manifest) if before else []
    return Review(root, base, snapshot.commit, state, tuple(subjects), removed, tuple(granted), tuple(revoked),
                  tuple(opened))


def _base_manifest(root: Path, commit: str) -> Manifest | None:
    """The manifest at the base: its contracts/ checked out in a scratch folder and loaded; None when it has none that
    loads."""
    top = Path(_git(root, "rev-parse", "--show-toplevel", failure=f"{root} is not in a git repository").strip())
    prefix = (root / "contracts").resolve().relative_to(top.resolve()).as_posix()
    with tempfile.TemporaryDirectory() as scratch:
        archive = subprocess.run(["git", "-C", str(top), "archive", "--format=tar", commit, prefix],
                                 capture_output=True, check=False)
        if archive.returncode != 0:
            return None
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(scratch, filter="data")
        try:
            return read_manifest(Path(scratch) / prefix / "topics.toml")
        except (ManifestError, OSError):
            return None


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
    root: Path, base: _BaseSnapshot, registered: dict[int, Any] | None, topic: Topic[object, object], subject: Subject[object]
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


# ------------------------------------------------------------------------------------------ the git base


@dataclass(frozen=True)
class _BaseSubject:
    family: str
    level: str | None
    versions: dict[int, tuple[str, str]]  # version -> (path relative to the project root, text)


@dataclass(frozen=True)
class _BaseSnapshot:
    ref: str
    commit: str
    subjects: dict[str, _BaseSubject] = field(default_factory=dict)

    @classmethod
    def read(cls, root: Path, ref: str) -> _BaseSnapshot:
        if not root.is_dir():
            raise ReviewInputError(f"{root} is not a directory")
        top = _git(root, "rev-parse", "--show-toplevel", failure=f"{root} is not in a git repository").strip()
        toplevel = Path(top)
        if not ref or ref.startswith("-"):
            raise ReviewInputError(f"{ref!r} is not a git ref")
        commit = _commit(toplevel, ref)
        try:
            prefix = (root / "contracts").resolve().relative_to(toplevel.resolve()).as_posix()
        except ValueError:
            raise ReviewInputError(f"{root / 'contracts'} is not inside the git repository at {toplevel}") from None
        listing = _git(toplevel, "ls-tree", "-r", "--full-tree", "--name-only", "-z", commit, "--", f"{prefix}/",
                       failure=f"cannot list {prefix}/ at {ref}").split("\0")
        files = {name for name in listing if name}
        manifest_path = f"{prefix}/topics.toml"
        if manifest_path not in files:
            return cls(ref, commit)  # no contracts at the base: every subject is new
        try:
            document = tomllib.loads(_show(toplevel, commit, manifest_path))
        except tomllib.TOMLDecodeError as error:
            raise ReviewInputError(f"{manifest_path} at {ref} is not valid TOML: {error}") from None
        by_family: dict[str, dict[int, str]] = {}  # family -> version -> the file's path in the commit
        for name in sorted(files):
            parts = name[len(prefix) + 1:].split("/")
            if len(parts) == 3 and parts[0] == "schemas" and (match := VERSION_FILE.fullmatch(parts[2])):
                by_family.setdefault(parts[1], {})[int(match.group(1))] = name
        subjects = {}
        for entry in document.get("topic", []):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                continue
            for side in ("key", "value"):
                family = entry.get(side)
                if not isinstance(family, str):
                    continue
                versions = {
                    number: (_under_root(prefix, path), _show(toplevel, commit, path))
                    for number, path in by_family.get(family, {}).items()
                }
                subjects[f"{entry['name']}-{side}"] = _BaseSubject(family, entry.get("compatibility"), versions)
        return cls(ref, commit, subjects)


def _commit(toplevel: Path, ref: str) -> str:
    """The commit `ref` names. A shallow clone (what CI checks out) lacks the commits below its boundary, the default
    base HEAD~1 among them: a HEAD~N base is fetched from the clone's remote (`git fetch --deepen=N`) when it has one;
    otherwise, or when that does not bring it, the error says how to get it."""
    try:
        return _resolve(toplevel, ref)
    except ReviewInputError:
        if not _is_shallow(toplevel):
            raise
    missing = f"the base {ref!r} is not in this shallow clone"
    how = "run `git fetch --unshallow` (or `git fetch --deepen=N`) first, or pass BASE=<a commit the clone has>"
    if not _git(toplevel, "remote", failure="git remote failed").split():
        raise ReviewInputError(f"{missing}, which has no remote to fetch it from: add one and run `git fetch"
                               " --unshallow`, or pass BASE=<a commit the clone has>")
    depth = _depth_below_head(ref)
    if depth is None:
        raise ReviewInputError(f"{missing}: {how}")
    _git(toplevel, "fetch", "--quiet", f"--deepen={depth}", failure=f"{missing} and `git fetch --deepen={depth}` failed: {how}")
    try:
        return _resolve(toplevel, ref)
    except ReviewInputError:
        if _is_shallow(toplevel):  # else the history is whole and the ref is not in it: unknown, as said
            raise ReviewInputError(f"{missing} even after `git fetch --deepen={depth}`: {how}") from None
        raise


def _resolve(toplevel: Path, ref: str) -> str:
    return _git(toplevel, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}",
                failure=f"unknown git ref {ref!r} in the repository at {toplevel}").strip()


def _is_shallow(toplevel: Path) -> bool:
    return _git(toplevel, "rev-parse", "--is-shallow-repository", failure="git rev-parse failed").strip() == "true"


def _depth_below_head(ref: str) -> int | None:
    """How many commits below HEAD a ref such as HEAD~2 or HEAD^^ is; None for any other ref."""
    if match := re.fullmatch(r"HEAD~([0-9]*)", ref):
        return int(match.group(1) or 1)
    return len(ref) - 4 if re.fullmatch(r"HEAD\^+", ref) else None


def _under_root(prefix: str, path: str) -> str:
    """A repository path as a path relative to the project root (the parent of contracts/)."""
    return "contracts/" + path[len(prefix) + 1:]


def _show(toplevel: Path, commit: str, path: str) -> str:
    return _git(toplevel, "show", f"{commit}:{path}", failure=f"cannot read {path} at {commit}")


def _git(cwd: Path, *args: str, failure: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False, timeout=60)
    except FileNotFoundError:
        raise ReviewInputError("git is not installed (the review reads the base version with git)") from None
    except subprocess.TimeoutExpired:
        raise ReviewInputError(f"git {args[0]} did not finish within 60 s") from None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ReviewInputError(failure + (f" ({said[0]})" if said and "fatal: Needed a single revision" not in said[0]
                                          else ""))
    return done.stdout.decode("utf-8")


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


# ----------------------------------------------------------------------------------------------- reports
