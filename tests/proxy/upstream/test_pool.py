"""The proxy's upstream pool against real servers: aiohttp ones, and raw sockets for the
answers a well-behaved server never gives."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from multidict import CIMultiDict

from openstackoid.proxy.upstream.connection import HIGH_WATER, RAW_BODY_FROM
from openstackoid.proxy.upstream.errors import BrokenUpstream
from openstackoid.proxy.upstream.pool import UpstreamPool, split_url

Serve = Callable[[web.Application], Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def pool() -> AsyncIterator[UpstreamPool]:
    upstream = UpstreamPool(limit_per_host=4, keepalive_timeout=5, connect_timeout=2, timeout=5)
    yield upstream
    upstream.close()


async def raw_server(answer: bytes, close: bool = True) -> tuple[asyncio.Server, str]:
    """Reads one request head, writes `answer` as is."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        if close:
            writer.close()
        else:
            await asyncio.sleep(30)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def test_split_url_keeps_query_and_defaults_ports() -> None:
    origin, target = split_url("https://cloud.example:8443/image/v2/images?limit=2")
    assert (origin.host, origin.port, target) == ("cloud.example", 8443, "/image/v2/images?limit=2")
    origin, target = split_url("http://cloud.example")
    assert (origin.port, target) == (80, "/")
    origin, _ = split_url("http://[::1]:5000/x")
    assert (origin.host, origin.port) == ("::1", 5000)
    with pytest.raises(ValueError):
        split_url("ftp://cloud.example/")


async def test_keep_alive_reuses_one_connection(serve: Serve, pool: UpstreamPool) -> None:
    peers: set[object] = set()

    async def handler(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.add(request.transport.get_extra_info("peername"))
        return web.json_response({"path": request.path_qs})

    base = await serve(_app(handler))
    for i in range(5):
        async with await pool.request("GET", f"{base}/x?i={i}", CIMultiDict()) as response:
            assert response.status == 200
            assert await response.read(5) == b'{"path": "/x?i=%d"}' % i
    assert len(peers) == 1
    assert pool.idle_connections == 1


async def test_a_response_not_read_whole_closes_its_connection(
    serve: Serve, pool: UpstreamPool
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * (4 * HIGH_WATER))

    base = await serve(_app(handler))
    response = await pool.request("GET", f"{base}/big", CIMultiDict())
    response.release()
    assert pool.idle_connections == 0


async def test_large_bodies_skip_the_parser_and_the_connection_reads_on(
    serve: Serve, pool: UpstreamPool
) -> None:
    """Bodies over RAW_BODY_FROM go on as read from the socket; the next answers on the same
    connection, large or small, still parse."""
    bodies = {
        "/big": bytes(range(256)) * (3 * RAW_BODY_FROM // 256 + 7),
        "/edge": b"e" * RAW_BODY_FROM,
        "/small": b"s" * 100,
    }

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=bodies[request.path])

    base = await serve(_app(handler))
    for path in ("/big", "/small", "/big", "/edge", "/edge", "/small"):
        async with await pool.request("GET", f"{base}{path}", CIMultiDict()) as response:
            received = bytearray()
            async for chunk in response.iter_chunks(5):
                received += chunk
            assert hashlib.sha256(received).digest() == hashlib.sha256(bodies[path]).digest()
    assert pool.idle_connections == 1


async def test_bytes_after_a_large_body_end_the_connection(pool: UpstreamPool) -> None:
    body = b"b" * (2 * RAW_BODY_FROM)
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(head + body[:1000])
        await writer.drain()
        await asyncio.sleep(0.05)  # the rest arrives in later reads, past the parser
        writer.write(body[1000:] + b"HTTP/1.1 200 OK\r\n")
        await writer.drain()
        await asyncio.sleep(1)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        response = await pool.request("GET", f"http://127.0.0.1:{port}/", CIMultiDict())
        assert await response.read(5) == body
        response.release()
    assert pool.idle_connections == 0


async def test_a_large_body_cut_short_is_an_error(pool: UpstreamPool) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (4 * RAW_BODY_FROM)
    server, base = await raw_server(head + b"x" * (3 * RAW_BODY_FROM))
    async with server:
        response = await pool.request("GET", f"{base}/", CIMultiDict())
        with pytest.raises(BrokenUpstream, match="mid-response"):
            await response.read(5)
        response.release()


async def test_head_and_204_have_no_body_and_the_connection_stays_usable(
    serve: Serve, pool: UpstreamPool
) -> None:
    async def head(request: web.Request) -> web.Response:
        return web.Response(headers={"Content-Length": "1234"})

    async def empty(request: web.Request) -> web.Response:
        return web.Response(status=204)

    app = _app(head)
    app.router.add_delete("/gone", empty)
    base = await serve(app)
    for method, path, status in (("HEAD", "/x", 200), ("DELETE", "/gone", 204)) * 2:
        async with await pool.request(method, f"{base}{path}", CIMultiDict()) as response:
            assert response.status == status
            assert await response.read(5) == b""
    assert pool.idle_connections == 1


async def test_chunked_upload_and_chunked_download_stream(serve: Serve, pool: UpstreamPool) -> None:
    """4 MiB up without a length, 4 MiB down chunked: both sides stream, nothing lost."""
    uploaded = hashlib.sha256()

    async def store_then_stream(request: web.Request) -> web.StreamResponse:
        assert request.headers.get("Transfer-Encoding") == "chunked"
        async for chunk in request.content.iter_chunked(65536):
            uploaded.update(chunk)
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for i in range(64):
            await response.write(bytes([i]) * 65536)
        await response.write_eof()
        return response

    sent = hashlib.sha256()

    async def body() -> AsyncIterator[bytes]:
        for i in range(64):
            chunk = bytes([255 - i]) * 65536
            sent.update(chunk)
            yield chunk

    base = await serve(_app(store_then_stream))
    response = await pool.request("PUT", f"{base}/file", CIMultiDict(), body())
    received = bytearray()
    async for chunk in response.iter_chunks(5):
        received += chunk
    response.release()
    assert uploaded.hexdigest() == sent.hexdigest()
    assert len(received) == 64 * 65536
    assert received[-1] == 63 and received[65536 * 10] == 10
    assert pool.idle_connections == 1


async def test_body_until_close_when_no_length(pool: UpstreamPool) -> None:
    server, base = await raw_server(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello world")
    async with server:
        async with await pool.request("GET", f"{base}/", CIMultiDict()) as response:
            assert await response.read(5) == b"hello world"
    assert pool.idle_connections == 0


async def test_interim_100_continue_is_skipped(pool: UpstreamPool) -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
    server, base = await raw_server(answer)
    async with server:
        async with await pool.request("POST", f"{base}/", CIMultiDict(), b"{}") as response:
            assert response.status == 201
            assert await response.read(5) == b"ok"


async def test_garbage_is_a_broken_upstream(pool: UpstreamPool) -> None:
    server, base = await raw_server(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
    async with server:
        with pytest.raises(BrokenUpstream, match="invalid HTTP"):
            await pool.request("GET", f"{base}/", CIMultiDict())


async def test_truncated_body_is_an_error_not_a_short_answer(pool: UpstreamPool) -> None:
    server, base = await raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
    async with server:
        response = await pool.request("GET", f"{base}/", CIMultiDict())
        with pytest.raises(BrokenUpstream, match="mid-response"):
            await response.read(5)
        response.release()


async def test_a_silent_cloud_times_out() -> None:
    upstream = UpstreamPool(limit_per_host=2, keepalive_timeout=5, connect_timeout=2, timeout=0.2)
    server, base = await raw_server(b"", close=False)
    async with server:
        with pytest.raises(TimeoutError):
            await upstream.request("GET", f"{base}/", CIMultiDict())
    upstream.close()


async def test_refused_connection_is_an_os_error(pool: UpstreamPool) -> None:
    server, base = await raw_server(b"")
    server.close()
    await server.wait_closed()
    with pytest.raises(OSError):
        await pool.request("GET", f"{base}/", CIMultiDict())


async def test_idle_connection_closed_by_the_cloud_is_retried(pool: UpstreamPool) -> None:
    """The cloud closes each connection after answering while still saying keep-alive:
    the pooled connection is dead when reused, and the request goes through a new one."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    server, base = await raw_server(answer, close=True)
    async with server:
        for _ in range(3):
            async with await pool.request("GET", f"{base}/", CIMultiDict()) as response:
                assert await response.read(5) == b"ok"
                await asyncio.sleep(0.05)  # let the close arrive while the connection idles


@pytest.mark.parametrize(
    ("name", "value"),
    [("X-Evil", "a\r\nX-Injected: 1"), ("X-Evil", "a\nb"), ("X-Evil", "a\rb"), ("X-E\nvil", "a")],
)
async def test_line_breaks_in_headers_are_refused(
    pool: UpstreamPool, name: str, value: str
) -> None:
    headers = CIMultiDict({"X-Fine": "1", name: value})
    with pytest.raises(ValueError, match="line break"):
        await pool.request("GET", "http://127.0.0.1:9/", headers)


async def test_a_connection_whose_whole_large_answer_was_buffered_serves_again(
    serve: Serve,
) -> None:
    """An answer over HIGH_WATER, fully arrived before it is read, paused reading: taken in
    one piece, the connection must read again, or its next answer would never arrive."""
    upstream = UpstreamPool(limit_per_host=1, keepalive_timeout=5, connect_timeout=2, timeout=2)
    big = b"x" * (HIGH_WATER + 1000)  # the last read both crosses HIGH_WATER and ends it

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=big if request.path == "/big" else b"small")

    base = await serve(_app(answer))
    try:
        for whole_read in (True, False):  # read_up_to, then read
            response = await upstream.request("GET", f"{base}/big", CIMultiDict())
            await asyncio.sleep(0.2)  # the whole answer arrives, reading pauses above HIGH_WATER
            if whole_read:
                body, whole = await response.read_up_to(HIGH_WATER * 4, 2)
                assert whole
            else:
                body = await response.read(2)
            response.release()
            assert body == big
            response = await upstream.request("GET", f"{base}/small", CIMultiDict())
            assert await response.read(2) == b"small"
            response.release()
        assert upstream.idle_connections == 1
    finally:
        upstream.close()


async def test_per_host_limit_queues_requests(serve: Serve) -> None:
    upstream = UpstreamPool(limit_per_host=2, keepalive_timeout=5, connect_timeout=2, timeout=5)
    in_flight = 0
    peak = 0

    async def slow(request: web.Request) -> web.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return web.Response(text="ok")

    base = await serve(_app(slow))

    async def one() -> bytes:
        async with await upstream.request("GET", f"{base}/", CIMultiDict()) as response:
            return await response.read(5)

    assert await asyncio.gather(*(one() for _ in range(8))) == [b"ok"] * 8
    assert peak == 2
    upstream.close()


def _app(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


def test_the_pool_runs_on_uvloop() -> None:
    """`openstackoid proxy` serves on uvloop by default, whose transports are its own classes."""
    import uvloop

    async def scenario() -> tuple[int, bytes, bytes]:
        async def echo(request: web.Request) -> web.Response:
            return web.Response(body=await request.read())

        runner = web.AppRunner(_app(echo))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        upstream = UpstreamPool(limit_per_host=2, keepalive_timeout=5, connect_timeout=2, timeout=5)

        async def chunks() -> AsyncIterator[bytes]:
            yield b"streamed "
            yield b"body"

        try:
            async with await upstream.request(
                "POST", f"{base}/", CIMultiDict(), b"x" * 10
            ) as first:
                status, body = first.status, await first.read(5)
            async with await upstream.request("PUT", f"{base}/", CIMultiDict(), chunks()) as second:
                streamed = await second.read(5)
        finally:
            upstream.close()
            await runner.cleanup()
        return status, body, streamed

    assert uvloop.run(scenario()) == (200, b"x" * 10, b"streamed body")
