"""A TCP relay that gives a host (a network namespace) the root namespace's 127.0.0.1 ports, through its veth.

For each port it relays twice: from the namespace's 127.0.0.1:<port> across the veth to the root
end's address, and from there to the root namespace's 127.0.0.1:<port>. So clients inside use the
bootstrap and registry addresses everyone uses, and cutting the veth cuts them off.

One process in the root namespace holds the sockets of both sides (a socket belongs to the
namespace it was created in), so no process of ours lives inside the host: killing every process
of the host leaves its network standing. It exits when its standard input closes, which is also
what happens when the process that started it dies.

    python -m chaos.forward --netns NAME --via ADDRESS PORT...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import socket
import struct
import sys
from collections.abc import Callable, Iterator, Sequence

__all__ = ["main"]

CLONE_NEWNET = 0x40000000
CONNECT_TIMEOUT = 10.0  # a connection the other side never answers is reset, as a refused one is
CHUNK = 65536

Opener = Callable[[], socket.socket]


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


@contextlib.contextmanager
def _inside(namespace: int, root: int) -> Iterator[None]:
    """Run the block in `namespace`; only this thread moves, and it always moves back."""
    _setns(namespace)
    try:
        yield
    finally:
        _setns(root)


def _tcp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _listener(address: str, port: int) -> socket.socket:
    sock = _tcp_socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(128)
    return sock


def _reset(sock: socket.socket) -> None:
    """Close with an RST, so the peer learns at once that the other side is gone."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def _pipe(source: socket.socket, sink: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    while data := await loop.sock_recv(source, CHUNK):
        await loop.sock_sendall(sink, data)
    sink.shutdown(socket.SHUT_WR)  # pass the half-close on: the other direction may still carry data


async def _relay(client: socket.socket, open_upstream: Opener, target: tuple[str, int]) -> None:
    loop = asyncio.get_running_loop()
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    upstream = open_upstream()
    try:
        await asyncio.wait_for(loop.sock_connect(upstream, target), CONNECT_TIMEOUT)
    except (OSError, TimeoutError):
        _reset(client)
        upstream.close()
        return
    pipes = {asyncio.create_task(_pipe(client, upstream)), asyncio.create_task(_pipe(upstream, client))}
    done, pending = await asyncio.wait(pipes, return_when=asyncio.FIRST_EXCEPTION)
    failures = [pipe.exception() for pipe in done]  # retrieved, so none is reported as lost
    if pending:  # one direction failed while the other still ran: stop it before its sockets close
        for pipe in pending:
            pipe.cancel()
        await asyncio.wait(pending)
    if pending or any(failures):  # a reset or a vanished peer: reset both, as one connection would be
        _reset(client)
        _reset(upstream)
    else:
        client.close()
        upstream.close()


async def _serve(listener: socket.socket, open_upstream: Opener, target: tuple[str, int]) -> None:
    loop = asyncio.get_running_loop()
    relays: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks
    while True:
        client, _ = await loop.sock_accept(listener)
        relay = asyncio.create_task(_relay(client, open_upstream, target))
        relays.add(relay)
        relay.add_done_callback(relays.discard)


async def _until_stdin_closes() -> None:
    loop = asyncio.get_running_loop()
    closed = asyncio.Event()

    def read() -> None:
        if not os.read(0, CHUNK):
            closed.set()

    loop.add_reader(0, read)
    await closed.wait()
    loop.remove_reader(0)


async def _forward(netns: str, via: str, ports: Sequence[int]) -> None:
    root = os.open("/proc/self/ns/net", os.O_RDONLY)
    namespace = os.open(f"/run/netns/{netns}", os.O_RDONLY)

    def open_inside() -> socket.socket:
        with _inside(namespace, root):
            return _tcp_socket()

    servers = []
    for port in ports:
        with _inside(namespace, root):
            inner = _listener("127.0.0.1", port)
        outer = _listener(via, port)
        servers.append(_serve(inner, open_inside, (via, port)))
        servers.append(_serve(outer, _tcp_socket, ("127.0.0.1", port)))
    serving = asyncio.gather(*servers)
    print("ready", flush=True)
    closing = asyncio.create_task(_until_stdin_closes())
    closing.add_done_callback(lambda _: serving.cancel())
    with contextlib.suppress(asyncio.CancelledError):
        await serving  # forever, unless a listener fails: then say why rather than go on half deaf


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.forward", description=__doc__.splitlines()[0])
    parser.add_argument("--netns", required=True, help="the namespace's name under /run/netns")
    parser.add_argument("--via", required=True, help="the root end's address on the veth")
    parser.add_argument("ports", nargs="+", type=int)
    args = parser.parse_args(argv)
    try:
        asyncio.run(_forward(args.netns, args.via, args.ports))
    except OSError as error:
        print(f"error: cannot forward into {args.netns}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
