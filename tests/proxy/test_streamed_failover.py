"""A `|` body too big to hold: members passed over only while none of it was sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from openstackoid.proxy.errors import CircuitOpen, UpstreamUnavailable
from openstackoid.proxy.request import ProxyRequest
from openstackoid.proxy.routing import AllNode, AnyNode, CloudNode, RouteDecision
from openstackoid.proxy.streamed_failover import StreamedBody, members, relay_first
from openstackoid.proxy.upstream.client import UpstreamRequest
from openstackoid.proxy.upstream.connection import UpstreamResponse
from openstackoid.proxy.upstream.pool import UpstreamPool
from openstackoid.registry import Cloud

A, B, C = (
    Cloud(n, f"http://{n}/identity/v3", endpoints={"image": f"http://{n}/image"}) for n in "abc"
)


async def _pieces() -> AsyncIterator[bytes]:
    for piece in (b"one", b"two"):
        yield piece


def _upload(body: StreamedBody) -> ProxyRequest:
    node = AnyNode((CloudNode(A), CloudNode(B)))
    headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
    decision = RouteDecision("image", node, None)
    return ProxyRequest(
        "PUT", "/v2/images/i/file", "", headers, decision, None, None, "t", "", body
    )


def test_only_a_failover_between_single_clouds_streams() -> None:
    assert members(AnyNode((CloudNode(A), AnyNode((CloudNode(B), CloudNode(C)))))) == (A, B, C)
    assert members(AnyNode((CloudNode(A), AllNode((CloudNode(B), CloudNode(C)))))) is None


async def test_a_member_that_took_part_of_the_body_is_not_retried_on_the_next() -> None:
    body = StreamedBody(b"zero", _pieces())
    asked: list[str] = []

    async def send(request: UpstreamRequest) -> UpstreamResponse:
        asked.append(request.cloud.name)
        assert isinstance(request.body, StreamedBody)
        assert await anext(request.body) == b"zero"  # the held part first, then the rest
        raise UpstreamUnavailable(f"cloud {request.cloud.name!r} failed: reset")

    with pytest.raises(UpstreamUnavailable, match="no other member can be tried"):
        await relay_first(None, send, None, _upload(body), (A, B))  # type: ignore[arg-type]
    assert asked == ["a"]


async def test_members_failing_before_the_body_are_passed_over() -> None:
    body = StreamedBody(b"", _pieces())

    async def send(request: UpstreamRequest) -> UpstreamResponse:
        raise CircuitOpen(f"cloud {request.cloud.name!r} is failing; its circuit is open")

    with pytest.raises(UpstreamUnavailable, match="'a' is failing.*'b' is failing"):
        await relay_first(None, send, None, _upload(body), (A, B))  # type: ignore[arg-type]
    assert not body.started
    assert [piece async for piece in body] == [b"one", b"two"]


async def _raw_server(answer: bytes, read_body: bool) -> tuple[asyncio.Server, int, list[int]]:
    """A cloud that answers `answer` after the head (or after the body), never 100."""
    received: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if read_body:
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            received.append(len(await reader.readexactly(length)))
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], received


async def _aiohttp_cloud() -> tuple[web.AppRunner, int, list[int]]:
    """A cloud on aiohttp: 100 Continue as soon as the head arrives, then the body."""
    received: list[int] = []

    async def put(request: web.Request) -> web.Response:
        received.append(len(await request.read()))
        return web.Response(status=201)

    app = web.Application()
    app.router.add_put("/file", put)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1], received  # type: ignore[union-attr]


async def test_expect_continue_leaves_the_body_for_the_next_cloud() -> None:
    """A cloud that answers 503 on the head alone never gets the body: the next one gets all
    of it once it says 100 Continue; one that ignores Expect gets it after the wait."""
    refusing, refusing_port, _ = await _raw_server(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", read_body=False
    )
    silent, silent_port, silent_got = await _raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", read_body=True
    )
    runner, port, got = await _aiohttp_cloud()
    pool = UpstreamPool(4, 10.0, 5.0, 30.0)
    size = len(b"zero" + b"one" + b"two")
    try:
        body = StreamedBody(b"zero", _pieces())
        for target, status in ((refusing_port, 503), (port, 201)):
            headers = CIMultiDict({"Content-Length": str(size)})
            url = f"http://127.0.0.1:{target}/file"
            async with await pool.request("PUT", url, headers, body, expect_continue=5.0) as r:
                assert r.status == status
                assert body.started == (status == 201)
        assert got == [size]
        quiet = StreamedBody(b"zero", _pieces())
        headers = CIMultiDict({"Content-Length": str(size)})
        url = f"http://127.0.0.1:{silent_port}/file"
        async with await pool.request("PUT", url, headers, quiet, expect_continue=0.1) as r:
            assert r.status == 200
        assert silent_got == [size]
    finally:
        pool.close()
        await runner.cleanup()
        for server in (refusing, silent):
            server.close()
            await server.wait_closed()
