"""Only registered clouds are reachable: no scope, header, request target, body link or
redirect makes the proxy contact another host. A real `evil` server proves it by its
request log staying empty, while it would answer anything with a convincing 200."""

from __future__ import annotations

import asyncio
import json
import posixpath
from urllib.parse import unquote

import pytest
from aiohttp import web

from openstackoid.proxy.fanout import PARTIAL_FAILURE
from openstackoid.proxy.routing import within
from openstackoid.registry import Cloud, Credentials
from tests.federation import Federation, FederationFactory
from tests.reliability.conftest import Outside, ServeFactory, issue_token, register

ALL_CLOUDS = "{keystone: cloud-1; glance: cloud-*}"


async def _get(fed: Federation, path: str, headers: dict[str, str]) -> tuple[int, str]:
    async with fed.session.get(f"{fed.url}{path}", headers=headers) as resp:
        return resp.status, await resp.text()


async def _raw(fed: Federation, head: str) -> tuple[int, bytes]:
    """Send a request head byte for byte (clients normalise targets); (status, whole answer)."""
    host, port = fed.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head.encode("latin-1"))
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return int(answer.split(b" ", 2)[1]), answer


async def test_a_scope_naming_a_url_or_an_address_reaches_nothing(
    federation: Federation, evil: Outside
) -> None:
    where = f"127.0.0.1:{evil.port}"
    scopes = [
        f"{{glance: {evil.url}}}",
        f"{{glance: {where}}}",
        f"{{glance: cloud-1 | {where}}}",
        f"{{glance: cloud-1 & {where}}}",
        f'{{"image": "{evil.url}/image"}}',
        f"{evil.url}/image",
        f"{{glance: site={where}}}",
        "{glance: 127.0.0.1}",
        "{glance: localhost}",
        "{glance: @127.0.0.1}",
    ]
    for scope in scopes:
        status, text = await _get(federation, "/image/v2/images", {"X-Scope": scope})
        assert status == 400, (scope, status, text)
        assert json.loads(text)["error"]["code"] == 400
    # A glob matches registered clouds only: every testbed cloud is asked, and wants a token.
    status, _ = await _get(federation, "/image/v2/images", {"X-Scope": "{glance: *}"})
    assert status == 401
    assert not evil.seen


@pytest.mark.parametrize(
    "name", ["Host", "X-Forwarded-Host", "Forwarded", "X-Original-URL", "X-Rewrite-URL"]
)
async def test_host_and_forwarding_headers_do_not_choose_the_upstream(
    federation: Federation, evil: Outside, name: str
) -> None:
    value = {
        "Forwarded": f"host=127.0.0.1:{evil.port};proto=http",
        "X-Original-URL": f"{evil.url}/identity/v3",
        "X-Rewrite-URL": f"{evil.url}/identity/v3",
    }.get(name, f"127.0.0.1:{evil.port}")
    federation.bed.clear_requests()
    status, _ = await _get(
        federation, "/identity/v3", {"X-Scope": "{keystone: cloud-2}", name: value}
    )
    assert status == 200
    assert [r.path for r in federation.bed.requests("cloud-2")] == ["/identity/v3"]
    assert not evil.seen


async def test_with_a_public_url_a_forged_host_does_not_reach_the_links(
    make_federation: FederationFactory, evil: Outside
) -> None:
    """Links and the token catalog are built from the configured public URL, so a Host
    header naming another server cannot send the client's next request (and token) there."""
    fed = await make_federation(public_url="http://proxy.example:8080")
    headers = {"X-Scope": "{keystone: cloud-1}", "Host": f"127.0.0.1:{evil.port}"}
    status, text = await _get(fed, "/identity/v3", headers)
    assert status == 200
    assert "http://proxy.example:8080/identity/v3" in text and str(evil.port) not in text
    assert not evil.seen


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{evil}/image/v2/images",
        "//127.0.0.1:{evil}/image/v2/images",
        "/image//127.0.0.1:{evil}/v2/images",
        "/image/%2F%2F127.0.0.1:{evil}/v2/images",
        "/image/..%2F..%2F127.0.0.1:{evil}/v2/images",
        "/image/../../127.0.0.1:{evil}/v2/images",
        "/image@127.0.0.1:{evil}/v2/images",
        "/image/@127.0.0.1:{evil}/v2/images",
        "/image/v2/images?next=http://127.0.0.1:{evil}/",
        "/identity/v3/../../../http://127.0.0.1:{evil}/",
        "127.0.0.1:{evil}",
    ],
)
async def test_request_targets_cannot_leave_the_scoped_cloud(
    federation: Federation, evil: Outside, target: str
) -> None:
    target = target.format(evil=evil.port)
    host = federation.url.removeprefix("http://")
    status, answer = await _raw(
        federation,
        f"GET {target} HTTP/1.1\r\nHost: {host}\r\nX-Scope: {{*: cloud-1}}\r\n"
        "Connection: close\r\n\r\n",
    )
    assert 400 <= status < 500, answer[:300]
    assert not evil.seen
    for other in ("cloud-2", "cloud-3"):
        assert not federation.bed.requests(other)


async def test_connect_is_no_tunnel(federation: Federation, evil: Outside) -> None:
    where = f"127.0.0.1:{evil.port}"
    status, answer = await _raw(
        federation, f"CONNECT {where} HTTP/1.1\r\nHost: {where}\r\nConnection: close\r\n\r\n"
    )
    assert 400 <= status < 500, answer[:300]
    assert not evil.seen


async def _rogue_glance(serve: ServeFactory, evil: Outside) -> Outside:
    """A registered cloud whose Glance links to the evil host: absolute `self` and `file`
    links, a `next` page there, and a Location header there."""

    async def images(request: web.Request) -> web.Response:
        body = {
            "images": [
                {
                    "id": "rogue-image",
                    "self": f"{evil.url}/v2/images/rogue-image",
                    "file": f"{evil.url}/v2/images/rogue-image/file",
                }
            ],
            "next": f"{evil.url}/v2/images?marker=rogue-image",
            "first": f"{evil.url}/v2/images",
        }
        return web.json_response(body, headers={"Location": f"{evil.url}/v2/images"})

    async def servers(request: web.Request) -> web.Response:
        link = {"rel": "next", "href": f"{evil.url}/v2.1/servers?marker=rogue-server"}
        return web.json_response({"servers": [{"id": "rogue-server"}], "servers_links": [link]})

    return await serve(
        [
            web.post("/identity/v3/auth/tokens", issue_token),
            web.get("/image/v2/images", images),
            web.get("/compute/v2.1/servers", servers),
        ]
    )


async def test_links_to_an_unregistered_host_are_relayed_as_they_are(
    federation: Federation, serve: ServeFactory, evil: Outside
) -> None:
    """A link outside the cloud is not rewritten to the proxy (where the proxy would serve
    it) nor followed: the client gets it untouched."""
    rogue = await _rogue_glance(serve, evil)
    register(federation, "rogue", rogue)
    scope = "{keystone: cloud-1; glance: rogue}"
    headers = await federation.scoped(scope)
    async with federation.session.get(
        f"{federation.url}/image/v2/images", headers=headers, allow_redirects=False
    ) as resp:
        assert resp.status == 200
        body = await resp.json()
        assert resp.headers["Location"] == f"{evil.url}/v2/images"
    assert body["images"][0]["self"] == f"{evil.url}/v2/images/rogue-image"
    assert body["next"] == f"{evil.url}/v2/images?marker=rogue-image"
    assert not evil.seen


@pytest.mark.parametrize(
    ("service", "path", "combine"),
    [
        ("glance", "/image/v2/images", "&"),
        ("glance", "/image/v2/images", "|"),
        ("nova", "/compute/v2.1/servers", "&"),
    ],
)
async def test_next_pages_on_an_unregistered_host_are_not_followed(
    federation: Federation,
    serve: ServeFactory,
    evil: Outside,
    service: str,
    path: str,
    combine: str,
) -> None:
    """Merging a fan-out follows each cloud's pages: a `next` link leaving the cloud must not
    take the proxy (and the cloud's token) to another host."""
    rogue = await _rogue_glance(serve, evil)
    register(federation, "rogue", rogue)
    scope = f"{{keystone: cloud-1; {service}: rogue {combine} cloud-2}}"
    headers = await federation.scoped(scope)
    async with federation.session.get(f"{federation.url}{path}", headers=headers) as resp:
        assert resp.status < 500, await resp.text()
        await resp.read()
        partial = resp.headers.get(PARTIAL_FAILURE, "")
    assert not evil.seen, [s.path_qs for s in evil.seen]
    if combine == "&":
        assert "rogue" in partial  # the rogue's list is reported incomplete, not silently cut


async def test_redirects_from_a_keystone_are_not_followed(
    federation: Federation, serve: ServeFactory, evil: Outside
) -> None:
    """Token validation (the caller's token) and service-token requests (the proxy's
    password for the cloud) never follow a redirect to another host."""

    async def elsewhere(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"{evil.url}{request.path_qs}")

    rogue = await serve(
        [
            web.post("/identity/v3/auth/tokens", elsewhere),
            web.get("/identity/v3/auth/tokens", elsewhere),
        ]
    )
    register(federation, "rogue", rogue)
    # The rogue as issuer: the caller's token would be validated by the evil host.
    headers = {"X-Auth-Token": "caller-token", "X-Scope": "{keystone: rogue; glance: cloud-2}"}
    status, text = await _get(federation, "/image/v2/images", headers)
    assert status == 401, text
    # The rogue as target: the proxy's credentials for it would be posted to the evil host.
    scope = "{keystone: cloud-1; glance: rogue}"
    headers = await federation.scoped(scope)
    status, text = await _get(federation, "/image/v2/images", headers)
    assert status == 403, text
    # A cloud known only by its Keystone: endpoint discovery posts the password too.
    federation.registry.upsert(
        Cloud("undeclared", f"{rogue.url}/identity/v3", credentials=Credentials("a", "pw", "p"))
    )
    scope = "{keystone: cloud-1; glance: undeclared}"
    headers = await federation.scoped(scope)
    status, text = await _get(federation, "/image/v2/images", headers)
    assert status == 502, text
    assert not evil.seen, [s.path_qs for s in evil.seen]
    assert {s.path_qs for s in rogue.seen} == {"/identity/v3/auth/tokens"}


async def test_redirects_of_an_api_call_go_back_to_the_client(
    federation: Federation, serve: ServeFactory, evil: Outside
) -> None:
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{evil.url}/v2/images")

    rogue = await serve(
        [web.post("/identity/v3/auth/tokens", issue_token), web.get("/image/v2/images", moved)]
    )
    register(federation, "rogue", rogue)
    scope = "{keystone: cloud-1; glance: rogue}"
    headers = await federation.scoped(scope)
    async with federation.session.get(
        f"{federation.url}/image/v2/images", headers=headers, allow_redirects=False
    ) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == f"{evil.url}/v2/images"
    assert not evil.seen


@pytest.mark.parametrize(
    "path",
    [
        "/image/../identity/v3/users",
        "/image/v2/../../identity/v3/users",
        "/image/%2e%2e/identity/v3/users",
        "/image/v2/%2E%2E/%2e./identity/v3/users",
        "/image/%252e%252e/identity/v3/users",
        "/image/./../identity/v3/users",
    ],
)
async def test_dot_segments_cannot_reach_another_service_of_the_cloud(
    federation: Federation, serve: ServeFactory, path: str
) -> None:
    """Behind one web server (devstack, most deployments) a cloud normalises /image/../identity
    to its Keystone: the request would reach the cloud's identity API holding the token the
    proxy obtained with its own credentials for Glance."""

    async def normalising(request: web.Request) -> web.Response:
        # What Apache or nginx do before routing: decode, then drop dot segments.
        where = posixpath.normpath(unquote(unquote(request.raw_path.partition("?")[0])))
        return web.json_response({"served_by": where.split("/")[1]})

    cloud = await serve(
        [web.post("/identity/v3/auth/tokens", issue_token), web.get("/{tail:.*}", normalising)]
    )
    register(federation, "one-host", cloud)
    scope = "{keystone: cloud-1; glance: one-host}"
    token = await federation.token(scope)
    host = federation.url.removeprefix("http://")
    status, answer = await _raw(
        federation,
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Scope: {scope}\r\n"
        f"X-Auth-Token: {token}\r\nConnection: close\r\n\r\n",
    )
    assert status == 400, answer[-300:]
    assert b"segment" in answer
    assert not [s for s in cloud.seen if s.method == "GET"]
    # Dots inside a segment are ordinary names.
    status, answer = await _raw(
        federation,
        f"GET /image/v2/images/a..b/.../v2.1 HTTP/1.1\r\nHost: {host}\r\nX-Scope: {scope}\r\n"
        f"X-Auth-Token: {token}\r\nConnection: close\r\n\r\n",
    )
    assert status == 200 and b'"image"' in answer


def test_within_keeps_a_link_under_the_clouds_own_endpoint() -> None:
    cloud = Cloud("c", "http://h:80/identity/v3", endpoints={"image": "http://h:80/image"})
    assert within(cloud, "image", "http://h:80/image/v2/images?marker=x")
    assert within(cloud, "image", "http://h:80/image?limit=2")
    for url in (
        "http://h:8080/image/v2/images",  # the root is a prefix of another port
        "http://h:80/images/v2",
        "http://h:80/image@evil/v2",
        "http://h:80/image/../identity/v3/users",
        "http://h:80/image/%2e%2E/identity/v3/users",
        "http://evil/image/v2/images",
        "/v2/images",
    ):
        assert not within(cloud, "image", url), url
    assert within(cloud, "image", "http://h:80/image/v2/images?next=/../x")  # the query is data
