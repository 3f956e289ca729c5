"""A client that goes away mid-transfer is the client's failure, never the cloud's: the
cloud's circuit stays closed and its error count untouched, the connection to the cloud is
closed (not leaked, not reused half-read), and the proxy serves on."""

from __future__ import annotations

import asyncio
import hashlib
from urllib.parse import urlsplit

import aiohttp
import pytest

from openstackoid.testbed import Faults
from tests.federation import Federation, FederationFactory

SCOPE = "{keystone: cloud-1; glance: cloud-2}"
SIZE = 8 * 1024 * 1024
ABORTS = 8
"""More than circuit_failures (5) in a row."""


def _head(method: str, path: str, headers: dict[str, str], *fields: str) -> bytes:
    """A request head as a raw client writes it: the token and scope of `headers`."""
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: proxy",
        f"X-Auth-Token: {headers['X-Auth-Token']}",
        f"X-Scope: {headers['X-Scope']}",
        *fields,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _upload_head(image_id: str, headers: dict[str, str]) -> bytes:
    return _head(
        "PUT",
        f"/image/v2/images/{image_id}/file",
        headers,
        "Content-Type: application/octet-stream",
        f"Content-Length: {SIZE}",
    )


async def _send(
    federation: Federation, request: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw client connection to the proxy, `request` (a head, maybe part of a body) sent."""
    url = urlsplit(federation.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(request)
    await writer.drain()
    return reader, writer


async def _send_then_abort(federation: Federation, request: bytes, read: int) -> None:
    """A raw client: writes the request (and part of a body), reads `read` bytes, vanishes."""
    reader, writer = await _send(federation, request)
    if read:
        await reader.readexactly(read)
    else:
        await asyncio.sleep(0.05)  # the proxy starts relaying the body
    writer.transport.abort()
    await asyncio.sleep(0.05)


async def _listing_served_beside(
    federation: Federation, headers: dict[str, str], stalled: list[asyncio.StreamWriter]
) -> None:
    """Another client's listing is answered while `stalled` hold on; then they vanish."""
    try:
        async with federation.session.get(
            f"{federation.url}/image/v2/images",
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=30),
        ) as resp:
            assert resp.status == 200
    finally:
        for writer in stalled:
            writer.transport.abort()


async def _image(federation: Federation, headers: dict[str, str]) -> str:
    images = f"{federation.url}/image/v2/images"
    body = {"name": "big", "disk_format": "raw", "container_format": "bare"}
    async with federation.session.post(images, json=body, headers=headers) as resp:
        assert resp.status == 201
        return str((await resp.json())["id"])


async def _answered(federation: Federation) -> float:
    """Image requests the proxy has finished with, whatever their answer (its /metrics)."""
    async with federation.session.get(f"{federation.url}/metrics") as resp:
        text = await resp.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('openstackoid_requests_total{service="image"')
    )


async def _wait_until_answered(
    federation: Federation, before: float, seconds: float = 10.0
) -> None:
    """Until the proxy has finished one more image request than `before` (bounded)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while await _answered(federation) <= before:
        assert asyncio.get_running_loop().time() < deadline, "the proxy never finished it"
        await asyncio.sleep(0.02)


async def _cloud_health(federation: Federation) -> tuple[list[str], float]:
    """(open circuits, upstream calls to cloud-2 counted as errors)."""
    async with federation.session.get(f"{federation.url}/healthz") as resp:
        circuits = list((await resp.json())["open_circuits"])
    async with federation.session.get(f"{federation.url}/metrics") as resp:
        text = await resp.text()
    errors = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("openstackoid_upstream_requests_total{")
        and 'cloud="cloud-2"' in line
        and 'status_class="error"' in line
    )
    return circuits, errors


async def test_uploads_abandoned_by_their_client_are_not_the_clouds_failure(
    federation: Federation,
) -> None:
    headers = await federation.scoped(SCOPE)
    image_ids = [await _image(federation, headers) for _ in range(ABORTS)]
    before = federation.bed.open_connections()
    for image_id in image_ids:
        request = _upload_head(image_id, headers) + b"\x5a" * 65536
        await _send_then_abort(federation, request, read=0)
    assert await _cloud_health(federation) == ([], 0)
    # Each abandoned upload's connection to the cloud was closed, not left half-sent.
    assert federation.bed.open_connections() <= before
    async with federation.session.get(f"{federation.url}/image/v2/images", headers=headers) as resp:
        assert resp.status == 200, await resp.text()


async def test_downloads_abandoned_by_their_client_are_not_the_clouds_failure(
    federation: Federation, caplog: pytest.LogCaptureFixture
) -> None:
    headers = await federation.scoped(SCOPE)
    image_id = await _image(federation, headers)
    data = bytes(range(256)) * (SIZE // 256)
    file_url = f"{federation.url}/image/v2/images/{image_id}/file"
    upload = {**headers, "Content-Type": "application/octet-stream"}
    async with federation.session.put(file_url, data=data, headers=upload) as resp:
        assert resp.status == 204
    for _ in range(ABORTS):
        request = _head("GET", f"/image/v2/images/{image_id}/file", headers)
        await _send_then_abort(federation, request, read=100_000)
    assert await _cloud_health(federation) == ([], 0)
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    for _ in range(3):  # whole and intact: no connection with a half-read body was reused
        async with federation.session.get(file_url, headers=headers) as resp:
            assert resp.status == 200
            got = await resp.read()
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


async def test_a_body_abandoned_while_held_for_failover_is_logged_as_the_clients(
    federation: Federation, caplog: pytest.LogCaptureFixture
) -> None:
    """With `|`, the body is read whole before any cloud sees it: a client that leaves
    halfway reaches no cloud and leaves no error trace."""
    scope = "{keystone: cloud-1; glance: cloud-2 | cloud-3}"
    headers = await federation.scoped(scope)
    head = _head(
        "POST",
        "/image/v2/images",
        headers,
        "Content-Type: application/json",
        "Content-Length: 100000",
    )
    federation.bed.clear_requests()
    before = await _answered(federation)
    await _send_then_abort(federation, head + b'{"name": "' + b"x" * 5000, read=0)
    await _wait_until_answered(federation, before)  # the proxy is done with it
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    assert federation.bed.requests("cloud-2") == federation.bed.requests("cloud-3") == []


@pytest.mark.parametrize("path", ["/image/v2/images", "/image/v2/images/{id}/file"])
async def test_a_client_gone_before_a_slow_cloud_answers_leaves_no_trace(
    federation: Federation, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    """The answer comes back for nobody: dropped quietly, the cloud counted as fine."""
    headers = await federation.scoped(SCOPE)
    image_id = await _image(federation, headers)
    file_url = f"{federation.url}/image/v2/images/{image_id}/file"
    upload = {**headers, "Content-Type": "application/octet-stream"}
    async with federation.session.put(file_url, data=b"z" * 300_000, headers=upload) as resp:
        assert resp.status == 204
    await federation.bed.set_faults("cloud-2", Faults(latency=0.3))
    before = await _answered(federation)
    await _send_then_abort(federation, _head("GET", path.format(id=image_id), headers), read=0)
    await _wait_until_answered(federation, before)  # the cloud answered, the client was gone
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    assert await _cloud_health(federation) == ([], 0)


async def test_clients_that_stop_reading_cannot_hold_a_cloud_forever(
    make_federation: FederationFactory,
) -> None:
    """Two downloads whose clients never read hold both of the cloud's slots
    (limit_per_host=2): once client_stall_timeout passes they are dropped, and the cloud
    serves others again instead of queueing them behind the stalled pair for good."""
    federation = await make_federation(limit_per_host=2, client_stall_timeout=1.0)
    headers = await federation.scoped(SCOPE)
    image_id = await _image(federation, headers)
    file_url = f"{federation.url}/image/v2/images/{image_id}/file"
    upload = {**headers, "Content-Type": "application/octet-stream"}
    big = b"s" * (96 * 1024 * 1024)  # far more than the socket buffers on both sides hold
    async with federation.session.put(file_url, data=big, headers=upload) as resp:
        assert resp.status == 204
    request = _head("GET", f"/image/v2/images/{image_id}/file", headers)
    stalled = [(await _send(federation, request))[1] for _ in range(2)]  # never read from
    await asyncio.sleep(0.5)
    await _listing_served_beside(federation, headers, stalled)
    assert await _cloud_health(federation) == ([], 0)


async def test_clients_that_stop_sending_cannot_hold_a_cloud_forever(
    make_federation: FederationFactory,
) -> None:
    """Two uploads whose clients stop sending halfway hold both slots: after
    client_stall_timeout they are the clients' failure, the cloud serves others again,
    and no half-sent connection to it is left."""
    federation = await make_federation(limit_per_host=2, client_stall_timeout=1.0)
    headers = await federation.scoped(SCOPE)
    image_ids = [await _image(federation, headers) for _ in range(2)]
    before = federation.bed.open_connections()
    stalled = [  # then silent, the connection kept open
        (await _send(federation, _upload_head(image_id, headers) + b"u" * 65536))[1]
        for image_id in image_ids
    ]
    await asyncio.sleep(0.3)
    await _listing_served_beside(federation, headers, stalled)
    assert await _cloud_health(federation) == ([], 0)
    assert federation.bed.open_connections() <= before + 1  # at most the GET's, kept alive
