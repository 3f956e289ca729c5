"""The cloud receives the path and query as the client encoded them."""

from __future__ import annotations

from aiohttp import web

from tests.federation import Federation
from tests.reliability.conftest import ServeFactory, issue_token, register


async def test_percent_encoding_reaches_the_cloud_unchanged(
    federation: Federation, serve: ServeFactory
) -> None:
    received: list[str] = []

    async def anything(request: web.Request) -> web.Response:
        received.append(request.raw_path)
        return web.json_response({"images": []})

    outside = await serve(
        [web.post("/identity/v3/auth/tokens", issue_token), web.get("/image/{tail:.*}", anything)]
    )
    register(federation, "raw", outside)
    headers = await federation.scoped("{keystone: cloud-1; glance: raw}")
    targets = [
        "/v2/images?name=my%20image&tag=a%26b",
        "/v2/images/a%2Fb",
        "/v2/images?name=%C3%A9t%C3%A9",
    ]
    for target in targets:
        async with federation.session.get(
            f"{federation.url}/image{target}", headers=headers
        ) as resp:
            assert resp.status == 200, await resp.text()
    assert received == [f"/image{t}" for t in targets]
