"""The proxy's listening sockets, real ones: a port claimed once, then shared by workers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from openstackoid.proxy.listeners import PortInUse, listen


@pytest.fixture
def opened() -> Iterator[list[socket.socket]]:
    sockets: list[socket.socket] = []
    yield sockets
    for sock in sockets:
        sock.close()


def _accepts(sock: socket.socket) -> bool:
    """Whether a connection to `sock`'s address is accepted by `sock` itself."""
    with socket.create_connection(sock.getsockname()[:2], timeout=10):
        sock.settimeout(0)
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return False  # the kernel gave it to another socket of the group
        conn.close()
        return True


def test_port_zero_gives_one_free_port_for_every_worker(opened: list[socket.socket]) -> None:
    opened += listen("127.0.0.1", 0, count=3)
    ports = {sock.getsockname()[1] for sock in opened}
    assert len(opened) == 3 and len(ports) == 1 and ports != {0}
    for sock in opened:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
    # The kernel spreads connections over the group: each socket gets some, in time.
    served: set[int] = set()
    for _ in range(200):
        served |= {index for index, sock in enumerate(opened) if _accepts(sock)}
        if served == {0, 1, 2}:
            break
    assert served == {0, 1, 2}


def test_one_worker_does_not_open_the_port_to_others(opened: list[socket.socket]) -> None:
    (sock,) = listen("127.0.0.1", 0)
    opened.append(sock)
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0
    assert _accepts(sock)


@pytest.mark.parametrize("count", [1, 2])
def test_a_port_another_process_serves_is_refused_and_named(count: int) -> None:
    """The other process listens with SO_REUSEPORT, as a running proxy's workers do: joining
    its group would "start" fine and silently take a share of its connections."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket, sys\n"
            "s = socket.socket()\n"
            "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\n"
            "s.bind(('127.0.0.1', 0)); s.listen()\n"
            "print(s.getsockname()[1], flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        port = int(holder.stdout.readline())
        with pytest.raises(PortInUse) as refused:
            listen("127.0.0.1", port, count=count)
        assert str(refused.value) == (
            f"port {port} on 127.0.0.1 is already in use by another process"
        )
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        assert holder.wait(timeout=30) == 0


def test_a_refused_port_leaves_no_socket_open(opened: list[socket.socket]) -> None:
    (held,) = listen("127.0.0.1", 0)
    opened.append(held)
    port = held.getsockname()[1]
    before = _open_sockets()
    for _ in range(20):
        with pytest.raises(PortInUse):
            listen("127.0.0.1", port, count=2)
    assert _open_sockets() == before


def _open_sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except FileNotFoundError:  # the listing's own descriptor, closed since
            pass
    return count
