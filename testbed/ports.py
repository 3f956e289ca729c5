"""Listening ports for thousands of clouds.

Binding to port 0 lets the kernel pick, but its pick scans for a free port and slowed to
~0.4 ms a socket by 10,000 clouds (4.3 s of a 6.3 s start). Ports tried in turn from a random
point of the ephemeral range cost one bind each; a port in use is skipped.

An outage keeps the port: closing the socket and binding again later lost it whenever an
outgoing connection took the freed ephemeral port meanwhile (EADDRINUSE). On Linux a listening
socket shut down for reading stops listening (connections are refused) yet stays bound to the
port it was bound to explicitly, and listen() on it serves again (as HAProxy pauses listeners).
"""

from __future__ import annotations

import errno
import random
import socket
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_DEFAULT_RANGE = (32768, 60999)


class PortsExhausted(OSError):
    """Every port of the range is taken."""


def ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(part) for part in _RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return _DEFAULT_RANGE
    return low, high


BACKLOG = 128


def listen(host: str, port: int) -> socket.socket:
    """A non-blocking socket listening on host:port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def stop_listening(sock: socket.socket) -> None:
    """Refuse connections on `sock` while keeping its port: shut down for reading. (`sock`
    is a dup() kept when the server on it closed its own handle.)"""
    sock.shutdown(socket.SHUT_RD)


class PortPicker:
    """Hands out listening sockets on consecutive free ports of a range, wrapping around."""

    def __init__(self, host: str, span: tuple[int, int] | None = None, start: int | None = None):
        self.host = host
        self.low, self.high = span or ephemeral_range()
        self._next = start if start is not None else random.randint(self.low, self.high)

    def listen(self) -> socket.socket:
        for _ in range(self.high - self.low + 1):
            port = self._next
            self._next = port + 1 if port < self.high else self.low
            try:
                return listen(self.host, port)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
        raise PortsExhausted(f"no free port in {self.low}-{self.high} on {self.host}")
