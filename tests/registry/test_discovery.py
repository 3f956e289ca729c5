"""Endpoints discovered from a real (simulated) Keystone catalog, cached, served stale."""

import asyncio
import dataclasses

import aiohttp
import pytest

from registry import Cloud, Credentials
from registry.discovery import DiscoveryError, EndpointCatalog
from testbed import Faults, Testbed


def _bare(bed: Testbed, name: str) -> Cloud:
    info = bed.cloud(name)
    return Cloud(
        name,
        info.auth_url,
        region_name="RegionOne",
        credentials=Credentials(username="admin", password="secret", project_name="admin"),
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
        await asyncio.sleep(0.3)
        await testbed.set_faults("cloud-2", Faults(outage=True))
        assert await catalog.endpoints(session, cloud) == found  # stale, cloud down


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
