"""Tokens reach only the clouds the identity strategy allows, and the admin API only those
who hold its token. A `spy` cloud (a real aiohttp server registered in the proxy) records
every header it receives."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from openstackoid.proxy import ProxyConfig, running_proxy
from openstackoid.registry import Cloud, Registry
from tests.federation import Federation, FederationFactory
from tests.reliability.conftest import SERVICE_TOKEN, Outside, ServeFactory, issue_token, register

SPY = "{keystone: cloud-1; glance: spy}"


async def _spy(serve: ServeFactory) -> Outside:
    async def images(request: web.Request) -> web.Response:
        return web.json_response({"images": [{"id": "spy-image"}]})

    async def created(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"id": "spy-image"}, status=201)

    async def uploaded(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    return await serve(
        [
            web.post("/identity/v3/auth/tokens", issue_token),
            web.get("/image/v2/images", images),
            web.post("/image/v2/images", created),
            web.put("/image/v2/images/{image_id}/file", uploaded),
        ]
    )


async def _every_use_of_the_token(fed: Federation, token: str, other: str) -> None:
    """List, create, stream an upload, fan out, fail over, rely on the remembered scope, and
    carry the caller's tokens in the other token headers keystonemiddleware reads."""
    images = f"{fed.url}/image/v2/images"
    headers = {"X-Auth-Token": token, "X-Scope": SPY}
    calls = [
        fed.session.get(images, headers=headers),
        fed.session.get(images, headers={"X-Auth-Token": token}),
        fed.session.post(images, json={"name": "x"}, headers=headers),
        fed.session.put(f"{images}/spy-image/file", data=b"\0" * 300_000, headers=headers),
        fed.session.get(
            images, headers={**headers, "X-Scope": SPY.replace("spy", "spy & cloud-2")}
        ),
        fed.session.get(
            images, headers={**headers, "X-Scope": SPY.replace("spy", "spy | cloud-2")}
        ),
        fed.session.get(images, headers={**headers, "X-Service-Token": other}),
        fed.session.get(images, headers={**headers, "X-Subject-Token": token}),
    ]
    for call in calls:
        async with call as resp:
            assert resp.status < 300, (resp.method, resp.url, await resp.text())


async def test_the_callers_token_never_reaches_a_cloud_that_did_not_issue_it(
    federation: Federation, serve: ServeFactory
) -> None:
    spy = await _spy(serve)
    register(federation, "spy", spy)
    token = await federation.token(SPY)
    other = await federation.token(SPY)  # e.g. Nova's service token, from the same Keystone
    await _every_use_of_the_token(federation, token, other)
    assert len([s for s in spy.seen if "images" in s.path_qs]) == 8
    assert spy.tokens_seen() == {SERVICE_TOKEN}
    leaked = [s.path_qs for s in spy.seen for v in s.headers.values() if token in v or other in v]
    assert not leaked


async def test_passthrough_does_forward_it(
    make_federation: FederationFactory, serve: ServeFactory
) -> None:
    """The contrast that shows the spy would notice: passthrough (shared identity) sends the
    caller's token to every cloud by design."""
    federation = await make_federation(shared_identity=True, identity_strategy="passthrough")
    spy = await _spy(serve)
    register(federation, "spy", spy)
    token = await federation.token(SPY)
    async with federation.session.get(
        f"{federation.url}/image/v2/images", headers={"X-Auth-Token": token, "X-Scope": SPY}
    ) as resp:
        assert resp.status == 200
    assert token in spy.tokens_seen()


async def test_a_token_the_issuer_refuses_goes_nowhere(
    federation: Federation, serve: ServeFactory
) -> None:
    spy = await _spy(serve)
    register(federation, "spy", spy)
    headers = {"X-Auth-Token": "forged", "X-Scope": SPY, "X-Service-Token": "forged-too"}
    async with federation.session.get(f"{federation.url}/image/v2/images", headers=headers) as resp:
        assert resp.status == 401
        assert "cloud-1" in (await resp.json())["error"]["message"]
    assert not spy.seen


ADMIN = "let-me-in"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/_openstackoid/admin/clouds/intruder"),
        ("DELETE", "/_openstackoid/admin/clouds/cloud-1"),
        ("GET", "/_openstackoid/admin/clouds/cloud-1"),
        ("GET", "/_openstackoid/admin/clouds?label=region=eu"),
        ("PUT", "/_openstackoid/admin/clouds/../clouds/intruder"),
        ("PUT", "/_openstackoid/admin/clouds/%2e%2e/clouds/intruder"),
        ("PUT", "/_openstackoid//admin/clouds/intruder"),
        ("PUT", "/_openstackoid/admin//clouds/intruder"),
    ],
)
@pytest.mark.parametrize("given", [None, "", "wrong", ADMIN.upper(), ADMIN + "x", ADMIN[:-1]])
async def test_admin_api_changes_nothing_without_its_token(
    method: str, path: str, given: str | None
) -> None:
    registry = Registry([Cloud("cloud-1", "http://127.0.0.1:9/identity/v3")])
    body = {"auth_url": "http://127.0.0.1:9/identity/v3"}
    headers = {} if given is None else {"X-Admin-Token": given}
    config = ProxyConfig(admin_token=ADMIN)
    async with running_proxy(config, registry) as url, aiohttp.ClientSession() as session:
        async with session.request(
            method, f"{url}{path}", json=body, headers=headers, allow_redirects=False
        ) as resp:
            assert resp.status in (401, 404), resp.status
            if resp.status == 401:
                assert (await resp.json())["error"]["title"] == "Unauthorized"
            assert "127.0.0.1:9" not in await resp.text()
    assert [c.name for c in registry] == ["cloud-1"]


async def test_an_empty_admin_token_turns_the_admin_api_off() -> None:
    registry = Registry()
    async with running_proxy(ProxyConfig(admin_token=""), registry) as url:
        async with aiohttp.ClientSession() as session:
            async with session.put(
                f"{url}/_openstackoid/admin/clouds/x",
                json={"auth_url": "http://127.0.0.1:9/identity/v3"},
                headers={"X-Admin-Token": ""},
            ) as resp:
                assert resp.status == 404
    assert not list(registry)


def _garbled(kind: str, ok: int) -> web.Response:
    headers = {"X-Subject-Token": "garbled"}
    if kind == "failing":
        return web.json_response({"error": {"code": 503, "message": "down"}}, status=503)
    if kind == "not-json":
        return web.Response(status=ok, body=b"<html>oops", headers=headers)
    if kind == "a-list":
        return web.json_response([], status=ok, headers=headers)
    return web.json_response({"token": {"expires_at": "soon"}}, status=ok, headers=headers)


@pytest.mark.parametrize("kind", ["failing", "not-json", "a-list", "bad-expiry"])
async def test_a_failing_or_garbled_keystone_is_a_502_not_a_refusal(
    federation: Federation, serve: ServeFactory, kind: str
) -> None:
    """A 401 would make the client drop a good token, a 403 blame the proxy's credentials,
    a 500 the proxy: the cloud failed, so 502 naming it."""

    async def validate(request: web.Request) -> web.Response:
        return _garbled(kind, 200)

    async def issue(request: web.Request) -> web.Response:
        return _garbled(kind, 201)

    keystone = await serve(
        [web.get("/identity/v3/auth/tokens", validate), web.post("/identity/v3/auth/tokens", issue)]
    )
    register(federation, "garbled", keystone)
    as_issuer = {"X-Auth-Token": "t", "X-Scope": "{keystone: garbled; glance: cloud-2}"}
    scope = "{keystone: cloud-1; glance: garbled}"
    as_target = await federation.scoped(scope)
    for headers in (as_issuer, as_target):
        async with federation.session.get(
            f"{federation.url}/image/v2/images", headers=headers
        ) as resp:
            body = await resp.json()
            assert resp.status == 502, body
            assert "garbled" in body["error"]["message"]
