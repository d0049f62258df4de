"""Finding a Java runtime new enough for each component."""

from __future__ import annotations

import os
import re
import subprocess
from functools import cache
from pathlib import Path

from stack.errors import StackError

__all__ = ["find_java", "java_version"]

JVM_FOLDERS = (Path("/usr/lib/jvm"), Path("/opt/java"), Path("/Library/Java/JavaVirtualMachines"))


def java_version(java: Path) -> int:
    """The feature version (17, 21, 25...) of a java executable."""
    out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise StackError(f"could not read the version of {java}")
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 else major  # "1.8" style means 8


def _candidates(home_variable: str) -> list[Path]:
    found: list[Path] = []
    for variable in (home_variable, "JAVA_HOME"):
        if os.environ.get(variable):
            found.append(Path(os.environ[variable]) / "bin" / "java")
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        found.append(Path(folder) / "java")
    for jvm_folder in JVM_FOLDERS:
        if jvm_folder.is_dir():
            found += sorted(jvm_folder.glob("*/bin/java"), reverse=True)
            found += sorted(jvm_folder.glob("*/Contents/Home/bin/java"), reverse=True)
    return [java for java in dict.fromkeys(found) if java.is_file() and os.access(java, os.X_OK)]


@cache  # three brokers ask for the same java: probe the candidates once
def find_java(minimum: int, needed_by: str, home_variable: str) -> Path:
    """The first java of at least `minimum`, looking at `home_variable`, JAVA_HOME, PATH, then the JVM folders."""
    seen = []
    for java in _candidates(home_variable):
        version = java_version(java)
        if version >= minimum:
            return java
        seen.append(f"Java {version} at {java}")
    found = "; found only " + ", ".join(seen) if seen else "; found none"
    raise StackError(
        f"{needed_by} needs Java {minimum} or newer{found}: install one or set {home_variable} to its home"
    )
