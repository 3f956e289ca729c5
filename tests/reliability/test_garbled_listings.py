"""A cloud whose list pages are not JSON, inside a merged (`&`), paged or failover (`|`)
listing: the answer must be a listing without it or a 5xx in OpenStack's shape naming it,
never a 500 of the proxy's own."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from openstackoid.proxy.listing import PARTIAL_FAILURE
from tests.federation import Federation
from tests.reliability.conftest import Outside, ServeFactory, issue_token, register

GARBLED = b'{"images": [{"id": "cut'


async def _garbled_glance(serve: ServeFactory) -> Outside:
    async def images(request: web.Request) -> web.Response:
        if "marker" in request.query or "limit" in request.query:
            return web.Response(body=GARBLED, content_type="application/json")
        return web.json_response({"images": [{"id": "r1"}], "next": "/v2/images?marker=r1"})

    return await serve(
        [web.post("/identity/v3/auth/tokens", issue_token), web.get("/image/v2/images", images)]
    )


@pytest.mark.parametrize(
    ("glance", "query"),
    [("rogue & cloud-2", ""), ("rogue & cloud-2", "?limit=2"), ("rogue | cloud-2", "")],
)
async def test_garbled_pages_in_a_merged_listing_are_not_a_500(
    federation: Federation, serve: ServeFactory, glance: str, query: str
) -> None:
    register(federation, "rogue", await _garbled_glance(serve))
    scope = f"{{keystone: cloud-1; glance: {glance}}}"
    headers = await federation.scoped(scope)
    async with federation.session.get(
        f"{federation.url}/image/v2/images{query}", headers=headers
    ) as resp:
        raw = await resp.read()
    if resp.status == 200:  # a listing of the others, saying what was left out and why
        images = json.loads(raw)["images"]
        assert [i["id"] for i in images] == [federation.bed.cloud("cloud-2").image_id], raw
        assert "rogue" in resp.headers[PARTIAL_FAILURE]
        assert "not JSON" in resp.headers[PARTIAL_FAILURE]
    else:  # or the cloud's failure, named, in OpenStack's shape
        assert resp.status in (502, 503), raw
        assert "rogue" in json.loads(raw)["error"]["message"]


async def test_a_single_clouds_garbled_body_is_relayed_and_others_keep_serving(
    federation: Federation, serve: ServeFactory
) -> None:
    """One cloud, one answer: the proxy relays the cloud's body as it is, like any reverse
    proxy, and goes on serving the other clouds."""
    register(federation, "rogue", await _garbled_glance(serve))
    for glance, expected in (("rogue", GARBLED), ("cloud-2", None)):
        scope = f"{{keystone: cloud-1; glance: {glance}}}"
        headers = await federation.scoped(scope)
        async with federation.session.get(
            f"{federation.url}/image/v2/images?limit=1", headers=headers
        ) as resp:
            assert resp.status == 200
            body = await resp.read()
        if expected is not None:
            assert body == expected
        else:
            assert json.loads(body)["images"][0]["id"] == federation.bed.cloud("cloud-2").image_id
