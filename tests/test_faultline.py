"""The relay tests use to fault links: checked against a plain echo server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.faultline import Faultline


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1024):
        writer.write(data)
        await writer.drain()
    writer.close()


@pytest_asyncio.fixture
async def line() -> AsyncIterator[Faultline]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    relay = await Faultline.open("127.0.0.1", server.sockets[0].getsockname()[1])
    yield relay
    await relay.close()
    server.close()
    await server.wait_closed()


async def _connect(line: Faultline) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", line.port)


async def test_bytes_flow_both_ways_until_cut(line: Faultline) -> None:
    reader, writer = await _connect(line)
    writer.write(b"ping")
    assert await reader.readexactly(4) == b"ping"
    line.cut()
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await asyncio.wait_for(reader.readexactly(1), 5)
    writer.close()
    late_reader, late_writer = await _connect(line)  # accepted, then reset at once
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await asyncio.wait_for(late_reader.readexactly(1), 5)
    late_writer.close()
    line.restore()
    reader, writer = await _connect(line)
    writer.write(b"back")
    assert await reader.readexactly(4) == b"back"
    writer.close()
    await line.wait_idle()


async def test_a_stall_holds_bytes_until_restored(line: Faultline) -> None:
    reader, writer = await _connect(line)
    line.stall()
    writer.write(b"held")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.readexactly(4), 0.3)  # nothing crosses a stall
    line.restore()
    assert await asyncio.wait_for(reader.readexactly(4), 5) == b"held"
    assert line.open_links == 1
    writer.close()
    await line.wait_idle()
