"""Hosts in network namespaces reach Kafka and the registry only through their veth, and leave nothing behind."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from chaos.hosts import Host, cleanup_leftovers
from contracts.env import kafka_client
from messaging.settings import Settings
from stack.paths import REPO

PROBE_TIMEOUT = 4.0  # each of the probe's two steps gives up after this
RUN = os.getpid() % 100_000  # names and addresses of their own, for runs of the suite side by side
NAME = f"acc-t{RUN}"
INDEX = 1000 + RUN % 15_000


# ---- run inside a host, by `python -c` ----

def _round_trip(topic: str, bootstrap: str, timeout: float) -> bool:
    marker = uuid.uuid4().bytes
    delivered: list[Message] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is None:
            delivered.append(message)

    connection = {**kafka_client(), "bootstrap.servers": bootstrap}  # as the test's principal, through the host
    producer = Producer({**connection, "message.timeout.ms": int(timeout * 1000)})
    producer.produce(topic, value=marker, on_delivery=on_delivery)
    producer.flush(timeout + 1)
    if not delivered:
        return False
    consumer = Consumer({**connection, "group.id": "hosts-test", "enable.auto.commit": False})
    try:
        partition, offset = delivered[0].partition(), delivered[0].offset()
        assert partition is not None and offset is not None  # a delivered record has both
        consumer.assign([TopicPartition(topic, partition, offset)])
        message = consumer.poll(timeout)
        return message is not None and message.error() is None and message.value() == marker
    finally:
        consumer.close()


def _subjects(registry_url: str, timeout: float) -> bool:
    try:
        answer = httpx.get(f"{registry_url}/subjects", timeout=timeout,
                           verify=os.environ.get("SCHEMA_REGISTRY_SSL_CA_LOCATION") or True)
        return isinstance(answer.raise_for_status().json(), list)
    except httpx.HTTPError:
        return False


def probe(topic: str, bootstrap: str, registry_url: str) -> int:
    """One record to `topic` and back, then the registry's subjects; prints each outcome, 0 when both work."""
    outcomes = {"kafka": _round_trip(topic, bootstrap, PROBE_TIMEOUT), "registry": _subjects(registry_url, PROBE_TIMEOUT)}
    for step, worked in outcomes.items():
        print(f"probe: {step} {'ok' if worked else 'failed'}", flush=True)
    return 0 if all(outcomes.values()) else 1


def talk(port: int, request: bytes) -> str:
    """Send `request`, half-close, and tell what came back: the bytes until EOF, or how it failed."""
    received = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=PROBE_TIMEOUT) as sock:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(4096):
                received += chunk
    except ConnectionResetError:  # the reset may come before connect() returns, or after
        return "reset"
    except TimeoutError:
        return "timeout"
    return f"eof after {received!r}"


def spray(address: str, port: int, count: int) -> int:
    """`count` datagrams to address:port, paced so that no socket buffer on the way drops any."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for index in range(count):
            sock.sendto(b"x", (address, port))
            if index % 10 == 0:
                time.sleep(0.001)
    return 0


# ---- helpers on the test's side ----

def _host_env() -> dict[str, str]:
    # The test's own connection settings (its principal, the CA), and nothing else of its environment.
    connection = {name: value for name, value in os.environ.items() if name.startswith(("KAFKA_", "SCHEMA_REGISTRY_"))}
    return {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), **connection}


def _run_inside(host: Host, call: str, log: Path, timeout: float = 20) -> tuple[int, str, float]:
    """Run `call` (an expression on this module) in the host; its exit status, its output and how long it took."""
    started = time.monotonic()
    code = f"import sys; from tests.hosts.test_hosts import probe, spray, talk; sys.exit({call})"
    process = host.start([sys.executable, "-c", code], _host_env(), log)
    status = process.wait(timeout)
    return status, log.read_text(), time.monotonic() - started


def _ports(settings: Settings) -> list[int]:
    """The ports of the bootstrap servers and of the registry, which a host must reach at 127.0.0.1."""
    return [int(server.rsplit(":", 1)[1]) for server in settings.bootstrap_servers.split(",")] + [
        urlsplit(settings.registry_url).port or 80
    ]


def _forwarders(name: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except (FileNotFoundError, ProcessLookupError):
            continue
        if b"chaos.forward" in argv and name.encode() in argv:
            found.append(int(cmdline.parent.name))
    return found


def _gone(name: str) -> bool:
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout.split()
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return name not in netns and f"{name}-root" not in links and not _forwarders(name)


@pytest.fixture
def topic(admin: AdminClient) -> Iterator[str]:
    name = f"hosts-test-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(name, 1, -1)])[name].result(timeout=15)  # -1: the cluster's replication factor
    yield name
    admin.delete_topics([name])[name].result(timeout=15)


@pytest.fixture
def host(settings: Settings) -> Iterator[Host]:
    with Host(NAME, INDEX, _ports(settings)) as host:
        yield host
    assert _gone(NAME)


def _probe_call(topic: str, settings: Settings) -> str:
    return f"probe({topic!r}, {settings.bootstrap_servers!r}, {settings.registry_url!r})"


# ---- the tests ----

def test_a_host_reaches_kafka_and_the_registry_at_the_usual_addresses_until_cut_and_again_when_healed(
    host: Host, topic: str, settings: Settings, tmp_path: Path
) -> None:
    call = _probe_call(topic, settings)
    status, output, _ = _run_inside(host, call, tmp_path / "up.log")
    assert status == 0, output

    host.cut()
    status, output, took = _run_inside(host, call, tmp_path / "cut.log")
    assert "probe: kafka failed" in output and "probe: registry failed" in output, output
    assert took < 3 * PROBE_TIMEOUT + 5

    host.heal()
    status, output, _ = _run_inside(host, call, tmp_path / "healed.log")
    assert status == 0, output


def test_full_loss_cuts_a_host_off_until_cleared(host: Host, topic: str, settings: Settings, tmp_path: Path) -> None:
    call = _probe_call(topic, settings)
    host.lossy(100)
    status, output, took = _run_inside(host, call, tmp_path / "lossy.log")
    assert "probe: kafka failed" in output and "probe: registry failed" in output, output
    assert took < 3 * PROBE_TIMEOUT + 5

    host.clear_loss()
    status, output, _ = _run_inside(host, call, tmp_path / "cleared.log")
    assert status == 0, output


def test_partial_loss_drops_about_that_share_of_the_packets(host: Host, tmp_path: Path) -> None:
    sent, received = 2000, 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        # Room for every datagram, so that only netem drops them even while this thread waits for a CPU.
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        receiver.bind((str(host.root_address), 0))
        receiver.settimeout(0.5)
        sprayed = threading.Event()

        def count() -> None:  # until the sender is done and the socket has gone quiet
            nonlocal received
            while True:
                try:
                    received += bool(receiver.recv(16))
                except TimeoutError:
                    if sprayed.is_set():
                        return

        counter = threading.Thread(target=count)
        counter.start()
        host.lossy(30)
        call = f"spray({str(host.root_address)!r}, {receiver.getsockname()[1]}, {sent})"
        status, output, _ = _run_inside(host, call, tmp_path / "spray.log")
        sprayed.set()
        counter.join()
    assert status == 0, output
    assert 0.6 < received / sent < 0.8, f"{received} of {sent} datagrams arrived through 30 % loss"


def _serve_once_each(listener: socket.socket) -> None:
    """b"echo": answer after the client's EOF, then close; b"reset": reset the connection."""
    for _ in range(2):
        connection, _ = listener.accept()
        with connection:
            request = b""
            while chunk := connection.recv(4096):
                request += chunk
            if request == b"reset":
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                connection.sendall(request)


def test_half_close_reset_and_a_port_nobody_listens_on_cross_the_forwarders(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener, socket.create_server(("127.0.0.1", 0)) as unused:
        served, idle = listener.getsockname()[1], unused.getsockname()[1]
        unused.close()  # a free port: nothing listens on it
        server = threading.Thread(target=_serve_once_each, args=(listener,), daemon=True)
        server.start()
        with Host(NAME, INDEX, [served, idle]) as host:
            for request, expected in ((b"echo", "eof after b'echo'"), (b"reset", "reset")):
                _, output, _ = _run_inside(host, f"print(talk({served}, {request!r})) or 0", tmp_path / "talk.log")
                assert output.splitlines()[-1] == expected, output
            _, output, took = _run_inside(host, f"print(talk({idle}, b'hello')) or 0", tmp_path / "idle.log")
            assert output.splitlines()[-1] == "reset" and took < PROBE_TIMEOUT, output
        server.join(5)
    assert _gone(NAME)


def test_kill_all_leaves_no_process_in_the_host_and_its_network_up(
    host: Host, topic: str, settings: Settings, tmp_path: Path
) -> None:
    sleepers = [
        host.start(["sleep", "60"], _host_env(), tmp_path / "sleep.log"),
        host.start(["sh", "-c", "sleep 60 & sleep 60"], _host_env(), tmp_path / "sh.log"),  # a grandchild too
    ]
    time.sleep(0.2)
    assert {sleeper.pid for sleeper in sleepers} < set(host.pids())  # and the children of sh

    host.kill_all()

    assert host.pids() == []
    assert [sleeper.returncode for sleeper in sleepers] == [-signal.SIGKILL, -signal.SIGKILL]
    status, output, _ = _run_inside(host, _probe_call(topic, settings), tmp_path / "after.log")
    assert status == 0, output  # the forwarder lives outside the host: a kill -9 of the host spares it


def test_leaving_a_host_on_an_error_removes_everything(settings: Settings) -> None:
    with pytest.raises(RuntimeError, match="the block failed"), Host(NAME, INDEX, _ports(settings)):
        raise RuntimeError("the block failed")
    assert _gone(NAME)


def test_cleanup_leftovers_removes_what_a_killed_run_left_and_spares_a_live_one(host: Host) -> None:
    crashed = f"acc-c{RUN}"
    script = (
        "import time; from pathlib import Path; from chaos.hosts import Host\n"
        f"with Host({crashed!r}, {INDEX + 1}) as host:\n"
        f"    host.start(['sleep', '60'], {_host_env()!r}, Path('/dev/null'))\n"
        "    print('up', flush=True); time.sleep(60)\n"
    )
    run = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert run.stdout is not None and run.stdout.readline() == "up\n"
    run.kill()
    run.communicate()
    assert not _gone(crashed)

    deadline = time.monotonic() + 5
    while _forwarders(crashed) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _forwarders(crashed), "the forwarder outlived the process that started it"

    assert crashed in cleanup_leftovers()
    assert _gone(crashed)
    assert not _gone(host.name)
