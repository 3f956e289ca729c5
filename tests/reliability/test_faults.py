"""Clouds misbehaving the way edge sites do: every request still gets an answer, in
OpenStack's error shape when it cannot succeed, and the other clouds' requests are unaffected."""

from __future__ import annotations

import asyncio
import os

import aiohttp
import pytest

from openstackoid.testbed import Faults
from tests.federation import Federation, FederationFactory

SCOPE = "{keystone: cloud-1; glance: cloud-2}"


async def _upload(federation: Federation, headers: dict[str, str], data: bytes) -> str:
    images = f"{federation.url}/image/v2/images"
    create = {"name": "blob", "disk_format": "raw", "container_format": "bare"}
    async with federation.session.post(images, json=create, headers=headers) as resp:
        assert resp.status == 201, await resp.text()
        image_id = str((await resp.json())["id"])
    upload = {**headers, "Content-Type": "application/octet-stream"}
    async with federation.session.put(f"{images}/{image_id}/file", data=data, headers=upload) as r:
        assert r.status == 204, await r.text()
    return image_id


async def test_reset_mid_download_is_a_broken_transfer_not_a_short_200(
    make_federation: FederationFactory,
) -> None:
    federation = await make_federation()
    token = await federation.token(SCOPE)
    headers = {"X-Auth-Token": token, "X-Scope": SCOPE}
    data = os.urandom(3 * 1024 * 1024)
    image_id = await _upload(federation, headers, data)
    await federation.bed.set_faults("cloud-2", Faults(reset_mid_body=True))
    received = bytearray()
    url = f"{federation.url}/image/v2/images/{image_id}/file"
    patience = aiohttp.ClientTimeout(sock_read=10)  # a hung transfer fails, not waits
    with pytest.raises(aiohttp.ClientPayloadError):
        async with federation.session.get(url, headers=headers, timeout=patience) as resp:
            assert resp.status == 200  # the head was relayed before the cloud broke off
            async for chunk in resp.content.iter_chunked(65536):
                received += chunk
    assert 0 < len(received) < len(data)
    # The proxy goes on serving: the same download works once the cloud is healthy.
    await federation.bed.set_faults("cloud-2", Faults())
    async with federation.session.get(url, headers=headers) as resp:
        assert resp.status == 200
        assert await resp.read() == data


@pytest.mark.parametrize("fault", [Faults(garbage=True), Faults(reset_mid_body=True)])
async def test_a_cloud_answering_garbage_or_cut_json_is_a_502_in_openstack_shape(
    make_federation: FederationFactory, fault: Faults
) -> None:
    federation = await make_federation()
    token = await federation.token(SCOPE)
    headers = {"X-Auth-Token": token, "X-Scope": SCOPE}
    await federation.bed.set_faults("cloud-2", fault)
    async with federation.session.get(f"{federation.url}/image/v2/images", headers=headers) as resp:
        body = await resp.json()
    assert resp.status == 502
    assert body["error"]["code"] == 502
    assert "cloud-2" in body["error"]["message"]
    assert resp.headers["X-Openstack-Request-Id"].startswith("req-")
    # `|` fails over to a healthy cloud past the broken one.
    failover = "{keystone: cloud-1; glance: cloud-2 | cloud-3}"
    async with federation.session.get(
        f"{federation.url}/image/v2/images", headers={**headers, "X-Scope": failover}
    ) as resp:
        assert resp.status == 200, await resp.text()


async def test_flapping_cloud_never_costs_an_answer_and_spares_the_others(
    make_federation: FederationFactory,
) -> None:
    """cloud-2 goes down and up again and again while 300 requests flow: each request to it
    is either a success or a 502/503 in OpenStack's shape; every request to cloud-3 succeeds.

    The flapping follows the answers, not a clock: a phase ends once an answer of that phase
    came back (down: a refusal, up: a success). With a 20 ms timer, whether any request met
    an outage depended on the machine's load: a loop slowed by other work could let every
    request through within one up phase."""
    federation = await make_federation(circuit_failures=1000)
    token = await federation.token(SCOPE)
    flapping = "{keystone: cloud-1; glance: cloud-2}"
    healthy = "{keystone: cloud-1; glance: cloud-3}"
    answered = {True: asyncio.Event(), False: asyncio.Event()}  # to cloud-2: succeeded?
    stop = asyncio.Event()
    await federation.bed.set_faults("cloud-2", Faults(outage=True))  # down before any request

    async def next_answer(succeeded: bool) -> None:
        """Until cloud-2's next answer of this kind, or every request answered."""
        waits = [
            asyncio.ensure_future(answered[succeeded].wait()),
            asyncio.ensure_future(stop.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def flap() -> None:
        down = True
        while not stop.is_set():
            answered[not down].clear()
            await next_answer(succeeded=not down)
            down = not down
            await federation.bed.set_faults("cloud-2", Faults(outage=down))
        await federation.bed.set_faults("cloud-2", Faults())

    async def ask(scope: str) -> tuple[str, int, str | None]:
        headers = {"X-Auth-Token": token, "X-Scope": scope}
        async with federation.session.get(
            f"{federation.url}/image/v2/images", headers=headers
        ) as resp:
            body = await resp.json()
            message = body.get("error", {}).get("message") if resp.status >= 400 else None
        if scope == flapping:
            answered[resp.status == 200].set()
        return scope, resp.status, message

    flapper = asyncio.ensure_future(flap())
    try:
        async with asyncio.timeout(120):  # a bound for a hang, not a measure
            answers = await asyncio.gather(*(ask(s) for s in [flapping, healthy] * 150))
    finally:
        stop.set()
        await flapper
    to_flapping = [a for a in answers if a[0] == flapping]
    to_healthy = [a for a in answers if a[0] == healthy]
    assert len(to_flapping) == len(to_healthy) == 150
    assert all(status == 200 for _, status, _ in to_healthy), to_healthy
    for _, status, message in to_flapping:
        assert status == 200 or (status in (502, 503) and message and "cloud-2" in message)
    assert {status for _, status, _ in to_flapping} & {502, 503}, "the outage was never seen"


async def test_malformed_and_huge_bodies_get_clear_4xx_and_the_proxy_keeps_serving(
    federation: Federation,
) -> None:
    token = await federation.token(SCOPE)
    headers = {"X-Auth-Token": token, "X-Scope": "{*: cloud-1}"}
    servers = f"{federation.url}/compute/v2.1/servers"
    for body in (b"{not json", b"[]", b'{"server": 42}', b"\xff\xfe\x00"):
        async with federation.session.post(
            servers, data=body, headers={**headers, "Content-Type": "application/json"}
        ) as resp:
            assert resp.status == 400, (body, resp.status)
            answer = await resp.json(content_type=None)
            assert answer["badRequest"]["message"], answer
    # A huge JSON body is relayed as a stream, not held; Nova's body-size refusal comes back.
    huge = b'{"server": {"name": "' + b"x" * (32 * 1024 * 1024) + b'"}}'
    async with federation.session.post(
        servers, data=huge, headers={**headers, "Content-Type": "application/json"}
    ) as resp:
        assert resp.status == 413, await resp.text()
        assert (await resp.json())["overLimit"]["message"] == "Request is too large."
    # A name longer than Nova's 255 characters, in a body under the limit: Nova's own 400.
    long_name = {"server": {"name": "x" * 256, "imageRef": "i", "flavorRef": "1"}}
    async with federation.session.post(servers, json=long_name, headers=headers) as resp:
        assert resp.status == 400
        assert "name" in (await resp.json())["badRequest"]["message"]
    async with federation.session.get(f"{federation.url}/healthz") as resp:
        assert resp.status == 200
    async with federation.session.get(
        f"{federation.url}/compute/v2.1/flavors", headers=headers
    ) as resp:
        assert resp.status == 200
