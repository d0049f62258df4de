"""A schema review's results (contracts.review makes them; contracts.report and contracts.findings read them): per
subject the versions added with their diff, verdicts and rollout, the published versions edited or deleted, what the
registry holds, the rights and the one-way doors the manifest's change brings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from contracts import compat
from contracts.acls import Grant
from contracts.diff import Change
from contracts.doors import Door

__all__ = [
    "ANY_ORDER", "BREAKING", "CONSUMERS_FIRST", "EDITED", "PRODUCER_FIRST", "REMOVED", "Problem", "RegistryState",
    "Review", "ReviewInputError", "SubjectReview", "VersionReview",
]

EDITED, REMOVED = "edited", "removed"
ANY_ORDER = "any order"
CONSUMERS_FIRST = "upgrade consumers first, then the producer"
PRODUCER_FIRST = "upgrade the producer first, then consumers"
BREAKING = "breaking: not deployable in place (new topic or coordinated migration)"


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
