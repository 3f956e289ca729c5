"""Faults(garbage=True): the cloud answers bytes that are not HTTP, then closes."""

import asyncio

import aiohttp
import pytest
from aiohttp import web

from openstackoid.testbed import Faults, Testbed
from openstackoid.testbed.control import make_control_app


async def _raw_answer(testbed: Testbed, name: str) -> bytes:
    info = testbed.cloud(name)
    reader, writer = await asyncio.open_connection(info.host, info.port)
    writer.write(b"GET /identity/v3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = await reader.read()  # until the cloud closes
    writer.close()
    return answer


async def test_garbage_is_not_http_and_the_cloud_recovers(testbed: Testbed) -> None:
    await testbed.set_faults("cloud-2", Faults(garbage=True))
    answer = await _raw_answer(testbed, "cloud-2")
    assert answer and not answer.startswith(b"HTTP/")
    url = testbed.cloud("cloud-2").endpoints["identity"]
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.get(url) as resp:
                await resp.read()
        assert (await _raw_answer(testbed, "cloud-1")).startswith(b"HTTP/1.1 200")
        await testbed.set_faults("cloud-2", Faults())
        async with session.get(url) as resp:
            assert resp.status == 200
    assert [r.path for r in testbed.requests("cloud-2")][:2] == ["/identity/v3"] * 2


async def test_the_control_api_sets_garbage(testbed: Testbed) -> None:
    runner = web.AppRunner(make_control_app(testbed))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/faults/cloud-3"
            async with session.post(url, json={"garbage": True}) as resp:
                assert resp.status == 200
            assert testbed.faults("cloud-3") == Faults(garbage=True)
            async with session.post(url, json={"garbage": "yes"}) as resp:
                assert resp.status == 400
    finally:
        await runner.cleanup()
