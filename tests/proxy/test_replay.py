"""Bodies held for failover are bounded: refused past max_replay_bytes, before or while
they arrive."""

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from openstackoid.proxy.errors import ProxyError, error_response
from openstackoid.proxy.replay import read_replayable

LIMIT = 1000


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async def held(request: web.Request) -> web.Response:
        try:
            body = await read_replayable(request, LIMIT)
        except ProxyError as exc:
            return error_response(exc, "req-1")
        return web.Response(text=str(len(body)))

    app = web.Application()
    app.router.add_post("/", held)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    await runner.cleanup()


async def _chunks(size: int) -> AsyncIterator[bytes]:
    for _ in range(size // 100):
        yield b"x" * 100


async def test_a_body_within_the_limit_is_held_whole(url: str) -> None:
    async with aiohttp.ClientSession() as s, s.post(url, data=_chunks(LIMIT)) as resp:
        assert (resp.status, await resp.text()) == (200, str(LIMIT))


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_bigger_one_is_413(url: str, chunked: bool) -> None:
    data = _chunks(LIMIT + 100) if chunked else b"x" * (LIMIT + 1)
    async with aiohttp.ClientSession() as s, s.post(url, data=data) as resp:
        assert resp.status == 413
        assert "max_replay_bytes" in (await resp.json())["error"]["message"]
