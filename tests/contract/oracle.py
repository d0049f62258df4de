"""Avro Java's SchemaCompatibility as an oracle for contracts.compat: built once, run as one long-lived JVM.

`build()` fetches the Avro jar pinned in tools/avro-oracle/pom.xml from Maven Central with Maven (into
.cache/avro-oracle-<version>/lib, as the stack fetches Kafka) and compiles tools/avro-oracle/AvroOracle.java against it
(into a folder named after the source's hash, so an edit recompiles). `Oracle` starts that program once and asks it,
one JSON line per question, whether a reader reads a writer's data, and whether a schema parses. `make avro-oracle`
(or `python -m tests.contract.oracle`) builds it ahead of the tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from stack.errors import StackError
from stack.fetch import copy_dependencies, pinned_version

__all__ = ["TALLY", "Judgement", "Oracle", "OracleError", "SchemaFacts", "Tally", "build"]

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "tools" / "avro-oracle"
BATCH = 16  # questions written before their answers are read: the answers never fill the pipe meanwhile


class OracleError(Exception):
    """The oracle cannot be built or does not answer; the message says what to do, in one sentence."""


@dataclass(frozen=True)
class Judgement:
    """Java's answer for one (reader, writer) pair."""

    compatible: bool
    types: tuple[str, ...]  # the incompatibility types it gives (SchemaIncompatibilityType names), in its order
    messages: tuple[str, ...]
    locations: tuple[str, ...]  # JSON pointers into the reader schema, as Java gives them
    thrown: str | None  # the check threw (a reader field matching two writer fields): Confluent says incompatible
    invalid: str | None  # "reader" or "writer" when that schema does not parse (the registry answers 422)


@dataclass(frozen=True)
class SchemaFacts:
    """Java's reading of one schema."""

    valid: bool
    message: str | None
    logical: str | None  # the logical type of its top type as Java keeps it ("decimal(12,2)"), None when none or ignored


@dataclass
class Tally:
    """What a run of the differential test compared; pytest's report ends with it (tests/contract/conftest.py)."""

    profile: str = ""
    chains: int = 0  # generated chains of three versions
    schemas: int = 0  # versions, each read by Java's parser and ours
    invalid: int = 0  # of those, refused by both (a generated change may leave a schema invalid)
    defined_twice: int = 0  # chains holding a type defined twice with other aliases, which we refuse (CONTRACT104)
    pairs: int = 0  # (earlier, later) pairs of valid versions judged by both
    directions: int = 0  # (reader, writer) judgements Java gave
    verdicts: int = 0  # our verdicts (a mode, a version after its earlier ones) compared with Java's, NONE aside
    agreed: int = 0  # of those, the same verdict as Java's
    stricter: dict[str, int] = field(default_factory=dict)  # the others, refused by our stricter rules: by rule id
    java_reasons: dict[str, int] = field(default_factory=dict)  # Java's incompatibility types in its judgements
    registry_verdicts: int = 0  # verdicts the live registry gave, each Java's
    registry_same: int = 0  # chains of the sample whose v2 the registry took as v1 (no new version), left
    seconds: float = 0.0  # the property's run, generation included
    disagreed: bool = False  # the run stopped at a disagreement (pytest's report says which)

    def summary(self) -> str:
        stricter = ", ".join(f"{rule} {count}" for rule, count in sorted(self.stricter.items())) or "none"
        share = f"{100 * self.agreed / self.verdicts:.2f}%" if self.verdicts else "-"
        counted = (f"{self.profile} profile: {self.chains} chains, {self.schemas} schemas ({self.invalid} invalid to both;"
                   f" {self.defined_twice} chains refused by CONTRACT104 alone), {self.pairs} pairs of valid ones,"
                   f" {self.directions} Java judgements, {self.verdicts} verdicts in {self.seconds:.0f} s")
        if self.disagreed:
            return f"{counted}: STOPPED at a disagreement (above)"
        reasons = ", ".join(f"{kind} {count}" for kind, count in sorted(self.java_reasons.items()))
        return (f"{counted}: {self.agreed} the same as Java's ({share}), the rest refused by documented stricter rules "
                f"only ({stricter}), none accepted that Java refuses; Java's reasons met: {reasons}; "
                f"{self.registry_verdicts} registry verdicts, each Java's ({self.registry_same} sampled chains left: the "
                "registry took their v2 as v1)")

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"compat-oracle-{self.profile}.json"
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path


TALLY = Tally()


def _tool(name: str) -> str:
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / name) if home and (Path(home) / "bin" / name).exists() else shutil.which(name)
    if found is None:
        raise OracleError(f"a Java development kit ({name}, Java 11 or newer) is needed to run Avro Java's compatibility"
                          " checker for the differential test: install one (apt-get install openjdk-17-jdk-headless)"
                          " or set JAVA_HOME")
    return found


def build() -> list[str]:
    """The command that runs the oracle, fetching and compiling what is missing first."""
    pom = SOURCES / "pom.xml"
    version = pinned_version(pom, "avro.version")
    home = ROOT / ".cache" / f"avro-oracle-{version}"
    java, javac = _tool("java"), _tool("javac")
    try:
        lib = copy_dependencies(pom, home / "lib", f"Avro Java {version}")
    except StackError as error:
        raise OracleError(str(error)) from None
    source = SOURCES / "AvroOracle.java"
    classes = home / f"classes-{hashlib.sha256(source.read_bytes()).hexdigest()[:12]}"
    if not (classes / "AvroOracle.class").exists():
        partial = classes.with_name(classes.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        done = subprocess.run([javac, "-encoding", "UTF-8", "-d", str(partial), "-cp", f"{lib}/*", str(source)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise OracleError(f"javac could not compile {source.relative_to(ROOT)}: {done.stderr.strip()}")
        partial.rename(classes)
    # A small heap and the serial collector: the machine's other core runs the tests. SLF4J finds no logger: quiet.
    return [java, "-Xmx256m", "-XX:+UseSerialGC", "-Dslf4j.internal.verbosity=ERROR",
            "-cp", f"{classes}{os.pathsep}{lib}/*", "AvroOracle"]


class Oracle:
    """One JVM answering questions in order; `close` ends it."""

    def __init__(self, command: Sequence[str]) -> None:
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        encoding="utf-8", bufsize=1 << 16)
        self._next = 0

    def judge(self, pairs: Iterable[tuple[str, str]]) -> list[Judgement]:
        """Java's answer for each (reader text, writer text)."""
        return [_judgement(answer) for answer in self._ask([{"reader": r, "writer": w} for r, w in pairs])]

    def inspect(self, schemas: Iterable[str]) -> list[SchemaFacts]:
        """Whether each schema text parses in Java, and the logical type Java gives its top type."""
        return [SchemaFacts(a["valid"], a.get("message"), a.get("logical")) for a in self._ask(
            [{"schema": text} for text in schemas])]

    def close(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _ask(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        stdin, stdout = _pipe(self.process.stdin), _pipe(self.process.stdout)
        answers: list[dict[str, Any]] = []
        for start in range(0, len(requests), BATCH):
            batch = requests[start:start + BATCH]
            first = self._next
            self._next += len(batch)
            try:
                stdin.write("".join(json.dumps({"id": first + i, **r}) + "\n" for i, r in enumerate(batch)))
                stdin.flush()
                lines = [stdout.readline() for _ in batch]
            except (BrokenPipeError, OSError) as error:
                raise OracleError(f"the Avro oracle stopped ({error}): see its output above") from None
            for i, line in enumerate(lines):
                if not line:
                    raise OracleError(f"the Avro oracle exited with status {self.process.poll()}: see its output above")
                answer = json.loads(line)
                if answer.get("id") != first + i or "error" in answer:
                    raise OracleError(f"the Avro oracle could not answer request {first + i}: {answer}")
                answers.append(answer)
        return answers


def _pipe(pipe: IO[str] | None) -> IO[str]:
    if pipe is None:
        raise OracleError("the Avro oracle has no pipe to talk through")
    return pipe


def _judgement(answer: dict[str, Any]) -> Judgement:
    found = answer.get("incompatibilities", [])
    return Judgement(bool(answer.get("compatible")), tuple(i["type"] for i in found), tuple(i["message"] for i in found),
                     tuple(i["location"] for i in found), answer.get("thrown"), answer.get("invalid"))


if __name__ == "__main__":
    try:
        print(" ".join(build()))
    except OracleError as error:
        raise SystemExit(f"error: {error}") from None
