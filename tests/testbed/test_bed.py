"""Identity isolation, Nova's image check and fault injection, over real HTTP."""

import time
from typing import Any

import aiohttp
import pytest

from openstackoid.testbed import Caller, Faults, SimCloudInfo, Testbed, admin_auth_body
from openstackoid.testbed.model import stable_id
from openstackoid.testbed.pytest_plugin import TestbedFactory


async def _token(session: aiohttp.ClientSession, cloud: SimCloudInfo) -> str:
    body = admin_auth_body(cloud)
    async with session.post(f"{cloud.auth_url}/auth/tokens", json=body) as resp:
        assert resp.status == 201
        return resp.headers["X-Subject-Token"]


async def test_tokens_are_honoured_only_by_their_issuer(testbed: Testbed) -> None:
    one, two = testbed.cloud("cloud-1"), testbed.cloud("cloud-2")
    async with aiohttp.ClientSession() as session:
        token = await _token(session, one)
        headers = {"X-Auth-Token": token}
        async with session.get(f"{one.endpoints['image']}/v2/images", headers=headers) as resp:
            assert resp.status == 200
        async with session.get(f"{two.endpoints['image']}/v2/images", headers=headers) as resp:
            assert resp.status == 401
            body = await resp.json()
            assert body["error"]["code"] == 401
            assert resp.headers["x-openstack-request-id"].startswith("req-")


async def test_shared_identity_accepts_every_token(make_testbed: TestbedFactory) -> None:
    bed = await make_testbed(clouds=2, shared_identity=True)
    async with aiohttp.ClientSession() as session:
        token = await _token(session, bed.cloud("cloud-1"))
        url = f"{bed.cloud('cloud-2').endpoints['image']}/v2/images"
        async with session.get(url, headers={"X-Auth-Token": token}) as resp:
            assert resp.status == 200


async def _create_server(
    session: aiohttp.ClientSession,
    bed: Testbed,
    token: str,
    image_id: str,
    networks: Any = "auto",
    **headers: str,
) -> tuple[int, Any]:
    body = {"server": {"name": "vm", "imageRef": image_id, "flavorRef": "2", "networks": networks}}
    url = f"{bed.cloud('cloud-1').endpoints['compute']}/servers"
    async with session.post(url, json=body, headers={"X-Auth-Token": token, **headers}) as resp:
        return resp.status, await resp.json()


NOVA_TO_SERVICES = {
    "host",
    "x-auth-token",
    "x-service-token",
    "x-openstack-request-id",
    "user-agent",
    "accept",
    "accept-encoding",
}
"""Every header nova-api's calls to Glance and Neutron carry: nothing else."""


async def test_nova_asks_glance_as_nova_does(make_testbed: TestbedFactory) -> None:
    bed = await make_testbed(clouds=2, shared_identity=True)
    bed.image_service_url = bed.cloud("cloud-2").endpoints["image"]
    request_id = "req-0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"
    async with aiohttp.ClientSession() as session:
        token = await _token(session, bed.cloud("cloud-1"))
        status, body = await _create_server(
            session,
            bed,
            token,
            bed.cloud("cloud-2").image_id,
            **{"X-Scope": "{image: cloud-2}", "X-Openstack-Request-Id": request_id, "X-Foo": "1"},
        )
        assert status == 202, body
        status, body = await _create_server(session, bed, token, bed.cloud("cloud-1").image_id)
        assert status == 400
        assert "could not be found" in body["badRequest"]["message"]
    asked = [r for r in bed.requests("cloud-2") if r.path.startswith("/image/v2/")]
    assert [r.path for r in asked[:2]] == [
        f"/image/v2/images/{bed.cloud('cloud-2').image_id}",
        "/image/v2/schemas/image",
    ]
    first = asked[0]
    # The client's own headers (X-Scope, X-Foo) stay with Nova; the global request id travels.
    assert first.header_names == NOVA_TO_SERVICES
    assert first.request_id == request_id
    admin = Caller("cloud-1", "admin", "admin")
    assert first.caller == admin
    # Nova's own service user, from cloud-1's own Keystone, asked over HTTP once and reused.
    assert first.service_caller == Caller("cloud-1", "nova", "service")
    assert asked[-1].service_caller == first.service_caller
    nova_logins = [
        r
        for r in bed.requests("cloud-1")
        if r.path == "/identity/v3/auth/tokens" and r.method == "POST"
    ]
    assert len(nova_logins) == 2  # the test's admin, then nova's service user once
    # Without the client's request id, Glance sees Nova's own, the one Nova answered with.
    assert asked[-2].request_id is not None and asked[-2].request_id.startswith("req-")


async def test_nova_reports_a_token_the_image_cloud_rejects(testbed: Testbed) -> None:
    testbed.image_service_url = testbed.cloud("cloud-2").endpoints["image"]
    async with aiohttp.ClientSession() as session:
        token = await _token(session, testbed.cloud("cloud-1"))
        status, body = await _create_server(
            session, testbed, token, testbed.cloud("cloud-2").image_id
        )
    assert status == 400 and "answered 401" in body["badRequest"]["message"]


async def test_outage_refuses_connections_and_recovers(testbed: Testbed) -> None:
    url = testbed.cloud("cloud-3").endpoints["identity"]
    async with aiohttp.ClientSession() as session:
        await testbed.set_faults("cloud-3", Faults(outage=True))
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(url) as resp:
                await resp.read()
        await testbed.set_faults("cloud-3", Faults())
        async with session.get(url) as resp:
            assert resp.status == 200


async def test_latency_error_rate_and_slow_body(testbed: Testbed) -> None:
    url = testbed.cloud("cloud-1").endpoints["identity"]
    async with aiohttp.ClientSession() as session:
        await testbed.set_faults("cloud-1", Faults(latency=0.3))
        started = time.monotonic()
        async with session.get(url) as resp:
            assert resp.status == 200
        assert time.monotonic() - started >= 0.3
        await testbed.set_faults("cloud-1", Faults(error_rate=1.0))
        async with session.get(url) as resp:
            assert resp.status == 503
            assert (await resp.json())["error"]["code"] == 503
        await testbed.set_faults("cloud-1", Faults(slow_body=0.3))
        started = time.monotonic()
        async with session.get(url) as resp:
            body = await resp.json()
        assert body["version"]["id"] == "v3.14" and time.monotonic() - started >= 0.3


async def test_reset_mid_body_truncates_the_response(testbed: Testbed) -> None:
    url = testbed.cloud("cloud-2").endpoints["identity"]
    await testbed.set_faults("cloud-2", Faults(reset_mid_body=True))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientPayloadError):
            async with session.get(url) as resp:
                await resp.read()


async def test_a_thousand_clouds_start(make_testbed: TestbedFactory) -> None:
    started = time.monotonic()
    bed = await make_testbed(clouds=1000)
    elapsed = time.monotonic() - started
    assert len(bed.clouds) == 1000 and len({c.port for c in bed.clouds}) == 1000
    print(f"1000 clouds started in {elapsed:.2f} s")
    async with aiohttp.ClientSession() as session:
        for name in ("cloud-1", "cloud-500", "cloud-1000"):
            async with session.get(bed.cloud(name).endpoints["identity"]) as resp:
                assert resp.status == 200


async def test_nova_asks_neutron_for_the_networks_as_nova_does(testbed: Testbed) -> None:
    one = testbed.cloud("cloud-1")
    private = stable_id("cloud-1", "network/private")
    async with aiohttp.ClientSession() as session:
        token = await _token(session, one)
        testbed.clear_requests()
        status, body = await _create_server(
            session, testbed, token, one.image_id, [{"uuid": private}], **{"X-Scope": "x"}
        )
        assert status == 202, body
        asked = [r for r in testbed.requests("cloud-1") if r.path == "/network/v2.0/networks"]
        assert [r.query for r in asked] == [f"id={private}"]
        assert asked[0].header_names == NOVA_TO_SERVICES
        assert asked[0].service_caller == Caller("cloud-1", "nova", "service")
        status, body = await _create_server(session, testbed, token, one.image_id, "auto")
        assert status == 202, body
        missing = "0b0e6cd2-0000-4000-8000-000000000000"
        status, body = await _create_server(
            session, testbed, token, one.image_id, [{"uuid": missing}]
        )
        assert status == 400
        assert body["badRequest"]["message"] == f"Network {missing} could not be found."
