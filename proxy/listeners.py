"""The proxy's listening sockets: a port is claimed once, exclusively, then shared by workers.

SO_REUSEPORT lets any process of the same user join a port's group and silently take a share
of its connections: a second proxy started on a port already served would "start" fine. So
the first socket binds without it (a port anyone holds fails here, naming the port), and only
then gets the option, which lets this proxy's other workers' sockets join its group.
"""

from __future__ import annotations

import errno
import socket


class PortInUse(OSError):
    """Another process already listens on the address."""


def _socket_for(host: str, port: int) -> tuple[socket.socket, tuple[object, ...]]:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    # SO_REUSEADDR: a restart need not wait for TIME_WAIT; Linux still refuses a port that a
    # socket listens on.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock, tuple(address)


def _bind(sock: socket.socket, address: tuple[object, ...], host: str, port: int) -> None:
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(f"port {port} on {host} is already in use by another process") from None
        raise


def listen(host: str, port: int, count: int = 1, backlog: int = 1024) -> list[socket.socket]:
    """`count` listening sockets on host:port (port 0: one free port for all of them)."""
    first, address = _socket_for(host, port)
    _bind(first, address, host, port)
    sockets = [first]
    try:
        if count > 1:
            first.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        first.listen(backlog)
        bound = first.getsockname()
        for _ in range(count - 1):
            sock, _ignored = _socket_for(host, port)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            _bind(sock, bound, host, port)
            sockets.append(sock)
            sock.listen(backlog)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets
