"""The proxy in front of simulated clouds, over real HTTP."""

import asyncio
import dataclasses
from typing import Any

from openstackoid.proxy.fanout import CLOUD_TAG, PARTIAL_FAILURE
from openstackoid.testbed import Faults, admin_auth_body
from tests.federation import Federation, FederationFactory

SEED = "{keystone: cloud-1; glance: cloud-3}"


async def _get(fed: Federation, path: str, **headers: str) -> tuple[int, Any, dict[str, str]]:
    async with fed.session.get(f"{fed.url}{path}", headers=headers) as resp:
        body = await resp.json(content_type=None)
        return resp.status, body, dict(resp.headers)


async def test_token_catalog_points_at_the_proxy(federation: Federation) -> None:
    body = admin_auth_body(federation.bed.cloud("cloud-1"))
    url = f"{federation.url}/identity/v3/auth/tokens"
    async with federation.session.post(url, json=body, headers={"X-Scope": SEED}) as resp:
        assert resp.status == 201
        catalog = (await resp.json())["token"]["catalog"]
    urls = {s["type"]: s["endpoints"][0]["url"] for s in catalog}
    assert urls["image"] == f"{federation.url}/image"
    assert urls["compute"] == f"{federation.url}/compute/v2.1"
    assert urls["identity"] == f"{federation.url}/identity/v3"
    # Only cloud-1's Keystone was asked.
    assert [r.path for r in federation.bed.requests("cloud-1")] == ["/identity/v3/auth/tokens"]
    assert not federation.bed.requests("cloud-3")


async def test_image_list_goes_to_the_scoped_cloud_with_its_own_token(
    federation: Federation,
) -> None:
    token = await federation.token(SEED)
    federation.bed.clear_requests()
    status, body, _ = await _get(
        federation, "/image/v2/images", **{"X-Auth-Token": token, "X-Scope": SEED}
    )
    assert status == 200
    assert [i["id"] for i in body["images"]] == [federation.bed.cloud("cloud-3").image_id]
    # validate-at-issuer: cloud-1 validated the token, cloud-3 got a token of its own.
    assert any(r.path == "/identity/v3/auth/tokens" for r in federation.bed.requests("cloud-1"))
    assert [r.path for r in federation.bed.requests("cloud-3")] == [
        "/identity/v3/auth/tokens",
        "/image/v2/images",
    ]


async def test_links_point_back_at_the_proxy(federation: Federation) -> None:
    status, body, _ = await _get(federation, "/compute/v2.1", **{"X-Scope": "{nova: cloud-2}"})
    assert status == 200
    assert body["version"]["links"][0]["href"] == f"{federation.url}/compute/v2.1/"


async def test_nova_gets_the_users_scope_from_the_token(federation: Federation) -> None:
    token = await federation.token(SEED)
    image_id = federation.bed.cloud("cloud-3").image_id
    server = {"server": {"name": "vm", "imageRef": image_id, "flavorRef": "2", "networks": "auto"}}
    headers = {"X-Auth-Token": token, "X-Scope": SEED}
    async with federation.session.post(
        f"{federation.url}/compute/v2.1/servers", json=server, headers=headers
    ) as resp:
        assert resp.status == 202, await resp.text()
    # Nova (cloud-1) asked the proxy for the image; the proxy sent it to cloud-3's glance.
    asked = [r for r in federation.bed.requests("cloud-3") if r.path.endswith(image_id)]
    assert asked


async def test_scope_is_remembered_without_the_header(federation: Federation) -> None:
    token = await federation.token(SEED)
    status, body, _ = await _get(federation, "/image/v2/images", **{"X-Auth-Token": token})
    assert status == 200
    assert body["images"][0]["id"] == federation.bed.cloud("cloud-3").image_id


async def test_fan_out_merges_and_tags_each_cloud(make_federation: FederationFactory) -> None:
    fed = await make_federation(shared_identity=True, identity_strategy="passthrough")
    scope = "{keystone: cloud-1; glance: cloud-1 & cloud-2 & cloud-3}"
    token = await fed.token(scope)
    status, body, _ = await _get(
        fed, "/image/v2/images", **{"X-Auth-Token": token, "X-Scope": scope}
    )
    assert status == 200
    assert [(i["id"], i[CLOUD_TAG]) for i in body["images"]] == [
        (fed.bed.cloud(n).image_id, n) for n in ("cloud-1", "cloud-2", "cloud-3")
    ]


async def test_fan_out_reports_partial_failures(make_federation: FederationFactory) -> None:
    fed = await make_federation(shared_identity=True, identity_strategy="passthrough")
    scope = "{keystone: cloud-1; glance: cloud-2 & cloud-3}"
    token = await fed.token(scope)
    await fed.bed.set_faults("cloud-3", Faults(outage=True))
    status, body, headers = await _get(
        fed, "/image/v2/images", **{"X-Auth-Token": token, "X-Scope": scope}
    )
    assert status == 200 and len(body["images"]) == 1
    assert "cloud-3" in headers[PARTIAL_FAILURE]


async def test_failover_skips_a_cloud_in_outage(make_federation: FederationFactory) -> None:
    fed = await make_federation(shared_identity=True, identity_strategy="passthrough")
    scope = "{keystone: cloud-1; glance: cloud-2 | cloud-3}"
    token = await fed.token(scope)
    await fed.bed.set_faults("cloud-2", Faults(outage=True))
    status, body, _ = await _get(
        fed, "/image/v2/images", **{"X-Auth-Token": token, "X-Scope": scope}
    )
    assert status == 200
    assert body["images"][0]["id"] == fed.bed.cloud("cloud-3").image_id


async def test_write_with_fan_out_is_rejected(federation: Federation) -> None:
    async with federation.session.post(
        f"{federation.url}/image/v2/images",
        json={"name": "x"},
        headers={"X-Scope": "{glance: cloud-1 & cloud-2}"},
    ) as resp:
        assert resp.status == 400
        assert "not supported" in (await resp.json())["error"]["message"]


async def test_bad_scope_gets_the_caret_message(federation: Federation) -> None:
    status, body, headers = await _get(federation, "/image/v2/images", **{"X-Scope": "{glance: }"})
    assert status == 400
    assert "column" in body["error"]["message"] and "^" in body["error"]["message"]
    assert headers["X-Openstack-Request-Id"].startswith("req-")


async def test_unknown_cloud_names_the_closest(federation: Federation) -> None:
    status, body, _ = await _get(federation, "/image/v2/images", **{"X-Scope": "{glance: cloud-4}"})
    assert status == 400 and "cloud-4" in body["error"]["message"]


async def test_missing_scope_is_explained(federation: Federation) -> None:
    status, body, _ = await _get(federation, "/image/v2/images")
    assert status == 400 and "X-Scope" in body["error"]["message"]


async def test_outage_of_a_single_cloud_is_a_502(federation: Federation) -> None:
    await federation.bed.set_faults("cloud-2", Faults(outage=True))
    # Not a discovery path: those get a healthy cloud's version document (test_discovery_errors)
    status, body, _ = await _get(
        federation, "/identity/v3/projects", **{"X-Scope": "{keystone: cloud-2}"}
    )
    assert status == 502 and "cloud-2" in body["error"]["message"]


async def test_circuit_opens_after_repeated_failures(make_federation: FederationFactory) -> None:
    fed = await make_federation(circuit_failures=2, circuit_cooldown=60)
    await fed.bed.set_faults("cloud-2", Faults(outage=True))
    for _ in range(2):
        status, _, _ = await _get(fed, "/identity/v3/users", **{"X-Scope": "{keystone: cloud-2}"})
        assert status == 502
    status, body, _ = await _get(fed, "/identity/v3/users", **{"X-Scope": "{keystone: cloud-2}"})
    assert status == 503 and "circuit" in body["error"]["message"]
    status, health, _ = await _get(fed, "/healthz")
    assert health["open_circuits"] == ["cloud-2"]


async def test_metrics_and_health(federation: Federation) -> None:
    await _get(federation, "/identity/v3", **{"X-Scope": "{keystone: cloud-1}"})
    async with federation.session.get(f"{federation.url}/metrics") as resp:
        text = await resp.text()
    assert (
        'openstackoid_upstream_requests_total{cloud="cloud-1",service="identity",status_class="2xx"}'
        in text
    )
    status, health, _ = await _get(federation, "/_openstackoid/healthz")
    assert status == 200 and health["clouds"] == 3


async def test_other_clouds_keep_serving_during_a_slow_one(
    make_federation: FederationFactory,
) -> None:
    fed = await make_federation()
    fed.bed.hold("cloud-2")  # cloud-2 answers nothing until released
    slow = asyncio.ensure_future(_get(fed, "/identity/v3", **{"X-Scope": "{keystone: cloud-2}"}))
    async with asyncio.timeout(10):
        while fed.bed.held("cloud-2") == 0:  # the slow request reached cloud-2
            await asyncio.sleep(0.01)
        status, _, _ = await _get(fed, "/identity/v3", **{"X-Scope": "{keystone: cloud-1}"})
    assert status == 200 and not slow.done()  # answered while cloud-2 still holds
    fed.bed.release("cloud-2")
    assert (await asyncio.wait_for(slow, 10))[0] == 200


async def test_clouds_without_declared_endpoints_are_discovered(
    make_federation: FederationFactory,
) -> None:
    fed = await make_federation()
    for cloud in list(fed.registry):
        fed.registry.upsert(dataclasses.replace(cloud, endpoints={}))
    token = await fed.token(SEED)
    status, body, _ = await _get(
        fed, "/image/v2/images", **{"X-Auth-Token": token, "X-Scope": SEED}
    )
    assert status == 200
    assert body["images"][0]["id"] == fed.bed.cloud("cloud-3").image_id


async def test_paging_across_clouds_loses_and_repeats_nothing(
    make_federation: FederationFactory,
) -> None:
    fed = await make_federation(shared_identity=True, identity_strategy="passthrough")
    scope = "{keystone: cloud-1; glance: cloud-1 & cloud-2 & cloud-3}"
    token = await fed.token(scope)
    headers = {"X-Auth-Token": token, "X-Scope": scope}
    expected = await _images_per_cloud(fed, headers, 3)
    seen = await _page_through(fed, headers, 4)
    assert sorted(seen) == sorted(expected) and len(seen) == 9
    status, body, _ = await _get(fed, "/image/v2/images?limit=2&marker=bogus", **headers)
    assert status == 400 and "marker" in body["error"]["message"]


async def _images_per_cloud(fed: Federation, headers: dict[str, str], clouds: int) -> set[str]:
    """Each cloud: its cirros plus two more images. Returns every image id."""
    return set().union(*(await fed.add_images(headers, clouds)).values())


async def _page_through(fed: Federation, headers: dict[str, str], limit: int) -> list[str]:
    seen: list[str] = []
    path = f"/image/v2/images?limit={limit}"
    for _ in range(9):
        status, body, _ = await _get(fed, path, **headers)
        assert status == 200 and len(body["images"]) <= limit, body
        seen += [i["id"] for i in body["images"]]
        if "next" not in body:
            return seen
        path = f"/image{body['next']}"
    raise AssertionError("more than 9 pages")


async def test_paging_a_failover_group_beside_a_cloud(
    make_federation: FederationFactory,
) -> None:
    """`(cloud-1 | cloud-2) & cloud-3`: the group pages on the member that answered first
    (cloud-2 while cloud-1 is down), nothing lost or repeated, cloud-1's images never mixed in."""
    fed = await make_federation(shared_identity=True, identity_strategy="passthrough")
    scope = "{keystone: cloud-3; glance: (cloud-1 | cloud-2) & cloud-3}"
    token = await fed.token(scope)
    headers = {"X-Auth-Token": token, "X-Scope": scope}
    ids = await fed.add_images(headers, 3)
    seen = await _page_through(fed, headers, 2)
    assert len(seen) == 6  # the group on its first member, beside cloud-3
    assert set(seen) == ids["cloud-1"] | ids["cloud-3"]
    await fed.bed.set_faults("cloud-1", Faults(outage=True))
    seen = await _page_through(fed, headers, 2)
    assert len(seen) == 6  # the group paged on cloud-2 throughout, cloud-3 beside it
    assert set(seen) == ids["cloud-2"] | ids["cloud-3"]


async def test_a_group_member_lost_mid_listing_is_reported_then_resumed(
    make_federation: FederationFactory,
) -> None:
    """The member serving a group's pages goes down: the page says so and keeps the group's
    position; once it is back the listing resumes there, nothing lost or repeated."""
    fed = await make_federation(
        shared_identity=True, identity_strategy="passthrough", circuit_failures=1000
    )
    scope = "{keystone: cloud-3; glance: (cloud-1 | cloud-2) & cloud-3}"
    token = await fed.token(scope)
    headers = {"X-Auth-Token": token, "X-Scope": scope}
    await _images_per_cloud(fed, headers, 3)
    status, body, _ = await _get(fed, "/image/v2/images?limit=2", **headers)
    assert status == 200
    seen = [i["id"] for i in body["images"]]
    await fed.bed.set_faults("cloud-1", Faults(outage=True))
    status, body, answer_headers = await _get(fed, f"/image{body['next']}", **headers)
    assert status == 200 and "cloud-1" in answer_headers[PARTIAL_FAILURE]
    assert {i[CLOUD_TAG] for i in body["images"]} <= {"cloud-3"}
    seen += [i["id"] for i in body["images"]]
    await fed.bed.set_faults("cloud-1", Faults())
    path = f"/image{body['next']}"
    for _ in range(10):
        status, body, _ = await _get(fed, path, **headers)
        seen += [i["id"] for i in body["images"]]
        if "next" not in body:
            break
        path = f"/image{body['next']}"
    assert len(seen) == 6 and len(set(seen)) == 6
