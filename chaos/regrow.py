"""A move to more partitions under the steady load (messaging/repartition.py), in a scratch deployment (stack/scratch.py)
so that the stack's own topics keep their count: the invoice group and then the score group grow from 6 to 12
partitions while requests keep coming. A worker is killed (kill -9) in the middle of each move, and the command itself
is killed in the middle of the second and run again; on two hosts, one host's every process is killed instead."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable

from confluent_kafka.admin import AdminClient

from chaos.hosts import Host
from contracts.manifest import read_manifest
from messaging.runtime import Runtime
from stack.paths import LOGS
from stack.scratch import Scratch

__all__ = ["regrow"]

GROWN = 12
MOVE_SECONDS = 300


def regrow(scratch: Scratch, restart_host: Callable[[Host], None] | None = None) -> Callable[[Runtime, str], None]:
    """The fault: both moves, each with its kills; afterwards the cluster and the scratch manifest say 12."""

    def kill_worker(service: str) -> None:
        if scratch.hosts and restart_host is not None:
            host = scratch.hosts[0]
            host.kill_all()
            time.sleep(2)
            restart_host(host)
        else:
            scratch.kill(service)
            time.sleep(2)
            scratch.start(service)

    def fault(runtime: Runtime, marker: str) -> None:
        time.sleep(4)
        # The invoice group: its worker killed once the copying is done and the inputs are about to grow.
        _move(scratch, "invoice", {"step switching": lambda: kill_worker("invoice")})
        # The score group: the command killed in the middle of its copying, run again; the worker killed while the
        # new partitions wait.
        killed = _move(scratch, "score", {"step copying": None})
        assert killed, "the first run of the score group's move should have been killed"
        _move(scratch, "score", {"step tombstoning": lambda: kill_worker("score")})
        _check_grown(scratch)

    return fault


def _move(scratch: Scratch, group: str, at: dict[str, Callable[[], None] | None]) -> bool:
    """Run `make repartition`'s command for `group` as a process; when it prints a line containing a key of `at`, do
    that (a thread, so the move goes on meanwhile), or kill -9 the command (None). Whether it was killed."""
    log = (LOGS / f"{scratch.prefix}repartition.log").open("a")
    command = subprocess.Popen(
        [sys.executable, "-u", "-m", "messaging.repartition", scratch.group(group), str(GROWN), "--apply",
         "--manifest", str(scratch.manifest_path)],
        env=scratch.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert command.stdout is not None
    deadline = time.monotonic() + MOVE_SECONDS
    actions: list[threading.Thread] = []
    killed = False
    for line in command.stdout:
        log.write(line)
        log.flush()
        for said, action in at.items():
            if said in line and action is None:
                command.kill()
                killed = True
            elif said in line and action is not None:
                actions.append(threading.Thread(target=action))
                actions[-1].start()
        if time.monotonic() > deadline:
            command.kill()
            raise RuntimeError(f"moving {group} took over {MOVE_SECONDS} s")
    code = command.wait()
    for thread in actions:
        thread.join()
    log.close()
    if code != 0 and not killed:
        raise RuntimeError(f"moving {group} failed (exit {code}); see {log.name}")
    return killed


def _check_grown(scratch: Scratch) -> None:
    """Every topic of both groups has 12 partitions, and so says the scratch manifest."""
    manifest = read_manifest(scratch.manifest_path)
    topics = AdminClient({**scratch.runtime.settings.kafka_client}).list_topics(timeout=30).topics
    for name in ("invoice", "score"):
        group = next(g for g in manifest.co_partitioned if g.name == scratch.group(name))
        for topic in group.topics:
            listed, found = manifest.named(topic).partitions, len(topics[topic].partitions)
            if (listed, found) != (GROWN, GROWN):
                raise RuntimeError(f"after the move {topic} has {found} partitions and the manifest says {listed}")
