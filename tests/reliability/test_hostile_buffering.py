"""Issue 15, buffering and slow peers: the proxy holds only what it merges, streams what it
does not, and no slow or hostile peer (client or cloud) holds its memory or a cloud's slots
for long. Clouds here are raw sockets, so a test knows exactly what the proxy took."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.federation import Federation, FederationFactory
from tests.reliability.hostile_peers import (
    BOUND,
    Handler,
    RawCloud,
    RawCloudFactory,
    head,
    raw_exchange,
    status_of,
    write_counted,
)
from tests.reliability.hostile_peers import raw_cloud as raw_cloud  # noqa: F401 - fixture

MiB = 1024 * 1024
PASSTHROUGH = {"identity_strategy": "passthrough"}
"""Raw clouds have no Keystone: the caller's token goes as it is."""


def _json_head(extra: str = "") -> bytes:
    return (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        f"Transfer-Encoding: chunked\r\n{extra}\r\n"
    ).encode()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def listing(size: int) -> Callable[[RawCloud], Handler]:
    """A cloud answering an image list of about `size` bytes, chunked."""

    def make(cloud: RawCloud) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await write_counted(cloud, writer, _json_head() + _chunk(b'{"images": ['))
            item = json.dumps({"id": "x" * 36, "name": "n" * 200}).encode()
            piece = b",".join([item] * (64 * 1024 // len(item))) + b","
            while cloud.sent < size:
                await write_counted(cloud, writer, _chunk(piece))
            await write_counted(cloud, writer, _chunk(item + b"]}") + b"0\r\n\r\n")

        return handler

    return make


async def _get(federation: Federation, scope: str) -> tuple[int, str, aiohttp.ClientResponse]:
    headers = {"X-Auth-Token": "t", "X-Scope": scope}
    timeout = aiohttp.ClientTimeout(total=BOUND)
    async with federation.session.get(
        f"{federation.url}/image/v2/images", headers=headers, timeout=timeout
    ) as resp:
        return resp.status, await resp.text(), resp


async def test_a_merged_answer_past_max_rewrite_bytes_is_refused_naming_the_cloud(
    make_federation: FederationFactory, raw_cloud: RawCloudFactory
) -> None:
    """A 1 GiB answer in `{image: evil & cloud-1}` took the proxy to 2.7 GB."""
    federation = await make_federation(max_rewrite_bytes=1 * MiB, **PASSTHROUGH)
    huge = await raw_cloud(listing(64 * MiB))
    huge.register(federation, "huge")
    (await raw_cloud(listing(1000))).register(federation, "small")
    status, text, resp = await _get(federation, "{image: huge & small}")
    failed = resp.headers.get("X-Openstack-Partial-Failure", "")
    assert status in (200, 502) and ("huge" in text or "huge" in failed), (status, text[:300])
    # The proxy stopped reading: the cloud got out the limit plus socket buffers, no more.
    assert huge.sent < 24 * MiB, huge.sent


def download(size: int, client_has_head: asyncio.Event) -> Callable[[RawCloud], Handler]:
    """A cloud sending an image: its head and 1 MiB, then the rest once the client has the
    head (or after BOUND: a proxy that buffers never lets the client have it)."""

    def make(cloud: RawCloud) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            start = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {size}\r\n\r\n"
            )
            await write_counted(cloud, writer, start.encode() + b"d" * MiB)
            try:
                await asyncio.wait_for(client_has_head.wait(), BOUND / 3)
            except TimeoutError:
                cloud.requests.append(b"gave up waiting")
            while cloud.sent < size + len(start):
                await write_counted(cloud, writer, b"d" * min(MiB, size + len(start) - cloud.sent))

        return handler

    return make


async def test_a_download_under_failover_streams(
    make_federation: FederationFactory, raw_cloud: RawCloudFactory
) -> None:
    """Three 200 MB downloads under `cloud-2 | cloud-3` took the proxy +1 GB."""
    federation = await make_federation(**PASSTHROUGH)
    has_head = asyncio.Event()
    size = 32 * MiB
    cloud = await raw_cloud(download(size, has_head))
    cloud.register(federation, "store")
    (await raw_cloud(listing(1000))).register(federation, "spare")
    headers = {"X-Auth-Token": "t", "X-Scope": "{image: store | spare}"}
    timeout = aiohttp.ClientTimeout(total=BOUND)
    url = f"{federation.url}/image/v2/images/x/file"
    async with federation.session.get(url, headers=headers, timeout=timeout) as resp:
        has_head.set()
        assert resp.status == 200
        received = sum([len(chunk) async for chunk in resp.content.iter_any()])
    assert b"gave up waiting" not in cloud.requests, "the head came only after the whole body"
    assert received == size


async def _metric(federation: Federation, name: str) -> float:
    async with federation.session.get(f"{federation.url}/metrics") as resp:
        text = await resp.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


async def _until(check: Callable[[], object], what: str) -> None:
    """Poll an observable event, bounded: never a fixed sleep before an assertion."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOUND / 3
    while not await check():  # type: ignore[misc]
        assert loop.time() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.1)


async def test_a_client_that_never_reads_a_merged_answer_is_dropped(
    make_federation: FederationFactory, raw_cloud: RawCloudFactory
) -> None:
    """Clients that never read buffered answers held +600 MB for 45 s: the stall timeout
    covers merged and failed-over answers as it covers streamed ones."""
    federation = await make_federation(
        max_rewrite_bytes=8 * MiB, client_stall_timeout=1.0, **PASSTHROUGH
    )
    for name in ("left", "right"):
        (await raw_cloud(listing(6 * MiB))).register(federation, name)
    url = urlsplit(federation.url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the proxy's writes block
    sock.connect((url.hostname, url.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        writer.write(
            head("GET", "/image/v2/images", "X-Auth-Token: t", "X-Scope: {image: left & right}")
        )
        stalls = "openstackoid_client_stalls_total"

        async def dropped() -> bool:
            return await _metric(federation, stalls) >= 1

        await _until(dropped, "the proxy drops the client that never reads")
        answer = await asyncio.wait_for(reader.read(), BOUND)  # cut short, not 12 MB
        assert len(answer) < 12 * MiB
    finally:
        writer.transport.abort()


SCOPE = "{keystone: cloud-1; glance: cloud-2}"


async def _stalled_uploads(
    federation: Federation, headers: dict[str, str], count: int, reaching: int | None = None
) -> list[asyncio.StreamWriter]:
    """`count` uploads to cloud-2 that send 64 KiB of a 8 MiB body, then nothing; returns
    once `reaching` of them (all by default) hold a connection to the cloud."""
    url = urlsplit(federation.url)
    before = federation.bed.open_connections()
    image_ids = []
    for _ in range(count):  # first: the uploads will hold the caller's share of slots
        async with federation.session.post(
            f"{federation.url}/image/v2/images", json={"name": "slow"}, headers=headers
        ) as resp:
            image_ids.append((await resp.json())["id"])
    writers = []
    for image_id in image_ids:
        request = head(
            "PUT",
            f"/image/v2/images/{image_id}/file",
            f"X-Auth-Token: {headers['X-Auth-Token']}",
            f"X-Scope: {headers['X-Scope']}",
            "Content-Type: application/octet-stream",
            f"Content-Length: {8 * MiB}",
        )
        _, writer = await asyncio.open_connection(url.hostname, url.port)
        writer.write(request + b"u" * 65536)
        await writer.drain()
        writers.append(writer)

    async def all_reached_the_cloud() -> bool:
        return federation.bed.open_connections() >= before + (reaching or count)

    await _until(all_reached_the_cloud, "the uploads hold the cloud's slots")
    return writers


async def test_waiting_for_a_clouds_slot_is_bounded_and_answered_503(
    make_federation: FederationFactory,
) -> None:
    """66 uploads sending 1 byte every 5 s locked cloud-2's 64 slots: a GET timed out."""
    federation = await make_federation(limit_per_host=2, slot_wait_timeout=0.5)
    headers = await federation.scoped(SCOPE)
    stalled = await _stalled_uploads(federation, headers, 1)  # the caller's share: 1 of 2
    try:
        timeout = aiohttp.ClientTimeout(total=BOUND)
        async with federation.session.get(
            f"{federation.url}/image/v2/images", headers=headers, timeout=timeout
        ) as resp:
            assert resp.status == 503
            message = (await resp.json())["error"]["message"]
            assert "cloud-2" in message and "busy" in message, message
    finally:
        for writer in stalled:
            writer.transport.abort()


async def test_one_callers_slow_uploads_cannot_starve_a_cloud_for_another(
    make_federation: FederationFactory,
) -> None:
    """A caller holds at most its share of a cloud's slots (half of limit_per_host)."""
    federation = await make_federation(limit_per_host=4, client_stall_timeout=60.0)
    slow = await federation.scoped(SCOPE)
    other = await federation.scoped(SCOPE)  # another token
    stalled = await _stalled_uploads(federation, slow, 4, reaching=2)
    try:
        timeout = aiohttp.ClientTimeout(total=BOUND)
        async with federation.session.get(
            f"{federation.url}/image/v2/images", headers=other, timeout=timeout
        ) as resp:
            assert resp.status == 200
    finally:
        for writer in stalled:
            writer.transport.abort()


async def test_a_request_head_that_never_ends_is_dropped(
    make_federation: FederationFactory,
) -> None:
    """500 slowloris connections stayed 60 s."""
    federation = await make_federation(request_head_timeout=1.0)
    url = urlsplit(federation.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(b"GET /image/v2/images HTTP/1.1\r\nHost: proxy\r\nX-Scope: {glance: ")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), BOUND / 3)  # closed by the proxy
        assert not answer or status_of(answer) == 408
    finally:
        writer.transport.abort()


def headers_answer(fields: bytes) -> Callable[[RawCloud], Handler]:
    def make(cloud: RawCloud) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            start = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            await write_counted(cloud, writer, start + fields + b"\r\n{}")

        return handler

    return make


@pytest.mark.parametrize(
    "fields",
    [
        b"".join(b"X-Junk-%d: v\r\n" % n for n in range(20_000)),
        b"X-Junk: " + b"v" * MiB + b"\r\n",
    ],
    ids=["20000-headers", "1MiB-header"],
)
async def test_a_clouds_oversized_response_head_is_a_502_naming_it(
    make_federation: FederationFactory, raw_cloud: RawCloudFactory, fields: bytes
) -> None:
    federation = await make_federation(**PASSTHROUGH)
    (await raw_cloud(headers_answer(fields))).register(federation, "heady")
    status, text, resp = await _get(federation, "{image: heady}")
    assert status == 502 and "heady" in text, (status, text[:200])
    assert len(resp.headers) < 100
    answer = await raw_exchange(federation, head("GET", "/healthz"))
    assert status_of(answer) == 200
