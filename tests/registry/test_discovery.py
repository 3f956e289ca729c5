"""Endpoints discovered from a real (simulated) Keystone catalog, cached, served stale."""

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from openstackoid.registry import Cloud, Credentials
from openstackoid.registry.discovery import DiscoveryError, EndpointCatalog
from openstackoid.testbed import Faults, Testbed


def _bare(bed: Testbed, name: str) -> Cloud:
    info = bed.cloud(name)
    return Cloud(
        name,
        info.auth_url,
        region_name="RegionOne",
        credentials=Credentials(info.username, info.password, info.project_name),
    )


async def test_discovers_caches_and_serves_stale(testbed: Testbed) -> None:
    catalog = EndpointCatalog(ttl=0.2)
    cloud = _bare(testbed, "cloud-2")
    async with aiohttp.ClientSession() as session:
        found = await catalog.endpoints(session, cloud)
        assert found == testbed.cloud("cloud-2").endpoints
        asked = len(testbed.requests("cloud-2"))
        assert await catalog.endpoints(session, cloud) == found
        assert len(testbed.requests("cloud-2")) == asked  # cached

        async def asked_again() -> bool:
            assert await catalog.endpoints(session, cloud) == found
            return len(testbed.requests("cloud-2")) > asked

        # The TTL ends: the catalog asks the cloud again (bounded wait, no fixed sleep).
        assert await _within(5.0, asked_again), "the catalog never expired"
        await testbed.set_faults("cloud-2", Faults(outage=True))
        asked = len(testbed.requests("cloud-2"))
        # Down for five TTLs: every answer is the last known one, the cloud is never reached.
        assert await _within(1.0, asked_again) is False


async def _within(seconds: float, event: Callable[[], Awaitable[bool]]) -> bool:
    """True as soon as `event()` is, False if it never is within `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await event():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_unknown_cloud_without_history_fails_clearly(testbed: Testbed) -> None:
    await testbed.set_faults("cloud-3", Faults(outage=True))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(DiscoveryError, match="cloud-3"):
            await EndpointCatalog().endpoints(session, _bare(testbed, "cloud-3"))
        no_creds = dataclasses.replace(_bare(testbed, "cloud-1"), credentials=None)
        with pytest.raises(DiscoveryError, match="no credentials"):
            await EndpointCatalog().endpoints(session, no_creds)


async def test_declared_endpoints_need_no_discovery(testbed: Testbed) -> None:
    cloud = dataclasses.replace(_bare(testbed, "cloud-1"), endpoints={"image": "http://x"})
    async with aiohttp.ClientSession() as session:
        assert await EndpointCatalog().endpoints(session, cloud) == {"image": "http://x"}
    assert not testbed.requests("cloud-1")
