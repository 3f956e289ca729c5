"""A cloud sending its JSON chunked (no Content-Length): links to itself are rewritten to the
proxy like those of any JSON answer; one too large to hold is relayed whole, unchanged."""

from __future__ import annotations

import json

from aiohttp import web

from tests.federation import FederationFactory
from tests.reliability.conftest import Outside, ServeFactory, issue_token, register


async def _chunky_glance(serve: ServeFactory, padding: int) -> Outside:
    outside = Outside("")

    async def images(request: web.Request) -> web.StreamResponse:
        body = {
            "images": [{"id": "c1", "self": f"{outside.url}/image/v2/images/c1"}],
            "padding": "x" * padding,
            "first": f"{outside.url}/image/v2/images",
        }
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        data = json.dumps(body).encode()
        for start in range(0, len(data), 1000):  # several chunks on the wire
            await response.write(data[start : start + 1000])
        await response.write_eof()
        return response

    served = await serve(
        [web.post("/identity/v3/auth/tokens", issue_token), web.get("/image/v2/images", images)]
    )
    outside.url = served.url
    return served


async def test_chunked_json_links_point_at_the_proxy(
    make_federation: FederationFactory, serve: ServeFactory
) -> None:
    federation = await make_federation()
    chunky = await _chunky_glance(serve, padding=10)
    register(federation, "chunky", chunky)
    headers = await federation.scoped("{keystone: cloud-1; glance: chunky}")
    async with federation.session.get(f"{federation.url}/image/v2/images", headers=headers) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["images"][0]["self"] == f"{federation.url}/image/v2/images/c1"
    assert body["first"] == f"{federation.url}/image/v2/images"
    assert chunky.url not in json.dumps(body)


async def test_chunked_json_beyond_the_rewrite_limit_is_relayed_whole(
    make_federation: FederationFactory, serve: ServeFactory
) -> None:
    federation = await make_federation(max_rewrite_bytes=4096)
    chunky = await _chunky_glance(serve, padding=20_000)
    register(federation, "chunky", chunky)
    headers = await federation.scoped("{keystone: cloud-1; glance: chunky}")
    async with federation.session.get(f"{federation.url}/image/v2/images", headers=headers) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["padding"] == "x" * 20_000  # every byte, in order
    assert body["images"][0]["self"].startswith(chunky.url)  # too large to rewrite
