"""Hosts on one machine: a network namespace each, joined to the root namespace by a veth pair.

A host shares nothing with the rest of the machine's network but Kafka and the schema registry:
`chaos.forward` gives it the root namespace's 127.0.0.1:<port> for each forwarded port, so its
processes use the same bootstrap and registry addresses as everyone, and every byte crosses the
veth, where the faults act:

    with Host("acc-h1", 1) as host:
        worker = host.start([sys.executable, "-m", "services.invoice"], env, log_path)
        host.cut()          # the veth's root end down: the host is cut off from the broker
        host.heal()
        host.lossy(30)      # 30 % of the packets dropped, each way
        host.clear_loss()
        host.kill_all()     # kill -9 every process of the host

The kernel here has no netem (CONFIG_NET_SCH_NETEM is not set and no modules can be loaded), so
loss is a classic BPF filter on the clsact qdisc that drops a packet when a random number says so;
it needs only `tc` from iproute2 and the clsact qdisc with the bpf classifier, both built into the
kernel. Every namespace and link is named with PREFIX, and the root end carries its owner's pid in
its alias, so `cleanup_leftovers` removes what a crashed run left and never what a live one holds.
"""

from __future__ import annotations

import ipaddress
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["DEFAULT_PORTS", "PREFIX", "Host", "HostError", "cleanup_leftovers"]

PREFIX = "acc-"
DEFAULT_PORTS = (9092, 9094, 9096, 8081)  # the brokers as BROKERS=3 advertises them, and the registry
ADDRESSES = ipaddress.IPv4Network("198.18.0.0/15")  # RFC 2544's benchmarking range: no real network uses it
MAX_NAME = 10  # Linux caps interface names at 15 characters, and the root end is "<name>-root"
OWNER = "chaos.hosts"
PASS, DROP = 0, 2  # TC_ACT_OK, TC_ACT_SHOT
RANDOM = 0xFFFFF000 + 56  # classic BPF's ancillary load of a random 32-bit number (SKF_AD_OFF + SKF_AD_RANDOM)


class HostError(RuntimeError):
    """A host cannot be set up, used or taken down; the message is one sentence saying why."""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise HostError(f"`{name}` is needed to run hosts in network namespaces: install Debian's iproute2 package")
    return path


def _run(tool: str, *args: str, missing_ok: bool = False) -> str:
    done = subprocess.run([_tool(tool), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        if missing_ok and ("Cannot find device" in done.stderr or "No such file" in done.stderr):
            return ""
        raise HostError(f"`{tool} {' '.join(args)}` failed: {done.stderr.strip() or done.returncode}")
    return done.stdout


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (FileNotFoundError, IndexError):
        return None


def _owner_mark() -> str:
    return f"{OWNER} {os.getpid()} {_start_time(os.getpid())}"


def _owner_alive(alias: str) -> bool:
    """Whether the process named in a root end's alias still runs (the start time guards against a reused pid)."""
    mark, _, rest = alias.partition(" ")
    pid, _, started = rest.partition(" ")
    return mark == OWNER and pid.isdigit() and _start_time(int(pid)) == started


def _namespaces() -> set[str]:
    return {entry["name"] for entry in json.loads(_run("ip", "-j", "netns", "list") or "[]")}


def _root_ends() -> dict[str, str]:
    """Our veths' root ends in the root namespace, by host name, with their aliases."""
    links = json.loads(_run("ip", "-j", "link", "show") or "[]")
    return {
        link["ifname"].removesuffix("-root"): link.get("ifalias", "")
        for link in links
        if link["ifname"].startswith(PREFIX) and link["ifname"].endswith("-root")
    }


def _kill_namespace(name: str, timeout: float) -> None:
    """SIGKILL every process in the namespace until none is left."""
    deadline = time.monotonic() + timeout
    while pids := [int(pid) for pid in _run("ip", "netns", "pids", name).split()]:
        if time.monotonic() > deadline:
            raise HostError(f"processes {pids} of host {name} survived SIGKILL for {timeout:.0f} s")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def _remove(name: str) -> None:
    if name in _namespaces():
        _kill_namespace(name, timeout=10)
    _run("ip", "link", "del", f"{name}-root", missing_ok=True)  # takes the namespace's end with it
    _run("ip", "netns", "del", name, missing_ok=True)


def cleanup_leftovers() -> list[str]:
    """Remove the hosts, with their processes, that runs no longer alive left behind; returns their names."""
    ends = _root_ends()
    names = {name for name in _namespaces() if name.startswith(PREFIX)} | set(ends)
    # A namespace without its root end is a leftover too: the root end is created first and deleted first.
    left = sorted(name for name in names if not _owner_alive(ends.get(name, "")))
    for name in left:
        _remove(name)
    return left


def _loss_program(percent: float) -> str:
    """A classic BPF program, in tc's bytecode notation, that drops `percent` % of the packets at random."""
    threshold = round(percent / 100 * 2**32)
    if threshold <= 0:
        return f"1,6 0 0 {PASS}"
    if threshold >= 2**32:
        return f"1,6 0 0 {DROP}"
    # A = random; if A >= threshold skip to "pass", else fall through to "drop".
    return f"4,32 0 0 {RANDOM},53 1 0 {threshold},6 0 0 {DROP},6 0 0 {PASS}"


class Host:
    """A network namespace named `name` with a veth to the root namespace and the forwarded ports.

    `index` picks the host's /30 in 198.18.0.0/15: the root end is `root_address`, the namespace's
    end `address`. `ports` are the root namespace's 127.0.0.1 ports the host reaches at its own
    127.0.0.1; a port nothing listens on is harmless (a connection to it is reset). Entering
    creates everything, leaving destroys everything, processes included, however the block ends.
    """

    def __init__(self, name: str, index: int, ports: Sequence[int] = DEFAULT_PORTS) -> None:
        if not name.startswith(PREFIX) or len(name) > MAX_NAME or not name.replace("-", "").isalnum():
            raise HostError(f"a host's name is {PREFIX!r} then letters, digits or '-', {MAX_NAME} characters at most: {name!r}")
        if not 1 <= index < ADDRESSES.num_addresses // 4:
            raise HostError(f"a host's index is between 1 and {ADDRESSES.num_addresses // 4 - 1}: {index}")
        self.name = name
        self.index = index
        self.ports = tuple(ports)
        self.subnet = ipaddress.IPv4Network((int(ADDRESSES.network_address) + 4 * index, 30))
        self.root_address, self.address = list(self.subnet.hosts())
        self.root_link = f"{name}-root"
        self.inner_link = f"{name}-ns"
        self._forwarder: subprocess.Popen[bytes] | None = None
        self._started: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Self:
        if os.geteuid() != 0:
            raise HostError("hosts need root: network namespaces, veths and tc filters are root's to create")
        cleanup_leftovers()
        self._check_free()
        try:
            self._create()
            self._forwarder = self._start_forwarder()
        except BaseException:
            self._destroy()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._destroy()

    def start(self, argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
        """Run `argv` inside the host with exactly `env`, its output appended to `log_path`.

        argv[0] is looked up on env's PATH. The process gets a session of its own, so signals meant
        for the caller's terminal do not reach it.
        """
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [_tool("ip"), "netns", "exec", self.name, *argv],  # ip execs argv in place: the pid is argv's
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._started.append(process)
        return process

    def pids(self) -> list[int]:
        """Every process inside the host, whether started here or by one of them."""
        return [int(pid) for pid in _run("ip", "netns", "pids", self.name).split()]

    def kill_all(self, timeout: float = 10.0) -> None:
        """kill -9 every process of the host and wait until none is left; the host's network stays up."""
        _kill_namespace(self.name, timeout)
        for process in self._started:
            process.wait(timeout)
        self._started.clear()

    def cut(self) -> None:
        """Take the veth's root end down: nothing passes either way, and connections stall as on a pulled cable."""
        _run("ip", "link", "set", self.root_link, "down")

    def heal(self) -> None:
        """Bring the root end back up; the kernel puts back the /30's route with it."""
        _run("ip", "link", "set", self.root_link, "up")

    def lossy(self, percent: float) -> None:
        """Drop `percent` % of the packets at random in each direction (100 cuts the host off, link up)."""
        if not 0 <= percent <= 100:
            raise HostError(f"loss is a percentage between 0 and 100: {percent}")
        self._filter(_loss_program(percent))

    def clear_loss(self) -> None:
        """Let every packet through again (the filter stays, passing all)."""
        self._filter(_loss_program(0))

    def _filter(self, program: str) -> None:
        for direction in ("ingress", "egress"):
            _run("tc", "filter", "replace", "dev", self.root_link, direction,
                 "pref", "1", "handle", "1", "bpf", "da", "bytecode", program)

    def _check_free(self) -> None:
        if self.name in _namespaces() or self.name in _root_ends():
            raise HostError(f"host {self.name} exists and its owner still runs: pick another name")
        for link in json.loads(_run("ip", "-j", "-4", "addr", "show") or "[]"):
            for entry in link.get("addr_info", []):
                taken = ipaddress.IPv4Network(f"{entry['local']}/{entry['prefixlen']}", strict=False)
                if taken.overlaps(self.subnet):
                    raise HostError(f"{self.subnet} of host {self.name} overlaps {taken} on {link['ifname']}: pick another index")

    def _create(self) -> None:
        # The root end first, marked with its owner: a namespace without one is a leftover.
        _run("ip", "link", "add", self.root_link, "type", "veth", "peer", "name", self.inner_link)
        _run("ip", "link", "set", self.root_link, "alias", _owner_mark())
        _run("ip", "netns", "add", self.name)
        _run("ip", "link", "set", self.inner_link, "netns", self.name)
        _run("ip", "addr", "add", f"{self.root_address}/30", "dev", self.root_link)
        _run("ip", "link", "set", self.root_link, "up")
        inside = ("ip", "-n", self.name)
        _run(*inside, "link", "set", "lo", "up")
        _run(*inside, "addr", "add", f"{self.address}/30", "dev", self.inner_link)
        _run(*inside, "link", "set", self.inner_link, "up")
        try:
            _run("tc", "qdisc", "add", "dev", self.root_link, "clsact")
            self.clear_loss()  # a pass-all filter now, so a kernel without what lossy() needs fails here
        except HostError as error:
            raise HostError(f"the kernel cannot filter packets on {self.root_link}, which lossy() needs "
                            f"(clsact qdisc and bpf classifier: CONFIG_NET_SCH_INGRESS, CONFIG_NET_CLS_BPF): {error}") from None

    def _start_forwarder(self, timeout: float = 10.0) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "chaos.forward", "--netns", self.name, "--via", str(self.root_address)]
        # Its stdin is its lifeline: it exits when we close it or die. Its stderr goes to a file that
        # cannot fill up and stall it, as a pipe nobody reads would.
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen([*argv, *map(str, self.ports)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=errors)
            assert process.stdout is not None
            readable, _, _ = select.select([process.stdout], [], [], timeout)
            if readable and process.stdout.readline() == b"ready\n":
                return process
            process.kill()
            process.communicate()
            errors.seek(0)
            reason = errors.read().decode().strip().splitlines()
        raise HostError(reason[-1] if reason else f"the forwarder of host {self.name} was not ready after {timeout:.0f} s")

    def _destroy(self) -> None:
        try:
            if self.name in _namespaces():
                self.kill_all()
        finally:
            if self._forwarder is not None:
                try:
                    self._forwarder.communicate(timeout=5)  # closes its stdin, which tells it to exit
                except subprocess.TimeoutExpired:
                    self._forwarder.kill()
                    self._forwarder.communicate()
                self._forwarder = None
            _remove(self.name)
