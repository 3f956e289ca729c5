"""A transparent HTTP relay in front of a cloud that records every request it passes on:
what the cloud saw, for tests asserting that a refused call reached nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

HOP_BY_HOP = frozenset(
    {"host", "connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"}
)


class Relay:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.seen: list[tuple[str, str]] = []
        """(method, path) of every request, in order."""
        self.with_token: list[tuple[str, str]] = []
        """Those that carried an X-Auth-Token."""

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((request.method, request.path))
        if "X-Auth-Token" in request.headers:
            self.with_token.append((request.method, request.path))
        headers = CIMultiDict(
            (k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP
        )
        body = await request.read()
        async with aiohttp.ClientSession(auto_decompress=False) as http:
            async with http.request(
                request.method,
                self.upstream + request.path_qs,
                headers=headers,
                data=body or None,
                allow_redirects=False,
            ) as resp:
                payload = await resp.read()
                answer = CIMultiDict(
                    (k, v) for k, v in resp.headers.items() if k.lower() not in HOP_BY_HOP
                )
                return web.Response(status=resp.status, headers=answer, body=payload)


@asynccontextmanager
async def relaying(upstream: str) -> AsyncIterator[tuple[Relay, str]]:
    """A running relay to `upstream` (scheme://host:port) and its own base URL."""
    relay = Relay(upstream)
    app = web.Application(client_max_size=1024**3)
    app.router.add_route("*", "/{tail:.*}", relay.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield relay, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
