"""Fetching Kafka, Apicurio and Zipkin from Maven Central with Maven, once."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from stack.errors import StackError
from stack.paths import CACHE, LOGS, REPO

__all__ = ["copy_dependencies", "kafka_libs", "pinned_version", "registry_home", "zipkin_jar"]

POM_NAMESPACE = "{http://maven.apache.org/POM/4.0.0}"
DOWNLOADED = re.compile(r"Downloaded from \S+: \S+/([^/]+) \(([^)]*?) at")


def pinned_version(pom: Path, prop: str) -> str:
    """A version pinned as a property of one of the stack's POMs (the one place versions are set)."""
    node = ElementTree.parse(pom).getroot().find(f"{POM_NAMESPACE}properties/{POM_NAMESPACE}{prop}")
    if node is None or not node.text:
        raise StackError(f"{pom} does not pin <{prop}>")
    return node.text.strip()


def _maven(pom: Path, goal: str, output: Path, what: str) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            f"Maven (mvn) is needed to fetch {what} from Maven Central the first time: install it (apt-get install maven)"
        )
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / "fetch.log"
    shown = log_path.relative_to(REPO) if log_path.is_relative_to(REPO) else log_path
    print(f"fetching {what} from Maven Central (first run only; full log in {shown})")
    command = [mvn, "-B", "-f", str(pom), goal, f"-DoutputDirectory={output}"]
    count = 0
    with log_path.open("a") as log, subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as maven:
        assert maven.stdout is not None
        for line in maven.stdout:
            log.write(line)
            if found := DOWNLOADED.search(line):
                count += 1
                print(f"  [{count}] {found.group(1)} ({found.group(2)})", flush=True)
    if maven.returncode != 0:
        raise StackError(f"Maven could not fetch {what}; see {log_path}")


def _fetch_once(target: Path, pom: Path, goal: str, what: str) -> Path:
    # A marker written last means a half-finished download is never mistaken for a complete one.
    if (target / ".complete").exists():
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    # Maven's unpack markers in the POM's build folder would make it skip an unpack it did before.
    shutil.rmtree(pom.parent / "target", ignore_errors=True)
    _maven(pom, goal, partial, what)
    (partial / ".complete").touch()
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def copy_dependencies(pom: Path, target: Path, what: str) -> Path:
    """The runtime classpath `pom` resolves, copied from Maven Central into the folder `target` once."""
    return _fetch_once(target, pom, "dependency:copy-dependencies", what)


def kafka_libs() -> tuple[str, Path]:
    """Kafka's version and the folder holding its runtime classpath."""
    pom = REPO / "stack" / "conf" / "kafka" / "pom.xml"
    version = pinned_version(pom, "kafka.version")
    target = _fetch_once(
        CACHE / f"kafka-{version}", pom, "dependency:copy-dependencies", f"Apache Kafka {version}"
    )
    return version, target


def registry_home() -> tuple[str, Path]:
    """Apicurio Registry's version and the folder holding its quarkus-run.jar."""
    pom = REPO / "stack" / "conf" / "registry" / "pom.xml"
    version = pinned_version(pom, "apicurio.version")
    target = _fetch_once(
        CACHE / f"apicurio-registry-{version}",
        pom,
        "dependency:unpack-dependencies",
        f"Apicurio Registry {version}",
    )
    return version, target


def zipkin_jar() -> tuple[str, Path]:
    """Zipkin's version and its server's executable jar."""
    pom = REPO / "stack" / "conf" / "zipkin" / "pom.xml"
    version = pinned_version(pom, "zipkin.version")
    target = _fetch_once(CACHE / f"zipkin-{version}", pom, "dependency:copy-dependencies", f"Zipkin {version}")
    return version, target / f"zipkin-server-{version}-exec.jar"
