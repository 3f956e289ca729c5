"""The scope in the endpoint URL: `/scope/<scope>/<service_type>/...`, over real HTTP."""

from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from openstackoid.proxy import ProxyConfig
from openstackoid.proxy.app import make_app
from openstackoid.proxy.operator_app import make_operator_app
from openstackoid.proxy.url_scope import ScopedPath, split_scoped_path
from openstackoid.registry import Registry
from openstackoid.scope_dsl import parse_scope, to_url_segment
from openstackoid.testbed import admin_auth_body
from tests.federation import Federation, FederationFactory

SEED = "{keystone: cloud-1; glance: cloud-3}"
INLINE = to_url_segment(parse_scope(SEED))  # identity:cloud-1;image:cloud-3
ADMIN = {"X-Admin-Token": "admin-secret"}


async def _token(
    fed: Federation, prefix: str, issuer: str = "cloud-1", **headers: str
) -> tuple[str, dict[str, Any], Any]:
    """A token of `issuer`'s admin (each cloud has its own password), asked through `prefix`."""
    url = f"{fed.url}{prefix}/identity/v3/auth/tokens"
    body = admin_auth_body(fed.bed.cloud(issuer))
    async with fed.session.post(url, json=body, headers=headers) as resp:
        assert resp.status == 201, await resp.text()
        return resp.headers["X-Subject-Token"], await resp.json(), resp.headers


async def _get(fed: Federation, path: str, **headers: str) -> tuple[int, Any, Any]:
    async with fed.session.get(f"{fed.url}{path}", headers=headers) as resp:
        return resp.status, await resp.json(content_type=None), resp.headers


def _served(fed: Federation, cloud: str, part: str) -> list[str]:
    return [r.path for r in fed.bed.requests(cloud) if part in r.path]


async def test_the_catalog_keeps_the_url_scope(federation: Federation) -> None:
    _, body, headers = await _token(federation, f"/scope/{INLINE}")
    urls = {s["type"]: s["endpoints"][0]["url"] for s in body["token"]["catalog"]}
    base = f"{federation.url}/scope/{INLINE}"
    assert urls["image"] == f"{base}/image"
    assert urls["compute"] == f"{base}/compute/v2.1"
    assert urls["identity"] == f"{base}/identity/v3"
    assert headers["X-Openstackoid-Scope"] == "{identity: cloud-1; image: cloud-3}"
    assert headers["X-Openstackoid-Scope-Source"] == "url"
    assert _served(federation, "cloud-1", "auth/tokens") == ["/identity/v3/auth/tokens"]
    assert not federation.bed.requests("cloud-2") and not federation.bed.requests("cloud-3")


async def test_calls_through_the_catalog_go_where_the_url_says(federation: Federation) -> None:
    token, body, _ = await _token(federation, f"/scope/{INLINE}")
    image_url = next(s for s in body["token"]["catalog"] if s["type"] == "image")
    url = image_url["endpoints"][0]["url"].removeprefix(federation.url)
    federation.bed.clear_requests()
    status, images, _ = await _get(federation, f"{url}/v2/images", **{"X-Auth-Token": token})
    assert status == 200
    assert [i["id"] for i in images["images"]] == [federation.bed.cloud("cloud-3").image_id]
    assert _served(federation, "cloud-3", "/image/") == ["/image/v2/images"]
    assert not _served(federation, "cloud-1", "/image/")


async def test_version_documents_and_location_keep_the_prefix(federation: Federation) -> None:
    token, _, _ = await _token(federation, f"/scope/{INLINE}")
    base = f"{federation.url}/scope/{INLINE}"
    status, body, _ = await _get(federation, f"/scope/{INLINE}/compute/v2.1")
    assert status == 200
    assert body["version"]["links"][0]["href"] == f"{base}/compute/v2.1/"
    url = f"{base}/image/v2/images"
    async with federation.session.post(
        url, json={"name": "kept"}, headers={"X-Auth-Token": token}
    ) as resp:
        assert resp.status == 201
        image_id = (await resp.json())["id"]
        assert resp.headers["Location"] == f"{base}/image/v2/images/{image_id}"
    assert [
        r.method for r in federation.bed.requests("cloud-3") if r.path == "/image/v2/images"
    ] == ["POST"]
    assert not any(
        r.method == "POST" for r in federation.bed.requests("cloud-1") if "/image" in r.path
    )


async def test_location_and_next_pages_keep_the_prefix(federation: Federation) -> None:
    for cloud in ("cloud-1", "cloud-2"):
        token, _, _ = await _token(federation, f"/scope/{cloud}", cloud)
        base = f"{federation.url}/scope/{cloud}"
        server = {
            "name": f"vm-{cloud}",
            "imageRef": federation.bed.cloud(cloud).image_id,
            "flavorRef": "1",
            "networks": "none",
        }
        async with federation.session.post(
            f"{base}/compute/v2.1/servers", json={"server": server}, headers={"X-Auth-Token": token}
        ) as resp:
            assert resp.status == 202, await resp.text()
            assert resp.headers["Location"].startswith(f"{base}/compute/v2.1/servers/")
    both = "identity:cloud-1;compute:cloud-1&cloud-2"
    token, _, _ = await _token(federation, f"/scope/{both}")
    status, body, _ = await _get(
        federation, f"/scope/{both}/compute/v2.1/servers?limit=1", **{"X-Auth-Token": token}
    )
    assert status == 200 and len(body["servers"]) == 1
    href = body["servers_links"][0]["href"]
    assert href.startswith(f"{federation.url}/scope/{both}/compute/v2.1/servers?")
    status, body, _ = await _get(
        federation, href.removeprefix(federation.url), **{"X-Auth-Token": token}
    )
    assert status == 200 and len(body["servers"]) == 1


async def test_a_named_scope_routes_and_stays_named(make_federation: FederationFactory) -> None:
    fed = await make_federation(admin_token="admin-secret")
    admin = f"{fed.url}/_openstackoid/admin/scopes/fed-c3"
    async with fed.session.put(
        admin, json={"scope": "keystone: cloud-1; glance: cloud-3"}, headers=ADMIN
    ) as resp:
        assert resp.status == 201, await resp.text()
    token, body, headers = await _token(fed, "/scope/fed-c3")
    urls = {s["type"]: s["endpoints"][0]["url"] for s in body["token"]["catalog"]}
    assert urls["image"] == f"{fed.url}/scope/fed-c3/image"
    assert headers["X-Openstackoid-Scope"] == "{identity: cloud-1; image: cloud-3}"
    fed.bed.clear_requests()
    status, images, _ = await _get(fed, "/scope/fed-c3/image/v2/images", **{"X-Auth-Token": token})
    assert status == 200 and _served(fed, "cloud-3", "/image/") == ["/image/v2/images"]
    # The operator moves the named scope: the same URL follows it.
    async with fed.session.put(
        admin, json={"scope": "keystone: cloud-1; glance: cloud-2"}, headers=ADMIN
    ) as resp:
        assert resp.status == 200
    fed.bed.clear_requests()
    status, images, _ = await _get(fed, "/scope/fed-c3/image/v2/images", **{"X-Auth-Token": token})
    assert [i["id"] for i in images["images"]] == [fed.bed.cloud("cloud-2").image_id]
    async with fed.session.delete(admin, headers=ADMIN) as resp:
        assert resp.status == 204
    status, error, _ = await _get(fed, "/scope/fed-c3/image/v2/images", **{"X-Auth-Token": token})
    assert status == 400
    assert "'fed-c3' in the URL is neither a named scope nor a cloud" in error["error"]["message"]


async def test_a_named_scope_may_not_take_a_clouds_name(make_federation: FederationFactory) -> None:
    fed = await make_federation(admin_token="admin-secret")
    async with fed.session.put(
        f"{fed.url}/_openstackoid/admin/scopes/cloud-2", json={"scope": "cloud-1"}, headers=ADMIN
    ) as resp:
        assert resp.status == 400
        assert "is a cloud's name" in (await resp.json())["error"]["message"]
    async with fed.session.put(
        f"{fed.url}/_openstackoid/admin/scopes/bad",
        json={"scope": "glance: clod-2 |"},
        headers=ADMIN,
    ) as resp:
        assert resp.status == 400
        assert "expected a cloud after the operator" in (await resp.json())["error"]["message"]
    async with fed.session.get(f"{fed.url}/_openstackoid/admin/scopes") as resp:
        assert resp.status == 401  # the admin token guards named scopes too


@pytest.mark.parametrize(
    ("segment", "message"),
    [
        ("glance:clod-2%7C", "expected a cloud after the operator"),
        ("image:cloud-1%2Fx", "the scope in the URL does not parse"),
        ("image:%ff", "percent-encoded UTF-8"),
        ("clod-1", "neither a named scope nor a cloud. Did you mean 'cloud-1'"),
    ],
)
async def test_a_bad_url_scope_is_a_400_with_the_reason(
    federation: Federation, segment: str, message: str
) -> None:
    status, body, headers = await _get(federation, f"/scope/{segment}/image/v2/images")
    assert status == 400
    assert body["error"]["code"] == 400 and message in body["error"]["message"]
    assert "X-Openstackoid-Scope" not in headers
    assert not any(federation.bed.requests(c.name) for c in federation.bed.clouds)


async def test_the_caret_points_into_the_decoded_scope(federation: Federation) -> None:
    status, body, _ = await _get(federation, "/scope/glance:clod-2%7C/image/v2/images")
    assert status == 400
    assert "glance:clod-2|\n" in body["error"]["message"]
    assert "^" in body["error"]["message"]


async def test_a_path_without_a_service_is_a_404(federation: Federation) -> None:
    for path in ("/scope/cloud-1", "/scope/cloud-1/", "/scope//image/v2/images"):
        status, body, _ = await _get(federation, path)
        assert status == 404, path
        assert "/scope/<scope>/<service_type>/" in body["error"]["message"]


async def test_precedence_header_url_token_default(make_federation: FederationFactory) -> None:
    fed = await make_federation(default_scope="{*: cloud-1}")
    cirros = {c.name: c.image_id for c in fed.bed.clouds}

    async def images(path: str, **headers: str) -> tuple[list[str], str]:
        status, body, answer = await _get(fed, path, **headers)
        assert status == 200, body
        return [i["id"] for i in body["images"]], answer["X-Openstackoid-Scope-Source"]

    token, _, _ = await _token(fed, "/scope/keystone:cloud-1;glance:cloud-2")
    auth = {"X-Auth-Token": token}
    # 1. X-Scope beats the URL, and says the URL's scope was not applied.
    got, source = await images(
        "/scope/keystone:cloud-1;glance:cloud-2/image/v2/images",
        **auth,
        **{"X-Scope": "{keystone: cloud-1; glance: cloud-3}"},
    )
    assert got == [cirros["cloud-3"]] and source.startswith("header (the URL's scope differs")
    # 2. The URL beats the token's scope (the header just moved it to cloud-3).
    got, source = await images("/scope/keystone:cloud-1;glance:cloud-2/image/v2/images", **auth)
    assert got == [cirros["cloud-2"]] and source == "url"
    # 3. No header, no URL scope: the scope last seen with the token (the URL's, learnt).
    got, source = await images("/image/v2/images", **auth)
    assert got == [cirros["cloud-2"]] and source == "token"
    # 4. Nothing: the default.
    status, body, answer = await _get(fed, "/image")
    assert status == 300  # glance's version document
    assert answer["X-Openstackoid-Scope"] == "{*: cloud-1}"
    assert answer["X-Openstackoid-Scope-Source"] == "default"


async def test_a_token_issued_under_a_url_scope_is_remembered(federation: Federation) -> None:
    """Nova calls Glance with the user's token and no scope: the URL's scope must hold."""
    token, _, _ = await _token(federation, f"/scope/{INLINE}")
    image_id = federation.bed.cloud("cloud-3").image_id
    server = {"server": {"name": "vm", "imageRef": image_id, "flavorRef": "2", "networks": "auto"}}
    async with federation.session.post(
        f"{federation.url}/scope/{INLINE}/compute/v2.1/servers",
        json=server,
        headers={"X-Auth-Token": token},
    ) as resp:
        assert resp.status == 202, await resp.text()
    assert [p for p in _served(federation, "cloud-3", image_id)]
    assert any(
        r.method == "POST" for r in federation.bed.requests("cloud-1") if "servers" in r.path
    )


async def test_a_cloud_alone_is_the_bare_expression(federation: Federation) -> None:
    token, _, headers = await _token(federation, "/scope/cloud-2", "cloud-2")
    assert headers["X-Openstackoid-Scope"] == "{*: cloud-2}"
    assert _served(federation, "cloud-2", "auth/tokens")
    assert not _served(federation, "cloud-1", "auth/tokens")


@pytest.mark.parametrize(
    ("raw", "segment", "service", "api"),
    [
        ("/scope/fed-c2/image/v2/images", "fed-c2", "image", "/v2/images"),
        ("/scope/fed-c2/image", "fed-c2", "image", ""),
        ("/scope/fed-c2/image/", "fed-c2", "image", "/"),
        ("/scope/image:a%2Fb/%69mage/v2/a%2Fb", "image:a%2Fb", "image", "/v2/a%2Fb"),
    ],
)
def test_a_scoped_path_splits_on_the_raw_path(
    raw: str, segment: str, service: str, api: str
) -> None:
    assert split_scoped_path(raw) == ScopedPath(segment, service, api)


async def test_named_scopes_are_written_on_the_operator_listener() -> None:
    """With --admin-port the admin API (named scopes included) leaves the main listener."""
    config = ProxyConfig(admin_token="admin-secret", admin_port=1)
    app = make_app(config, Registry())
    async with TestServer(app) as proxy, TestServer(make_operator_app(app)) as operator:
        async with aiohttp.ClientSession() as session:
            url = operator.make_url("/_openstackoid/admin/scopes/fed-c2")
            async with session.put(url, json={"scope": "cloud-2"}, headers=ADMIN) as resp:
                assert resp.status == 201, await resp.text()
            async with session.put(proxy.make_url("/_openstackoid/admin/scopes/x")) as resp:
                assert resp.status == 404
            async with session.get(proxy.make_url("/scope/fed-c2/image")) as resp:
                assert resp.headers["X-Openstackoid-Scope"] == "{*: cloud-2}"
                assert resp.headers["X-Openstackoid-Scope-Source"] == "url"
