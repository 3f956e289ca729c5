"""A response as the proxy reads it: whole, up to a limit, or piece by piece; a connection
that a cloud resets."""

import asyncio
import socket
import struct

import pytest
from multidict import CIMultiDict

from openstackoid.proxy.upstream.connection import UpstreamConnection, UpstreamResponse
from openstackoid.proxy.upstream.errors import StaleConnection


async def test_an_answer_read_whole() -> None:
    response = UpstreamResponse.complete(200, CIMultiDict({"Content-Length": "5"}), b"hello")
    assert (response.status, response.content_length, response.done) == (200, 5, True)
    assert await response.read(timeout=1.0) == b"hello"


async def test_read_up_to_says_whether_the_body_ended_within_the_limit() -> None:
    response = UpstreamResponse.complete(
        200, CIMultiDict({"Content-Type": "Application/JSON; charset=utf-8"}), b"x" * 10
    )
    assert response.content_type == "application/json"
    assert await response.read_up_to(10, timeout=1.0) == (b"x" * 10, True)
    response = UpstreamResponse.complete(200, CIMultiDict(), b"x" * 10)
    assert await response.read_up_to(9, timeout=1.0) == (b"x" * 10, False)


async def test_pieces_arrive_as_fed_and_release_is_once() -> None:
    released: list[bool] = []
    response = UpstreamResponse.complete(200, CIMultiDict(), b"")
    response = UpstreamResponse(
        response._connection, 200, CIMultiDict(), lambda c, r: released.append(r)
    )
    response.feed(b"a")
    response.feed(b"b")
    response.finish()
    assert [c async for c in response.iter_chunks(timeout=1.0)] == [b"a", b"b"]
    response.release()
    response.release()
    assert released == [True]  # read whole: the connection may serve again


async def test_a_connection_reset_before_its_request_fails_at_once() -> None:
    """A cloud going down resets connections its kernel had already accepted; one lost
    before the request is written must fail (the pool retries or answers 502), not wait the
    whole timeout for an answer that cannot come."""

    async def reset(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # linger 0: an RST, as from a dead listener's queue

    server = await asyncio.start_server(reset, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(UpstreamConnection, "127.0.0.1", port)
        async with asyncio.timeout(10):  # a bound, not a measure: the reset arrives at once
            while not connection.closed:
                await asyncio.sleep(0.01)
        with pytest.raises(StaleConnection):
            await asyncio.wait_for(
                connection.send(
                    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                    None,
                    chunked=False,
                    is_head=False,
                    timeout=3600,  # what the request would otherwise wait
                    body_timeout=3600,
                    on_release=lambda _connection, _reusable: None,
                ),
                timeout=30,
            )
    finally:
        server.close()
        await server.wait_closed()
