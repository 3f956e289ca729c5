"""A download the cloud cuts short is a broken transfer for the client, never a complete 200
with a short body: with a Content-Length the client gets fewer bytes than promised and an
error, chunked it never gets the final chunk. The cloud is a raw socket server, so the cut
is exact: a clean close (FIN) or a reset (RST), after part of the body."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from openstackoid.registry import Cloud
from tests.federation import Federation, FederationFactory

PROMISED = 200_000
SENT = 80_000
SCOPE = "{keystone: raw; glance: raw}"  # one cloud: the caller's token goes as it is


@pytest_asyncio.fixture
async def federation(make_federation: FederationFactory) -> Federation:
    """The raw cloud has no Keystone to validate a token at: passthrough, no validation."""
    return await make_federation(identity_strategy="passthrough")


async def _cut_short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, mode: str) -> None:
    await reader.readuntil(b"\r\n\r\n")
    framing, end = mode.split("-")
    head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
    if framing == "length":
        writer.write(f"{head}Content-Length: {PROMISED}\r\n\r\n".encode() + b"x" * SENT)
    else:
        chunk = b"x" * 10_000
        frames = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(SENT // 10_000))
        writer.write(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode() + frames)
    await writer.drain()
    await asyncio.sleep(0.05)  # the proxy has relayed the head and part of the body
    if end == "rst":
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
    else:
        writer.close()


@pytest_asyncio.fixture(params=["length-fin", "length-rst", "chunked-fin", "chunked-rst"])
async def raw_cloud(federation: Federation, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    mode = str(request.param)
    server = await asyncio.start_server(
        lambda r, w: _cut_short(r, w, mode), "127.0.0.1", 0, reuse_address=True
    )
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    federation.registry.upsert(
        Cloud("raw", f"{url}/identity/v3", endpoints={"image": f"{url}/image"})
    )
    yield mode
    server.close()


async def test_a_cut_download_is_an_error_for_the_client(
    federation: Federation, raw_cloud: str
) -> None:
    headers = {"X-Auth-Token": "t", "X-Scope": SCOPE}
    url = f"{federation.url}/image/v2/images/x/file"
    received = 0
    with pytest.raises(aiohttp.ClientPayloadError):
        # sock_read: a hang guard (a proxy that waits for the rest fails here), not a timing.
        wait = aiohttp.ClientTimeout(sock_read=30)
        async with federation.session.get(url, headers=headers, timeout=wait) as resp:
            assert resp.status == 200  # the head was relayed before the cloud broke off
            if raw_cloud.startswith("length"):
                assert resp.content_length == PROMISED
            else:
                assert resp.headers.get("Transfer-Encoding") == "chunked"
            async for chunk in resp.content.iter_any():
                received += len(chunk)
    assert received <= SENT
    # The proxy goes on serving.
    async with federation.session.get(f"{federation.url}/healthz") as resp:
        assert resp.status == 200
