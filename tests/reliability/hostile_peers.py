"""Raw-socket peers for the hostile tests: clouds that answer byte for byte what a test
scripts (no HTTP library to tidy them up), and raw clients that send what none would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest_asyncio

from openstackoid.registry import Cloud
from tests.federation import Federation

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
BOUND = 30.0
"""Seconds any wait of these tests may last: a hang guard, never a timing."""


@dataclass
class RawCloud:
    """A cloud on a raw socket; counts the bytes its handler managed to send."""

    url: str
    sent: int = 0
    requests: list[bytes] = field(default_factory=list)

    def register(self, federation: Federation, name: str) -> Cloud:
        cloud = Cloud(
            name,
            f"{self.url}/identity/v3",
            endpoints={"image": f"{self.url}/image", "compute": f"{self.url}/compute/v2.1"},
        )
        federation.registry.upsert(cloud)
        return cloud


RawCloudFactory = Callable[[Callable[[RawCloud], Handler]], Awaitable[RawCloud]]


@pytest_asyncio.fixture
async def raw_cloud() -> AsyncIterator[RawCloudFactory]:
    servers: list[asyncio.Server] = []
    writers: list[asyncio.StreamWriter] = []

    async def factory(make: Callable[[RawCloud], Handler]) -> RawCloud:
        cloud = RawCloud("")
        handler = make(cloud)

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            try:
                cloud.requests.append(await reader.readuntil(b"\r\n\r\n"))
                await handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass  # the proxy hung up: what a bounded proxy does to a hostile cloud
            finally:
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        cloud.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        return cloud

    yield factory
    for writer in writers:
        if not writer.transport.is_closing():  # a closed one has no loop left to abort on
            writer.transport.abort()
    for server in servers:
        server.close()
        await server.wait_closed()


async def write_counted(cloud: RawCloud, writer: asyncio.StreamWriter, data: bytes) -> None:
    """Write and wait until the proxy took it (the socket buffers drained)."""
    writer.write(data)
    await writer.drain()
    cloud.sent += len(data)


async def raw_exchange(federation: Federation, request: bytes) -> bytes:
    """Send bytes to the proxy as they are; everything it answers until it closes."""
    url = urlsplit(federation.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), BOUND)
    finally:
        writer.transport.abort()


def head(method: str, path: str, *fields: str, version: str = "HTTP/1.1") -> bytes:
    lines = [f"{method} {path} {version}", "Host: proxy", "Connection: close", *fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])
