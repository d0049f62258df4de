"""What a schema review compares with: the project's contracts at a base git ref, read with git (a shallow clone's
missing base fetched when it can be), and the manifest at that base loaded from a scratch checkout."""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from contracts.manifest import Manifest, ManifestError, read_manifest
from contracts.review_model import ReviewInputError

__all__ = ["BaseSnapshot", "BaseSubject", "base_manifest"]

VERSION_FILE = re.compile(r"v([1-9][0-9]*)\.avsc")


@dataclass(frozen=True)
class BaseSubject:
    family: str
    level: str | None
    versions: dict[int, tuple[str, str]]  # version -> (path relative to the project root, text)


@dataclass(frozen=True)
class BaseSnapshot:
    ref: str
    commit: str
    subjects: dict[str, BaseSubject] = field(default_factory=dict)

    @classmethod
    def read(cls, root: Path, ref: str) -> BaseSnapshot:
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
                subjects[f"{entry['name']}-{side}"] = BaseSubject(family, entry.get("compatibility"), versions)
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


def base_manifest(root: Path, commit: str) -> Manifest | None:
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
